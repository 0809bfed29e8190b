"""CatBoost with string categoricals (ordered target statistics), early stopping and a time-limit callback."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import optuna
import pandas as pd
from catboost import CatBoostClassifier, CatBoostRegressor
from sklearn.base import BaseEstimator

from automl.engine.candidates.base import Candidate, Params, TaskContext, refit_rounds, register


class _Deadline:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def after_iteration(self, info: Any) -> bool:
        return time.monotonic() < self.deadline  # False stops training


@register
class CatBoost(Candidate):
    name = "catboost"
    algorithm = "catboost"
    style = "catboost"
    cost = 2.0
    rounds_param = "iterations"

    def portfolio(self, ctx: TaskContext) -> list[Params]:
        return [{"learning_rate": 0.08, "depth": 6, "l2_leaf_reg": 3.0}]

    def suggest(self, trial: optuna.Trial, ctx: TaskContext) -> Params:
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
            "depth": trial.suggest_int("depth", 4, 8),
            "l2_leaf_reg": trial.suggest_float("l2_leaf_reg", 1.0, 10.0, log=True),
        }

    def estimator(self, params: Params, ctx: TaskContext) -> BaseEstimator:
        cls = CatBoostClassifier if ctx.is_classification else CatBoostRegressor
        extra = {"auto_class_weights": "Balanced"} if ctx.is_classification and ctx.balanced else {}
        return cls(**params, **extra, iterations=2000, early_stopping_rounds=50, thread_count=1,
                   random_seed=ctx.seed, verbose=0, allow_writing_files=False)

    def fit(
        self, est: BaseEstimator, X: Any, y: np.ndarray, *, X_val: Any, y_val: np.ndarray, deadline: float
    ) -> BaseEstimator:
        cats = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])] if isinstance(X, pd.DataFrame) else []
        if X_val is None:
            return est.fit(X, y, cat_features=cats, callbacks=[_Deadline(deadline)])
        return est.fit(X, y, cat_features=cats, eval_set=(X_val, y_val), callbacks=[_Deadline(deadline)])

    def fixed_rounds(self, fold_models: list[Any]) -> Params:
        best = [(m.get_best_iteration() or m.tree_count_ - 1) + 1 for m in fold_models]
        return {"iterations": refit_rounds(best), "early_stopping_rounds": None}

    def fitted_rounds(self, est: Any) -> int | None:
        return int(est.tree_count_)

