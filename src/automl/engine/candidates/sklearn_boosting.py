"""scikit-learn's GradientBoosting (the tutorial's) and HistGradientBoosting."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import optuna
from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)

from automl.engine.candidates.base import Candidate, Params, TaskContext, register


@register
class GradientBoosting(Candidate):
    name = "gradient_boosting"
    algorithm = "gradient_boosting"
    style = "tree"
    cost = 3.0

    def portfolio(self, ctx: TaskContext) -> list[Params]:
        return [{"n_estimators": 300, "learning_rate": 0.1, "max_depth": 3, "subsample": 0.8}]

    def suggest(self, trial: optuna.Trial, ctx: TaskContext) -> Params:
        return {
            "n_estimators": 500,
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
            "max_depth": trial.suggest_int("max_depth", 2, 6),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        }

    def estimator(self, params: Params, ctx: TaskContext) -> BaseEstimator:
        cls = GradientBoostingClassifier if ctx.is_classification else GradientBoostingRegressor
        return cls(**params, n_iter_no_change=20, validation_fraction=0.1, random_state=ctx.seed)

    def fit(
        self, est: BaseEstimator, X: Any, y: np.ndarray, *, X_val: Any, y_val: np.ndarray, deadline: float
    ) -> BaseEstimator:
        return est.fit(X, y, monitor=lambda *_: time.monotonic() > deadline)


@register
class HistGradientBoosting(Candidate):
    name = "hist_gradient_boosting"
    algorithm = "hist_gradient_boosting"
    style = "nan_ok"
    cost = 0.7

    def portfolio(self, ctx: TaskContext) -> list[Params]:
        return [{"learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20, "l2_regularization": 0.0}]

    def suggest(self, trial: optuna.Trial, ctx: TaskContext) -> Params:
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
            "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 8, 128, log=True),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 3, 100, log=True),
            "l2_regularization": trial.suggest_float("l2_regularization", 1e-4, 10.0, log=True),
        }

    def estimator(self, params: Params, ctx: TaskContext) -> BaseEstimator:
        cls = HistGradientBoostingClassifier if ctx.is_classification else HistGradientBoostingRegressor
        extra = {"class_weight": "balanced"} if ctx.is_classification and ctx.balanced else {}
        return cls(**params, **extra, max_iter=500, early_stopping=True, n_iter_no_change=20, random_state=ctx.seed)
