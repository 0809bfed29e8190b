"""Refit the ensemble's members once on every row, sharing one preprocessor per style.

The bagged fold models rank candidates and weight the ensemble, but serving k pipelines per member
makes every prediction k times slower. The deployable ensemble is refitted (AutoGluon's refit_full):
one model per member, trained on all the rows; members that stop early (boosting) fit as many rounds
as their fold models stopped at, a little more for the extra rows. Members of the same preprocessing
style share one fitted preprocessor (fitted on the same rows, it would come out identical), so a
prediction transforms the input once per style.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from automl.engine.candidates import Candidate, Params, TaskContext
from automl.engine.preprocess import ColumnPlan, build_preprocessor


def refit_members(
    members: list[tuple[Candidate, Params, list[Pipeline]]], ctx: TaskContext, plan: ColumnPlan, X: pd.DataFrame,
    y: np.ndarray, *, deadline: float,
) -> list[Pipeline]:
    """One pipeline per (candidate, params, its fold pipelines), in order; fitted `ctx.n_jobs` at a time.

    Every member trains on all rows, without a stopping set: members that stop early fit as many rounds
    as their fold models stopped at (`Candidate.fixed_rounds`). Members of one style share a preprocessor.
    """
    ctx = replace(ctx, n_rows=len(y))
    with threadpool_limits(limits=1):
        preps = {}
        for style in dict.fromkeys(c.style for c, _, _ in members):
            prep = build_preprocessor(plan, style, target_type=ctx.target_type, n_rows=len(y), seed=ctx.seed)
            preps[style] = (prep, prep.fit_transform(X, y))

        def fit_one(member: tuple[Candidate, Params, list[Pipeline]]) -> Pipeline:
            candidate, params, folds = member
            prep, Xt = preps[candidate.style]
            est = candidate.estimator(params, ctx).set_params(**candidate.fixed_rounds([p[-1] for p in folds]))
            model = candidate.fit(est, Xt, y, X_val=None, y_val=None, deadline=deadline)
            return Pipeline([("prep", prep), ("model", model)])

        with ThreadPoolExecutor(max_workers=ctx.n_jobs) as pool:
            return list(pool.map(fit_one, members))


def refit_seconds(fold_seconds: list[float], n_folds: int, n_jobs: int) -> float:
    """Expected wall time of a refit: about one fold per member, members run n_jobs at a time."""
    per_fold = [s * min(n_jobs, n_folds) / n_folds for s in fold_seconds]
    return sum(per_fold) / max(n_jobs, 1) * 1.25
