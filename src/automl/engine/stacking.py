"""Stacking: a second layer that boosts from the ensemble's out-of-fold predictions, on the raw features.

The layer is LightGBM started from the ensemble's prediction as a fixed offset (`init_score`: its log-odds,
log-probabilities or values) and grown on the raw features, k-fold on the search's folds: fold j's booster
trains on the other folds' rows with their OOF offsets and predicts fold j from fold j's OOF offsets. Served,
the mean of the fold boosters' raw scores is added to the served ensemble's margin.

Why an offset rather than the predictions as features: a training row's OOF prediction comes from a fold model
that saw the validation fold, so a stacker that learns how far to trust the predictions learns it from better
predictions than it will ever be given (stacked overfitting, Tang et al. 2024, AutoGluon's dynamic stacking).
Here the trust is fixed at 1: the layer can only correct the ensemble where the raw features show it errs.

The check, on held-out folds: the layer is kept only when its OOF score beats the ensemble's by MARGIN and it is
better on all folds but at most one. Its early stopping uses an inner split of each fold's training rows,
never the fold it is scored on (that would pick each fold's luckiest round).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit, softmax
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from automl.engine.candidates import TaskContext
from automl.engine.candidates.lightgbm import deadline_callback, eval_kwargs, positional_names
from automl.engine.executor import Executor, LocalExecutor
from automl.engine.fastpath import FastModel, FastPredict, compile_verified
from automl.engine.kinds import coerce_frame
from automl.engine.preprocess import ColumnPlan, build_preprocessor
from automl.engine.task import Metric
from automl.engine.validation import Fold, fold_scores

PARAMS = {"learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 20, "colsample_bytree": 0.8,
          "subsample": 0.8, "subsample_freq": 1, "reg_lambda": 1.0, "n_estimators": 1000, "verbose": -1}
PATIENCE = 30  # rounds without gain on the inner split
STOP_SHARE = 0.15  # of each fold's training rows, for early stopping
MARGIN = 0.002  # relative: a smaller OOF gain than this is noise, not adopted
EPS = 1e-6  # probabilities are clipped to [EPS, 1 - EPS] before their log: a forest's 0 is not -inf


def to_margin(pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Log-odds of class 1 (binary), log-probabilities (multiclass) or the values themselves (regression)."""
    if n_classes == 0:
        return np.asarray(pred, dtype=float)
    if n_classes == 2:
        p1 = np.clip(pred[:, 1], EPS, 1.0 - EPS)
        return np.log(p1) - np.log1p(-p1)
    return np.log(np.clip(pred, EPS, 1.0))


def from_margin(margin: np.ndarray, n_classes: int) -> np.ndarray:
    if n_classes == 0:
        return margin
    if n_classes == 2:
        p1 = expit(margin)
        return np.column_stack([1.0 - p1, p1])
    return softmax(margin, axis=1)


@dataclass
class Stack:
    """The fold boosters (each with its own fitted preprocessor), applied on top of an ensemble's output."""

    pipelines: list[Pipeline]
    n_classes: int

    def margin(self, X: pd.DataFrame) -> np.ndarray:
        """The boosters' mean raw score on the coerced frame X: what is added to the ensemble's margin."""
        return np.asarray(sum(p[-1].predict(p[0].transform(X), raw_score=True) for p in self.pipelines)
                          ) / len(self.pipelines)

    def apply(self, raw: np.ndarray, X: pd.DataFrame) -> np.ndarray:
        return self.combine(raw, self.margin(X))

    def combine(self, raw: np.ndarray, margin: np.ndarray) -> np.ndarray:
        """The ensemble's output `raw` with the layer's `margin` added in the offset's space."""
        return from_margin(to_margin(raw, self.n_classes) + margin, self.n_classes)

    def compile(self, kinds: dict[str, str], sample: pd.DataFrame) -> FastModel | None:
        """The boosters' mean raw score on raw input rows through the fast path, verified against `margin`."""
        members = [(p, 1.0 / len(self.pipelines)) for p in self.pipelines]
        return compile_verified(kinds, members, 0, regular=lambda rows: self.margin(coerce_frame(rows, kinds)),
                                sample=sample, compile_model=_raw_score)


def _raw_score(est: Any) -> FastPredict:
    booster = est.booster_

    def predict(A: Any, threads: int) -> np.ndarray:
        return np.asarray(booster.predict(A, raw_score=True, num_threads=threads))

    return predict


@dataclass(frozen=True)
class StackFold:
    index: int
    pipeline: Pipeline
    val_pred: np.ndarray  # fold j's stacked prediction, internal form
    rounds: int


_pinned = False


