"""XGBoost (hist) with early stopping on the validation fold and a time-limit callback."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import optuna
import scipy.sparse as sp
import xgboost as xgb
from sklearn.base import BaseEstimator
from sklearn.utils.class_weight import compute_sample_weight

from automl.engine.candidates.base import Candidate, Params, TaskContext, min_gain, refit_rounds, register
from automl.engine.fastpath import FastPredict


class _Deadline(xgb.callback.TrainingCallback):
    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        return time.monotonic() > self.deadline


class BalancedXGBClassifier(xgb.XGBClassifier):
    """XGBoost has no `class_weight`: balanced sample weights at fit, as the other families' option."""

    def fit(self, X: Any, y: Any, **kwargs: Any) -> BalancedXGBClassifier:
        kwargs["sample_weight"] = compute_sample_weight("balanced", y)
        if kwargs.get("eval_set"):
            kwargs["sample_weight_eval_set"] = [compute_sample_weight("balanced", yv) for _, yv in kwargs["eval_set"]]
        return super().fit(X, y, **kwargs)


@register
class XGBoost(Candidate):
    name = "xgboost"
    algorithm = "xgboost"
    style = "nan_ok"
    cost = 1.0
    rounds_param = "n_estimators"

    def portfolio(self, ctx: TaskContext) -> list[Params]:
        return [{"learning_rate": 0.1, "max_depth": 6, "min_child_weight": 1.0, "subsample": 0.8,
                 "colsample_bytree": 0.8, "reg_lambda": 1.0}]

    def suggest(self, trial: optuna.Trial, ctx: TaskContext) -> Params:
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "max_depth": trial.suggest_int("max_depth", 2, 10),
            "min_child_weight": trial.suggest_float("min_child_weight", 0.5, 20.0, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        }

    def estimator(self, params: Params, ctx: TaskContext) -> BaseEstimator:
        cls = xgb.XGBRegressor
        if ctx.is_classification:
            cls = BalancedXGBClassifier if ctx.balanced else xgb.XGBClassifier
        return cls(**params, n_estimators=5000, tree_method="hist", n_jobs=1, random_state=ctx.seed)

    def fit(
        self, est: BaseEstimator, X: Any, y: np.ndarray, *, X_val: Any, y_val: np.ndarray, deadline: float
    ) -> BaseEstimator:
        if X_val is None:
            est.set_params(callbacks=[_Deadline(deadline)])
            est.fit(X, y, verbose=False)
            return est.set_params(callbacks=None)
        min_delta = min_gain(y, classification=isinstance(est, xgb.XGBClassifier))
        stop = xgb.callback.EarlyStopping(rounds=50, min_delta=min_delta, save_best=True)
        est.set_params(callbacks=[stop, _Deadline(deadline)])
        est.fit(X, y, eval_set=[(X_val, y_val)], verbose=False)
        return est.set_params(callbacks=None)

    def fixed_rounds(self, fold_models: list[Any]) -> Params:
        best = [m.best_iteration + 1 if getattr(m, "best_iteration", None) is not None else m.n_estimators
                for m in fold_models]
        return {"n_estimators": refit_rounds(best)}

    def fitted_rounds(self, est: Any) -> int | None:
        return int(est.get_booster().num_boosted_rounds())

    def compile(self, est: Any) -> FastPredict | None:
        """`inplace_predict` on the dense matrix, up to the best iteration as `predict_proba` does."""
        if not isinstance(est, xgb.XGBModel):
            return None
        booster, classifier = est.get_booster(), isinstance(est, xgb.XGBClassifier)
        best = getattr(est, "best_iteration", None)
        iterations = (0, best + 1) if best is not None else (0, 0)

        def predict(A: Any, threads: int) -> np.ndarray | None:
            if sp.issparse(A):
                return None
            out = booster.inplace_predict(A, iteration_range=iterations)
            return np.column_stack([1.0 - out, out]) if classifier and out.ndim == 1 else out  # binary: P(1)

        return predict
