"""Refit the ensemble's members once on the training part, sharing one preprocessor per style.

The bagged fold models rank candidates and weight the ensemble, but serving k pipelines per member
makes every prediction k times slower. The deployable ensemble is refitted (AutoGluon's refit_full):
one model per member, trained on all the rows; members that stop early (boosting) fit as many rounds
as their fold models stopped at, a little more for the extra rows. Members of the same preprocessing
style fitted on the same rows share one fitted preprocessor (it would come out identical), so a
prediction transforms the input once per style.
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
    members: list[tuple[Candidate, Params, list[Pipeline]]], ctx: TaskContext, plan: ColumnPlan, X: pd.DataFrame,
    y: np.ndarray, *, deadline: float,
) -> list[Pipeline]:
    """One pipeline per (candidate, params, its fold pipelines), in order; fitted `ctx.n_jobs` at a time.

    Every member trains on all rows: members that stop early fit as many rounds as their fold models
    stopped at (`Candidate.fixed_rounds`), or, when that is unknown, train on 90 % with the other 10 %
    as their stopping set. A preprocessor is shared by the members of one style on the same rows.
    """
    stratify = y if ctx.is_classification else None
    train, val = train_test_split(
        np.arange(len(y)), test_size=EARLY_STOP_FRACTION, random_state=ctx.seed, stratify=stratify
    )
    every = np.arange(len(y))
    rounds = [c.fixed_rounds([p[-1] for p in pipes]) if c.early_stops else {} for c, _, pipes in members]
    stops = [c.early_stops and not r for (c, _, _), r in zip(members, rounds, strict=True)]
    with threadpool_limits(limits=1):
        preps = {}
        for (candidate, _, _), stop in zip(members, stops, strict=True):
            if (candidate.style, stop) in preps:
                continue
            rows = train if stop else every
            prep = build_preprocessor(plan, candidate.style, target_type=ctx.target_type, n_rows=len(rows),
                                      seed=ctx.seed)
            Xt = prep.fit_transform(X.iloc[rows], y[rows])
            preps[candidate.style, stop] = (prep, rows, Xt, prep.transform(X.iloc[val]) if stop else None)

        def fit_one(i: int) -> Pipeline:
            candidate, params, _ = members[i]
            prep, rows, Xt, Xv = preps[candidate.style, stops[i]]
            est = candidate.estimator(params, replace(ctx, n_rows=len(rows))).set_params(**rounds[i])
            model = candidate.fit(est, Xt, y[rows], X_val=Xv, y_val=y[val] if Xv is not None else None,
                                  deadline=deadline)
            return Pipeline([("prep", prep), ("model", model)])

        with ThreadPoolExecutor(max_workers=ctx.n_jobs) as pool:
            return list(pool.map(fit_one, range(len(members))))


def refit_seconds(fold_seconds: list[float], n_folds: int, n_jobs: int) -> float:
    """Expected wall time of a refit: about one fold per member, members run n_jobs at a time."""
    per_fold = [s * min(n_jobs, n_folds) / n_folds for s in fold_seconds]
    return sum(per_fold) / max(n_jobs, 1) * 1.25
