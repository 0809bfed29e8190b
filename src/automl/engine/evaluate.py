"""Turn a finished candidate into a ModelResult: metrics on the evaluation rows, timing, plots, importance.

The evaluation rows are the held-out rows, or every row with out-of-fold predictions (`holdout="none"`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from automl.engine.calibrate import LABEL_METRICS, labels
from automl.engine.explain import permutation_importance, plot_data
from automl.engine.model import FittedModel
from automl.engine.results import ModelResult
from automl.engine.task import Metric, holdout_metrics
from automl.engine.validation import fold_std

TIMING_ROWS = 500
MIN_REQUIRED_ROWS = 50
IMPORTANCE_ROWS = 2000  # the most rows one permutation importance pass uses
IMPORTANCE_REPEATS = 3  # shuffles of each column, where the time allows
PROBE_ROWS = 64  # rows predicted to time the model before importance is sized


@dataclass(frozen=True)
class Holdout:
    """The rows the reported figures are computed on: held out, or (out of fold) every row."""

    X: pd.DataFrame  # coerced
    X_raw: pd.DataFrame  # as the user gave it, to time predict end to end
    y: np.ndarray
    metric: Metric
    problem_type: str
    classes: np.ndarray | None
    seed: int


def time_predict(model: FittedModel, holdout: Holdout) -> float:
    """End-to-end ms per row (coercion included) on a batch of TIMING_ROWS rows."""
    reps = -(-TIMING_ROWS // max(len(holdout.X_raw), 1))
    batch = pd.concat([holdout.X_raw] * reps, ignore_index=True).iloc[:TIMING_ROWS]
    start = time.perf_counter()
    model.predict(batch)
    return round((time.perf_counter() - start) * 1000 / max(len(batch), 1), 4)


def importance_seconds(ms_per_row: float, n_features: int, *, rows: int, n_repeats: int) -> float:
    """What permutation importance on `rows` rows costs: each row predicted once, and once per shuffle."""
    return rows * ms_per_row / 1000 * (1 + n_features * n_repeats)


def importance_rows(ms_per_row: float, n_features: int, *, seconds: float, n_repeats: int) -> int:
    """How many holdout rows permutation importance can use within `seconds`."""
    per_row = importance_seconds(max(ms_per_row, 1e-3), n_features, rows=1, n_repeats=n_repeats)
    return int(min(IMPORTANCE_ROWS, seconds / per_row))


def _repeats(seconds: float) -> int:
    return IMPORTANCE_REPEATS if seconds > 3 else (2 if seconds > 1 else 1)


def scorer(model: FittedModel) -> Callable[[pd.DataFrame], np.ndarray]:
    """What permutation importance scores: the served probabilities, as labels at the model's threshold."""
    threshold = model.threshold
    if threshold is None:
        return model.predict_raw
    return lambda X: labels(model.predict_raw(X), threshold)


def probe(predict: Callable[[pd.DataFrame], np.ndarray], X: pd.DataFrame, *, ms_per_row: float,
          seconds: float) -> tuple[float, float]:
    """The cost per row to plan with, and the seconds left after measuring it: `ms_per_row` as timed when the
    model was ranked, or more when a probe of PROBE_ROWS rows now says so (cores shared with fits still
    running, per-call overheads)."""
    start = time.perf_counter()
    predict(X.iloc[:PROBE_ROWS])
    took = time.perf_counter() - start
    return max(ms_per_row, took * 1000 / max(min(len(X), PROBE_ROWS), 1)), seconds - took


def importance(
    model: FittedModel, holdout: Holdout, *, seconds: float, ms_per_row: float, required: bool = False
) -> list[dict[str, Any]]:
    """Bounded by `seconds`; a `required` one (rank 1, ensemble) still runs on a small sample when short."""
    ms_per_row, seconds = probe(scorer(model), holdout.X, ms_per_row=ms_per_row, seconds=seconds)
    n_repeats = _repeats(seconds)
    rows = importance_rows(ms_per_row, holdout.X.shape[1], seconds=seconds, n_repeats=n_repeats)
    if required and rows < MIN_REQUIRED_ROWS:  # short of time: the fewest rows that say anything, once
        n_repeats, rows = 1, MIN_REQUIRED_ROWS
    if rows < MIN_REQUIRED_ROWS:
        return []
    return permutation_importance(
        scorer(model), holdout.X, holdout.y, holdout.metric, max_rows=rows, n_repeats=n_repeats, seed=holdout.seed
    )


