"""Refit the ensemble's members once on the training part, sharing one preprocessor per style.

The bagged fold models rank candidates and weight the ensemble, but serving k pipelines per member
makes every prediction k times slower. The deployable ensemble is refitted (AutoGluon's refit_full):
one model per member, trained on all the training rows, or, for members that stop early, on 90 % of
them with the other 10 % for early stopping only. Members of the same preprocessing style fitted on
the same rows share one fitted preprocessor (it would come out identical), so a prediction
transforms the input once per style.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from automl.engine.candidates import Candidate, Params, TaskContext
from automl.engine.preprocess import ColumnPlan, build_preprocessor

EARLY_STOP_FRACTION = 0.1


def refit_members(
    members: list[tuple[Candidate, Params]], ctx: TaskContext, plan: ColumnPlan, X: pd.DataFrame, y: np.ndarray,
    *, deadline: float,
) -> list[Pipeline]:
    """One pipeline per member, in the members' order; fitted `ctx.n_jobs` at a time.

    Members that stop early (boosting) train on 90 % with the other 10 % as their stopping set; the
    others (forests, linear models) train on every row. A preprocessor is shared by the members of one
    style that train on the same rows.
    """
    stratify = y if ctx.is_classification else None
    train, val = train_test_split(
        np.arange(len(y)), test_size=EARLY_STOP_FRACTION, random_state=ctx.seed, stratify=stratify
    )
    every = np.arange(len(y))
    with threadpool_limits(limits=1):
        preps = {}
        for style, stops in dict.fromkeys((c.style, c.early_stops) for c, _ in members):
            rows = train if stops else every
            prep = build_preprocessor(plan, style, target_type=ctx.target_type, n_rows=len(rows), seed=ctx.seed)
            Xv = None
            Xt = prep.fit_transform(X.iloc[rows], y[rows])
            if stops:
                Xv = prep.transform(X.iloc[val])
            preps[style, stops] = (prep, rows, Xt, Xv)

        def fit_one(member: tuple[Candidate, Params]) -> Pipeline:
            candidate, params = member
            prep, rows, Xt, Xv = preps[candidate.style, candidate.early_stops]
            model = candidate.fit(
                candidate.estimator(params, replace(ctx, n_rows=len(rows))), Xt, y[rows],
                X_val=Xv, y_val=y[val] if Xv is not None else None, deadline=deadline,
            )
            return Pipeline([("prep", prep), ("model", model)])

        with ThreadPoolExecutor(max_workers=ctx.n_jobs) as pool:
            return list(pool.map(fit_one, members))


def refit_seconds(fold_seconds: list[float], n_folds: int, n_jobs: int) -> float:
    """Expected wall time of a refit: about one fold per member, members run n_jobs at a time."""
    per_fold = [s * min(n_jobs, n_folds) / n_folds for s in fold_seconds]
    return sum(per_fold) / max(n_jobs, 1) * 1.25
