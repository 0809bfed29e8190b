"""Calibration of out-of-fold class probabilities and the binary decision threshold (docs/engine.md,
"Calibration and threshold").

Both are chosen on a candidate's (or the ensemble's) OOF predictions by cross-fitting on the search's folds:
fold k's OOF rows are calibrated (thresholded) by what was fitted on the OOF rows of the other folds, and the
result is adopted only when that cross-fitted figure beats the untouched one by MARGIN. The adopted calibrator
and threshold are then fitted on every OOF row; the cross-fitted predictions are the honest ones to report.
- calibration, for classifiers: temperature scaling, softmax(log p / T) (for binary the same as sigmoid(logit / T)),
  and for binary with ISOTONIC_MIN_ROWS rows isotonic regression on P(positive); kept on the log loss.
- threshold, for binary under a label metric: P(positive) >= t over GRID, kept on the experiment's metric.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.isotonic import IsotonicRegression

from automl.engine.task import METRICS, Metric
from automl.engine.validation import Fold

MARGIN = 0.002  # relative: a cross-fitted gain smaller than this is noise, not adopted
ISOTONIC_MIN_ROWS = 1000
FIT_ROWS = 20_000  # a temperature is one number: this many OOF rows fit it as well as all of them
EPS = 1e-15  # the log-loss metric's clip
ISOTONIC_EPS = 1e-3  # an isotonic step of 0 or 1 would cost ~35 nats on the next row that disagrees
LABEL_METRICS = frozenset({"accuracy", "balanced_accuracy", "f1_macro", "mcc", "precision_macro", "recall_macro"})
GRID = np.round(np.arange(0.01, 1.0, 0.01), 2)
_LOG_LOSS = METRICS["log_loss"]


@dataclass(frozen=True)
class Calibration:
    """A fitted map from a model's class probabilities (n, K) to calibrated ones."""

    method: str  # "temperature" | "isotonic"
    temperature: float = 1.0
    isotonic: IsotonicRegression | None = None

    def apply(self, raw: np.ndarray) -> np.ndarray:
        if self.isotonic is None:
            return softmax(np.log(np.clip(raw, EPS, 1.0)) / self.temperature, axis=1)
        p1 = self._positive(raw[:, 1])
        return np.column_stack([1.0 - p1, p1])

    def _positive(self, p1: np.ndarray) -> np.ndarray:
        assert self.isotonic is not None
        return np.clip(self.isotonic.predict(p1), ISOTONIC_EPS, 1.0 - ISOTONIC_EPS)

    def explained(self, raw: np.ndarray, c: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Row i's calibrated probability of class c[i] were its raw probability t[i], the other classes
        keeping their shares of the rest: a per-row map of one probability whose value at t = raw[i, c[i]] is
        the calibrated probability itself (what explanations rescale by, engine/shapley.py)."""
        t = np.clip(t, EPS, 1.0 - EPS)
        if self.isotonic is not None:
            return np.where(c == 1, self._positive(t), 1.0 - self._positive(1.0 - t))
        rows, a = np.arange(len(raw)), 1.0 / self.temperature
        p = np.clip(raw, EPS, 1.0)
        rest = p.sum(axis=1) - p[rows, c]
        share = np.where(np.arange(raw.shape[1])[None, :] == c[:, None], 0.0, p) / rest[:, None]
        spread = (share ** a).sum(axis=1)  # 1 for binary: the plain sigmoid(logit / T)
        return 1.0 / (1.0 + spread * np.exp(a * (np.log1p(-t) - np.log(t))))

    def card(self) -> dict[str, Any]:
        if self.isotonic is None:
            return {"method": "temperature", "temperature": round(self.temperature, 4)}
        return {"method": "isotonic", "steps": int(len(self.isotonic.X_thresholds_))}


def labels(proba: np.ndarray, threshold: float | None) -> np.ndarray:
    """One-hot rows of the label served (P(positive) >= threshold), in the internal form the label metrics
    score by argmax; `proba` itself without a threshold."""
    if threshold is None:
        return proba
    positive = proba[:, 1] >= threshold
    return np.column_stack([~positive, positive]).astype(float)


def fit(method: str, raw: np.ndarray, y: np.ndarray, *, seed: int = 0) -> Calibration:
    if method == "isotonic":
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw[:, 1], y == 1)
        return Calibration("isotonic", isotonic=iso)
    if len(y) > FIT_ROWS:
        take = np.random.default_rng(seed).choice(len(y), FIT_ROWS, replace=False)
        raw, y = raw[take], y[take]
    logp = np.log(np.clip(raw, EPS, 1.0))
    rows = np.arange(len(y))

    def loss(log_t: float) -> float:
        return float(-log_softmax(logp / np.exp(log_t), axis=1)[rows, y].mean())

    best = minimize_scalar(loss, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return Calibration("temperature", temperature=float(np.exp(best.x)))


def _cross_fitted(method: str, raw: np.ndarray, y: np.ndarray, folds: list[Fold]) -> np.ndarray:
    out = np.empty_like(raw)
    for train, val in folds:
        out[val] = fit(method, raw[train], y[train]).apply(raw[val])
    return out


def _counts(p1: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """tp, fp, tn, fn of `p1 >= t` for each t in GRID."""
    pos, neg = np.sort(p1[y == 1]), np.sort(p1[y != 1])
    fn = np.searchsorted(pos, GRID, side="left").astype(float)
    tn = np.searchsorted(neg, GRID, side="left").astype(float)
    return len(pos) - fn, len(neg) - tn, tn, fn


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a), where=b > 0)  # zero_division=0, as the metrics


def grid_scores(name: str, p1: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The label metric `name` of `p1 >= t` for every t in GRID, from the confusion counts (the metric itself
    called 99 times per fold would cost seconds per candidate)."""
    tp, fp, tn, fn = _counts(p1, y)
    recall_pos, recall_neg = _ratio(tp, tp + fn), _ratio(tn, tn + fp)
    if name == "accuracy":
        return (tp + tn) / len(y)
    if name in ("balanced_accuracy", "recall_macro"):
        return (recall_pos + recall_neg) / 2
    if name == "precision_macro":
        return (_ratio(tp, tp + fp) + _ratio(tn, tn + fn)) / 2
    if name == "f1_macro":
        return (_ratio(2 * tp, 2 * tp + fp + fn) + _ratio(2 * tn, 2 * tn + fn + fp)) / 2
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return _ratio(tp * tn - fp * fn, denominator)  # mcc


def best_threshold(name: str, p1: np.ndarray, y: np.ndarray) -> float:
    """The GRID threshold with the best metric; of equal ones, the nearest 0.5."""
    scores = grid_scores(name, p1, y)
    tied = np.flatnonzero(scores >= scores.max() - 1e-12)
    return float(GRID[tied[np.argmin(np.abs(GRID[tied] - 0.5))]])


def _gain(metric: Metric, before: float, after: float) -> bool:
    return metric.loss(after) < metric.loss(before) - MARGIN * abs(before)


@dataclass(frozen=True)
class Choice:
    """What was adopted for one model, and the cross-fitted OOF figures it is honestly scored on."""

    calibration: Calibration | None
    threshold: float | None
    oof: np.ndarray  # cross-fitted calibrated probabilities (the raw OOF where no calibration was adopted)
    oof_labels: np.ndarray  # what the label metrics score: `oof`, or one-hot cross-fitted thresholded labels
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def none(cls, oof: np.ndarray) -> Choice:
        """Nothing adopted: the model serves its members' probabilities and argmax."""
        return cls(None, None, oof, oof)

    @property
    def adopted(self) -> bool:
        return self.calibration is not None or self.threshold is not None

    def scored(self, metric: Metric) -> np.ndarray:
        """The OOF predictions `metric` scores the model on."""
        return self.oof_labels if metric.name in LABEL_METRICS else self.oof

    def proba(self, raw: np.ndarray) -> np.ndarray:
        return raw if self.calibration is None else self.calibration.apply(raw)


def choose(oof: np.ndarray, y: np.ndarray, folds: list[Fold], metric: Metric, problem_type: str) -> Choice:
    """Calibration (classifiers) and threshold (binary, label metrics) for a model with these OOF predictions."""
    if problem_type == "regression":
        return Choice.none(oof)
    methods = ["temperature"] + (["isotonic"] if problem_type == "binary" and len(y) >= ISOTONIC_MIN_ROWS else [])
    before = _LOG_LOSS(y, oof)
    best: tuple[float, str, np.ndarray] | None = None
    for method in methods:
        crossed = _cross_fitted(method, oof, y, folds)
        after = _LOG_LOSS(y, crossed)
        if after < before * (1 - MARGIN) and (best is None or after < best[0]):
            best = (after, method, crossed)
    params: dict[str, Any] = {}
    calibration, proba = None, oof
    if best is not None:
        calibration, proba = fit(best[1], oof, y), best[2]
        params["calibration"] = {**calibration.card(), "cv_log_loss_before": round(before, 6),
                                 "cv_log_loss_after": round(best[0], 6)}
    threshold, oof_labels = None, proba
    if problem_type == "binary" and metric.name in LABEL_METRICS:
        crossed_labels = np.empty_like(proba)
        for train, val in folds:
            t = best_threshold(metric.name, proba[train, 1], y[train])
            crossed_labels[val] = labels(proba[val], t)
        at_half, after = metric(y, proba), metric(y, crossed_labels)
        if _gain(metric, at_half, after):
            served = proba if calibration is None else calibration.apply(oof)
            threshold, oof_labels = best_threshold(metric.name, served[:, 1], y), crossed_labels
            params["threshold"] = {"value": threshold, "cv_before": round(at_half, 6), "cv_after": round(after, 6)}
    return Choice(calibration, threshold, proba, oof_labels, params)