def oof_importance(
    models: list[FittedModel], folds: list[tuple[np.ndarray, np.ndarray]], rows: Holdout, *, seconds: float,
    ms_per_row: float, required: bool = False,
) -> list[dict[str, Any]]:
    """Permutation importance with no holdout: fold i's model `models[i]` on fold i's validation rows of `rows`
    (never rows it trained on), the drops averaged over folds by rows used. `ms_per_row` is one fold model's
    cost; `seconds` bound all folds together."""
    ms_per_row, seconds = probe(scorer(models[0]), rows.X.iloc[folds[0][1]], ms_per_row=ms_per_row,
                                seconds=seconds)
    n_repeats = _repeats(seconds)
    per_fold = importance_rows(ms_per_row, rows.X.shape[1], seconds=seconds / len(folds), n_repeats=n_repeats)
    per_fold = max(per_fold, MIN_REQUIRED_ROWS) if required else per_fold
    if per_fold < MIN_REQUIRED_ROWS:
        return []
    totals: dict[str, float] = {}
    used, start = 0, time.monotonic()
    for model, (_, val) in zip(models, folds, strict=True):
        if used and time.monotonic() - start > seconds:  # the estimate leaves out the metric's own cost
            break
        X, y = rows.X.iloc[val], rows.y[val]
        try:
            drops = permutation_importance(scorer(model), X, y, rows.metric, max_rows=per_fold,
                                           n_repeats=n_repeats, seed=rows.seed)
        except ValueError:  # a sample this fold cannot be scored on (one class): the other folds speak
            continue
        n = min(len(val), per_fold)
        used += n
        for d in drops:
            totals[d["feature"]] = totals.get(d["feature"], 0.0) + n * d["importance"]
    out = [{"feature": f, "importance": round(v / used, 6)} for f, v in totals.items()] if used else []
    return sorted(out, key=lambda d: d["importance"], reverse=True)


def model_result(
    *, key: str, algorithm: str, params: dict[str, Any], cv_score: float, fit_seconds: float, model: FittedModel,
    holdout: Holdout, pred: np.ndarray, is_ensemble: bool, fold_scores: list[float],
    pred_labels: np.ndarray | None = None,
) -> ModelResult:
    """`pred` is the model's prediction of the evaluation rows in internal form (already computed by the
    caller: on held-out rows, or out of fold); `pred_labels`, where a decision threshold serves other labels than
    argmax(pred), their one-hot rows (calibrate.labels), which the label metrics and confusion matrix use;
    `fold_scores` the CV metric on each fold. Importance is the caller's (holdout.Split.importance): which rows
    are honest for it depends on the model."""
    ms = time_predict(model, holdout)
    metrics = holdout_metrics(holdout.problem_type, holdout.y, pred)
    plots = plot_data(holdout.problem_type, holdout.y, pred, holdout.classes)
    if pred_labels is not None:
        at_threshold = holdout_metrics(holdout.problem_type, holdout.y, pred_labels)
        metrics |= {k: v for k, v in at_threshold.items() if k in LABEL_METRICS}
        plots["confusion_matrix"] = plot_data(holdout.problem_type, holdout.y, pred_labels,
                                              holdout.classes)["confusion_matrix"]
    return ModelResult(
        key=key, algorithm=algorithm, params=dict(params), cv_score=round(float(cv_score), 6),
        metrics=metrics, fit_seconds=round(fit_seconds, 3), predict_ms_per_row=ms, feature_importance=[],
        plots=plots, is_ensemble=is_ensemble, model=model, cv_std=fold_std(fold_scores),
        cv_fold_scores=list(fold_scores),
    )
