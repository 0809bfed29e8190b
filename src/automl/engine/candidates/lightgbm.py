"""LightGBM with native categoricals, early stopping on the validation fold and a time-limit callback."""

from __future__ import annotations

import inspect
import time
from typing import Any

import lightgbm as lgb
import numpy as np
import optuna
import pandas as pd
from sklearn.base import BaseEstimator

from automl.engine.candidates.base import Candidate, Params, TaskContext, min_gain, refit_rounds, register
from automl.engine.fastpath import FastPredict

_BASE = {"n_estimators": 5000, "subsample_freq": 1, "verbose": -1}
# lightgbm >= 4.6 takes eval_X / eval_y and deprecates eval_set
_EVAL_XY = "eval_X" in inspect.signature(lgb.LGBMModel.fit).parameters


def eval_kwargs(X_val: Any, y_val: np.ndarray) -> dict[str, Any]:
    return {"eval_X": (X_val,), "eval_y": (y_val,)} if _EVAL_XY else {"eval_set": [(X_val, y_val)]}


def positional_names(X: Any) -> dict[str, Any]:
    """LightGBM refuses column names with JSON characters (`,:[]{}"`), which uploads may well have: it is
    given positional names instead, and its categorical columns by position."""
    if not isinstance(X, pd.DataFrame):
        return {}
    cats = [i for i, c in enumerate(X.columns) if isinstance(X[c].dtype, pd.CategoricalDtype)]
    return {"feature_name": [f"f{i}" for i in range(X.shape[1])], "categorical_feature": cats}


def deadline_callback(deadline: float) -> Any:
    def callback(env: lgb.callback.CallbackEnv) -> None:
        if time.monotonic() > deadline:
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    return callback


@register
class LightGBM(Candidate):
    name = "lightgbm"
    algorithm = "lightgbm"
    style = "lightgbm"
    cost = 1.0
    rounds_param = "n_estimators"

    def portfolio(self, ctx: TaskContext) -> list[Params]:
        small = ctx.n_rows < 2000
        return [
            # a faster rate on bigger data: the first model must finish early in the budget
            {"learning_rate": 0.05 if ctx.n_rows < 5000 else 0.1, "num_leaves": 15 if small else 31,
             "min_child_samples": 10 if small else 20,
             "colsample_bytree": 0.9, "subsample": 1.0, "reg_lambda": 0.0},
            {"learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20, "colsample_bytree": 0.8,
             "subsample": 1.0, "reg_lambda": 0.0, "extra_trees": True},
            {"learning_rate": 0.03, "num_leaves": 128, "min_child_samples": 5, "colsample_bytree": 0.9,
             "subsample": 1.0, "reg_lambda": 0.0},
        ]

    def suggest(self, trial: optuna.Trial, ctx: TaskContext) -> Params:
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 4, 256, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 2, 100, log=True),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
            "extra_trees": trial.suggest_categorical("extra_trees", [False, True]),
        }

    def estimator(self, params: Params, ctx: TaskContext) -> BaseEstimator:
        cls = lgb.LGBMClassifier if ctx.is_classification else lgb.LGBMRegressor
        extra = {"class_weight": "balanced"} if ctx.is_classification and ctx.balanced else {}
        return cls(**_BASE, **params, **extra, n_jobs=1, random_state=ctx.seed)

    def fit(
        self, est: BaseEstimator, X: Any, y: np.ndarray, *, X_val: Any, y_val: np.ndarray, deadline: float
    ) -> BaseEstimator:
        names = positional_names(X)
        if X_val is None:
            return est.fit(X, y, callbacks=[deadline_callback(deadline)], **names)
        # without a minimum gain, plateaus (e.g. all-categorical data) never trigger early stopping
        min_delta = min_gain(y, classification=isinstance(est, lgb.LGBMClassifier))
        callbacks = [lgb.early_stopping(50, verbose=False, min_delta=min_delta), deadline_callback(deadline)]
        return est.fit(X, y, **eval_kwargs(X_val, y_val), callbacks=callbacks, **names)

    def fixed_rounds(self, fold_models: list[Any]) -> Params:
        return {"n_estimators": refit_rounds([m.best_iteration_ or m.n_estimators_ for m in fold_models])}

    def fitted_rounds(self, est: Any) -> int | None:
        return int(est.n_estimators_)  # boosting iterations (num_trees() counts one tree per class and round)

    def compile(self, est: Any) -> FastPredict | None:
        """The booster on the float matrix (categoricals as codes), without the sklearn wrapper's checks;
        a thread count chosen by batch size."""
        if not isinstance(est, lgb.LGBMModel):
            return None
        booster, classifier = est.booster_, isinstance(est, lgb.LGBMClassifier)

        def predict(A: Any, threads: int) -> np.ndarray:
            out = np.asarray(booster.predict(A, num_threads=threads))
            return np.column_stack([1.0 - out, out]) if classifier and out.ndim == 1 else out  # binary: P(1)

        return predict
