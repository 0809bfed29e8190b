"""Bagged tree ensembles grown in chunks (warm start) so a fit can stop at its deadline."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
from sklearn.base import BaseEstimator
from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor, RandomForestClassifier, RandomForestRegressor

from automl.engine.candidates.base import Candidate, Params, TaskContext, register, time_left

_CHUNK = 50


class _Forest(Candidate):
    style = "tree"
    classes: tuple[type, type]

    def portfolio(self, ctx: TaskContext) -> list[Params]:
        return [{"n_estimators": 300, "max_features": "sqrt" if ctx.is_classification else 1.0, "min_samples_leaf": 1}]

    def suggest(self, trial: optuna.Trial, ctx: TaskContext) -> Params:
        return {
            "n_estimators": 300,
            "max_features": trial.suggest_categorical("max_features", ["sqrt", 0.5, 1.0]),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 20, log=True),
        }

    def estimator(self, params: Params, ctx: TaskContext) -> BaseEstimator:
        cls = self.classes[0] if ctx.is_classification else self.classes[1]
        extra = {"class_weight": "balanced_subsample"} if ctx.is_classification and ctx.balanced else {}
        return cls(**params, **extra, n_jobs=1, random_state=ctx.seed)

    def fit(
        self, est: BaseEstimator, X: Any, y: np.ndarray, *, X_val: Any, y_val: np.ndarray, deadline: float
    ) -> BaseEstimator:
        target = est.get_params()["n_estimators"]
        est.set_params(warm_start=True, n_estimators=min(_CHUNK, target))
        est.fit(X, y)
        while est.n_estimators < target and time_left(deadline) > 0:
            est.set_params(n_estimators=min(est.n_estimators + _CHUNK, target))
            est.fit(X, y)
        return est.set_params(warm_start=False)


@register
class RandomForest(_Forest):
    name = "random_forest"
    algorithm = "random_forest"
    cost = 1.5
    classes = (RandomForestClassifier, RandomForestRegressor)


@register
class ExtraTrees(_Forest):
    name = "extra_trees"
    algorithm = "extra_trees"
    cost = 0.8
    classes = (ExtraTreesClassifier, ExtraTreesRegressor)