def fit_stack_fold(
    ctx: TaskContext, plan: ColumnPlan, X: pd.DataFrame, y: np.ndarray, offset: np.ndarray, fold: Fold, *,
    index: int, deadline_at: float, pin_threads: bool = False,
) -> StackFold:
    """One fold's booster from the offsets; a thread here or a task on a Dask worker (as validation.fit_fold)."""
    global _pinned
    if pin_threads and not _pinned:
        threadpool_limits(limits=1)
        _pinned = True
    deadline = time.monotonic() + (deadline_at - time.time())
    train, val = fold
    order = np.random.default_rng(ctx.seed + index).permutation(train)
    n_stop = max(1, int(STOP_SHARE * len(train)))
    stop, fit = order[:n_stop], order[n_stop:]
    prep = build_preprocessor(plan, "lightgbm", target_type=ctx.target_type, n_rows=len(fit), seed=ctx.seed)
    Xf = prep.fit_transform(X.iloc[fit], y[fit])
    Xs, Xv = prep.transform(X.iloc[stop]), prep.transform(X.iloc[val])
    cls = lgb.LGBMClassifier if ctx.is_classification else lgb.LGBMRegressor
    est = cls(**PARAMS, n_jobs=1, random_state=ctx.seed)
    est.fit(Xf, y[fit], init_score=offset[fit], **eval_kwargs(Xs, y[stop]), eval_init_score=[offset[stop]],
            callbacks=[lgb.early_stopping(PATIENCE, verbose=False), deadline_callback(deadline)],
            **positional_names(Xf))
    pred = from_margin(offset[val] + est.predict(Xv, raw_score=True), ctx.n_classes)
    return StackFold(index, Pipeline([("prep", prep), ("model", est)]), pred, int(est.best_iteration_ or 0))


@dataclass(frozen=True)
class StackFit:
    stack: Stack
    oof: np.ndarray  # the stacked OOF predictions
    rounds: list[int]  # each fold booster's rounds


def fit_stack(
    executor: Executor, X: pd.DataFrame, y: np.ndarray, oof: np.ndarray, ctx: TaskContext, plan: ColumnPlan,
    folds: list[Fold], *, deadline_at: float,
) -> StackFit | None:
    """The layer on `oof` (the ensemble's OOF predictions); None when a class is missing from a fold's rows
    (its booster would have other outputs) or when the folds do not finish by `deadline_at` (wall clock)."""
    if ctx.is_classification and any(len(np.unique(y[train])) < ctx.n_classes for train, _ in folds):
        return None
    if executor.remote:
        return _fit_on(executor, X, y, oof, ctx, plan, folds, deadline_at=deadline_at)
    local = LocalExecutor(ctx.n_jobs)  # the search's threads are gone: local folds get their own
    try:
        return _fit_on(local, X, y, oof, ctx, plan, folds, deadline_at=deadline_at)
    finally:
        local.close()


def _fit_on(
    executor: Executor, X: pd.DataFrame, y: np.ndarray, oof: np.ndarray, ctx: TaskContext, plan: ColumnPlan,
    folds: list[Fold], *, deadline_at: float,
) -> StackFit | None:
    data = executor.share(X), executor.share(y), executor.share(to_margin(oof, ctx.n_classes))
    futures = [executor.submit(fit_stack_fold, ctx, plan, *data, fold, index=i, deadline_at=deadline_at,
                               pin_threads=executor.remote) for i, fold in enumerate(folds)]
    pending, results = set(futures), []
    while pending and time.time() < deadline_at + 1.0:  # the boosters stop themselves at the deadline
        for future in executor.wait(pending, timeout=0.25):
            pending.discard(future)
            results.append(future.result())
    if pending:
        executor.cancel(list(pending))
        return None
    results.sort(key=lambda r: r.index)
    stacked = np.zeros_like(oof, dtype=float)
    for r in results:
        stacked[folds[r.index][1]] = r.val_pred
    return StackFit(Stack([r.pipeline for r in results], ctx.n_classes), stacked, [r.rounds for r in results])


@dataclass(frozen=True)
class StackCheck:
    """The held-out-fold check: the layer's OOF score against the ensemble's, overall and fold by fold."""

    adopted: bool
    cv_score: float
    base_cv_score: float
    folds_better: int
    n_folds: int

    def card(self, rounds: Sequence[int] | None = None) -> dict[str, Any]:
        card: dict[str, Any] = {"adopted": self.adopted, "cv_score": round(self.cv_score, 6),
                                "ensemble_cv_score": round(self.base_cv_score, 6),
                                "folds_better": f"{self.folds_better}/{self.n_folds}"}
        return card if rounds is None else {**card, "rounds": list(rounds)}


def check(metric: Metric, y: np.ndarray, base_oof: np.ndarray, stacked_oof: np.ndarray,
          folds: list[Fold]) -> StackCheck:
    base, stacked = metric(y, base_oof), metric(y, stacked_oof)
    pairs = [(s, b) for s, b in zip(fold_scores(metric, y, stacked_oof, folds),
                                    fold_scores(metric, y, base_oof, folds), strict=True)
             if np.isfinite(s) and np.isfinite(b)]
    better = sum(metric.better(s, b) for s, b in pairs)
    gain = metric.loss(stacked) < metric.loss(base) - MARGIN * abs(base)
    return StackCheck(adopted=bool(gain and better >= len(pairs) - 1 and pairs), cv_score=float(stacked),
                      base_cv_score=float(base), folds_better=better, n_folds=len(pairs))
