"""Splits and k-fold fitting with out-of-fold predictions."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from automl.engine.candidates import Candidate, Params, TaskContext
from automl.engine.executor import Executor
from automl.engine.preprocess import ColumnPlan, build_preprocessor
from automl.engine.task import Metric

HOLDOUT_FRACTION = 0.2
Fold = tuple[np.ndarray, np.ndarray]


def n_folds_for(n_rows: int) -> int:
    # fold models should see nearly what the refitted final models see: with 3 folds they train on
    # two thirds, and ensemble weights learned on their predictions suit the refitted members less
    # (at 60 s on 16-22k rows, 5 folds gave equal or better test scores on four datasets)
    if n_rows <= 50_000:
        return 5
    if n_rows <= 200_000:
        return 3
    return 2


def holdout_split(y: np.ndarray, *, problem_type: str, seed: int, fraction: float = HOLDOUT_FRACTION) -> Fold:
    idx = np.arange(len(y))
    stratify = y if problem_type != "regression" else None
    train, test = train_test_split(idx, test_size=fraction, random_state=seed, stratify=stratify)
    return np.sort(train), np.sort(test)


def cv_folds(y: np.ndarray, *, problem_type: str, n_folds: int, seed: int) -> list[Fold]:
    if problem_type == "regression":
        splitter = KFold(n_folds, shuffle=True, random_state=seed)
    else:
        # a class rarer than n_folds cannot be in every fold; sklearn warns, folds still work
        splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))


def fold_scores(metric: Metric, y: np.ndarray, oof: np.ndarray, folds: list[Fold]) -> list[float]:
    """The metric on each fold's validation rows (NaN where a fold cannot be scored, e.g. one class in it)."""
    out = []
    for _, val in folds:
        try:
            out.append(round(float(metric(y[val], oof[val])), 6))
        except ValueError:
            out.append(float("nan"))
    return out


def fold_std(scores: list[float]) -> float | None:
    """The sample standard deviation (ddof=1) of the scorable folds: what a standard error over folds uses."""
    finite = [s for s in scores if np.isfinite(s)]
    return round(float(np.std(finite, ddof=1)), 6) if len(finite) >= 2 else None


def predict_internal(est: Any, X: Any, n_classes: int) -> np.ndarray:
    """Probabilities over all K encoded classes (a fold may have missed one), or regression values.

    `est` is a whole pipeline or, on already transformed input, its final model.
    """
    if n_classes == 0:
        return np.asarray(est.predict(X), dtype=float)
    proba = np.asarray(est.predict_proba(X), dtype=float)
    out = np.zeros((proba.shape[0], n_classes))
    out[:, np.asarray(est.classes_, dtype=int)] = proba
    return out


@dataclass(frozen=True)
class FoldResult:
    index: int
    pipeline: Pipeline
    val_pred: np.ndarray  # predictions on the fold's validation rows, internal form
    seconds: float  # the task's own fit + predict time, wherever it ran


_pinned = False


def fit_fold(
    candidate: Candidate, params: Params, ctx: TaskContext, plan: ColumnPlan, X: pd.DataFrame, y: np.ndarray,
    fold: Fold, *, index: int, deadline_at: float, pin_threads: bool = False,
) -> FoldResult:
    """Fit one fold and predict its validation rows; runs in a thread here or as a task on a Dask worker.

    `deadline_at` is wall-clock time: monotonic clocks are per machine. A remote task pins its process's
    BLAS/OpenMP pools to one thread once (the worker's threads are the parallelism); local runs are pinned
    by the caller for the whole search.
    """
    global _pinned
    if pin_threads and not _pinned:
        threadpool_limits(limits=1)
        _pinned = True
    start = time.monotonic()
    deadline = start + (deadline_at - time.time())
    train, val = fold
    prep = build_preprocessor(plan, candidate.style, target_type=ctx.target_type, n_rows=len(train), seed=ctx.seed)
    Xt = prep.fit_transform(X.iloc[train], y[train])
    Xv = prep.transform(X.iloc[val])
    model = candidate.fit(candidate.estimator(params, ctx), Xt, y[train], X_val=Xv, y_val=y[val], deadline=deadline)
    pred = predict_internal(model, Xv, ctx.n_classes)
    return FoldResult(index, Pipeline([("prep", prep), ("model", model)]), pred, time.monotonic() - start)


@dataclass
class CVRun:
    """One candidate's k folds in flight: submitted together, absorbed as they finish (in any order)."""

    candidate: Candidate
    params: Params
    n_folds: int
    n_jobs: int
    oof: np.ndarray
    seen: np.ndarray
    trial: Any = None  # the optuna trial, when tuning
    started: float = field(default_factory=time.monotonic)
    results: dict[int, FoldResult] = field(default_factory=dict)
    futures: dict[Any, int] = field(default_factory=dict)  # pending task -> fold index

    @classmethod
    def submit(
        cls, executor: Executor, data: tuple[Any, Any], candidate: Candidate, params: Params, ctx: TaskContext,
        plan: ColumnPlan, folds: list[Fold], *, allowance: float, trial: Any = None,
    ) -> CVRun:
        """`data` is (X, y) as `executor.share` returned them. Every fold gets `allowance` seconds from now."""
        n = len(folds[0][0]) + len(folds[0][1])
        run = cls(candidate, params, len(folds), ctx.n_jobs, trial=trial, seen=np.zeros(n, dtype=bool),
                  oof=np.zeros((n, ctx.n_classes)) if ctx.n_classes else np.zeros(n))
        deadline_at = time.time() + allowance
        for i, fold in enumerate(folds):
            future = executor.submit(fit_fold, candidate, params, ctx, plan, *data, fold, index=i,
                                     deadline_at=deadline_at, pin_threads=executor.remote)
            run.futures[future] = i
        return run

    def absorb(self, future: Any, folds: list[Fold]) -> FoldResult:
        """Take a finished task's fold; raises what the task raised."""
        self.futures.pop(future)
        res: FoldResult = future.result()
        val = folds[res.index][1]
        self.oof[val] = res.val_pred
        self.seen[val] = True
        self.results[res.index] = res
        return res

    @property
    def complete(self) -> bool:
        return len(self.results) == self.n_folds

    @property
    def pipelines(self) -> list[Pipeline]:
        return [self.results[i].pipeline for i in sorted(self.results)]

    @property
    def fit_seconds(self) -> float:
        """The folds' compute time as wall time with `n_jobs` folds at once (what a refit estimate expects)."""
        return sum(r.seconds for r in self.results.values()) / max(1, min(self.n_jobs, self.n_folds))

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started
