"""Refitted boosting members train on every row for as many rounds as their fold models stopped at."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from automl.engine.candidates import REGISTRY, TaskContext
from automl.engine.candidates.base import refit_rounds
from automl.engine.preprocess import ColumnPlan, build_preprocessor
from automl.engine.refit import refit_members
from automl.engine.validation import cv_folds


def test_boosting_refit_uses_the_fold_models_rounds_on_all_rows(breast_cancer: pd.DataFrame) -> None:
    X, y = breast_cancer.drop(columns=["target"]), breast_cancer["target"].to_numpy()
    kinds = dict.fromkeys(X.columns, "numeric")
    plan = ColumnPlan.from_kinds(X, kinds)
    ctx = TaskContext(problem_type="binary", n_classes=2, n_rows=len(y), n_features=X.shape[1], n_jobs=1)
    cand = REGISTRY["lightgbm"]
    params = cand.portfolio(ctx)[0]
    folds = []
    for train, val in cv_folds(y, problem_type="binary", n_folds=3, seed=0):
        prep = build_preprocessor(plan, cand.style, target_type="binary", n_rows=len(train))
        Xt, Xv = prep.fit_transform(X.iloc[train], y[train]), prep.transform(X.iloc[val])
        model = cand.fit(cand.estimator(params, ctx), Xt, y[train], X_val=Xv, y_val=y[val],
                         deadline=time.monotonic() + 60)
        folds.append(Pipeline([("prep", prep), ("model", model)]))
    best = [p[-1].best_iteration_ for p in folds]
    assert all(0 < b < 5000 for b in best)  # they did stop early

    (refit,) = refit_members([(cand, params, folds)], ctx, plan, X, y, deadline=time.monotonic() + 60)
    assert refit.ok and refit.reason == "" and refit.fitted_rounds == refit.rounds == refit_rounds(best)
    refitted = refit.pipeline
    assert refitted is not None
    model = refitted[-1]
    assert model.booster_.num_trees() == refit_rounds(best)
    assert model.n_features_in_ == X.shape[1]
    assert np.asarray(refitted.predict_proba(X.head(3))).shape == (3, 2)
