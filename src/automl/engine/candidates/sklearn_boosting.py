"""scikit-learn's GradientBoosting (the tutorial's) and HistGradientBoosting."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import optuna
import scipy.sparse as sp
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, is_classifier
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)

from automl.engine.candidates.base import Candidate, Params, TaskContext, grow_in_chunks, refit_rounds, register
from automl.engine.fastpath import FastPredict, FlatTrees, TreeNodes


@register
class GradientBoosting(Candidate):
    name = "gradient_boosting"
    algorithm = "gradient_boosting"
    style = "tree"
    cost = 3.0
    rounds_param = "n_estimators"

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

    def fixed_rounds(self, fold_models: list[Any]) -> Params:
        """As many stages as the fold models kept, on every row: no internal stopping split."""
        return {"n_estimators": refit_rounds([m.n_estimators_ for m in fold_models]), "n_iter_no_change": None}

    def fitted_rounds(self, est: Any) -> int | None:
        return int(est.n_estimators_)


@register
class HistGradientBoosting(Candidate):
    name = "hist_gradient_boosting"
    algorithm = "hist_gradient_boosting"
    style = "nan_ok"
    cost = 0.7
    rounds_param = "max_iter"

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

    def fit(
        self, est: BaseEstimator, X: Any, y: np.ndarray, *, X_val: Any, y_val: np.ndarray, deadline: float
    ) -> BaseEstimator:
        """Folds stop on scikit-learn's own validation split. A refit (fixed rounds, no stopping) grows its
        iterations in chunks by warm start, which fits exactly what one call would, so that the deadline can
        stop it between chunks: HistGradientBoosting takes no callback."""
        if X_val is not None or est.get_params()["early_stopping"] is not False:
            return est.fit(X, y)
        return grow_in_chunks(est, X, y, param="max_iter", grown=self.fitted_rounds, deadline=deadline)

    def fixed_rounds(self, fold_models: list[Any]) -> Params:
        return {"max_iter": refit_rounds([m.n_iter_ for m in fold_models]), "early_stopping": False}

    def fitted_rounds(self, est: Any) -> int | None:
        return int(est.n_iter_)

    def compile(self, est: Any) -> FastPredict | None:
        """Baseline + the sum of each output's trees, then the link; without categorical splits."""
        if not isinstance(est, HistGradientBoostingClassifier | HistGradientBoostingRegressor):
            return None
        if est.loss not in ("log_loss", "squared_error"):
            return None
        # no public API exposes the fitted trees or the baseline: read as scikit-learn's own predict does
        iterations, baseline = est._predictors, est._baseline_prediction
        nodes = [tree.nodes for iteration in iterations for tree in iteration]
        if any(n["is_categorical"].any() for n in nodes):
            return None
        return _HistTrees(nodes, n_outputs=len(iterations[0]), baseline=baseline, classifier=is_classifier(est))


class _HistTrees:
    """HistGradientBoosting's raw prediction from flat trees, then its link (expit / softmax)."""

    def __init__(self, nodes: list[np.ndarray], *, n_outputs: int, baseline: Any, classifier: bool) -> None:
        self.trees = FlatTrees([TreeNodes(
            left=np.where(n["is_leaf"] == 1, -1, n["left"].astype(np.intp)),
            right=np.where(n["is_leaf"] == 1, -1, n["right"].astype(np.intp)),
            feature=n["feature_idx"], threshold=n["num_threshold"], missing_left=n["missing_go_to_left"],
        ) for n in nodes], float32=False)
        self.values = np.concatenate([n["value"] for n in nodes])
        self.n_outputs = n_outputs
        self.baseline = np.asarray(baseline, dtype=np.float64).ravel()
        self.classifier = classifier

    def __call__(self, A: Any, threads: int) -> np.ndarray | None:
        if sp.issparse(A) or not self.trees.fits(A.shape[0]):
            return None
        leaf_values = self.values[self.trees.leaves(A)]  # (rows, iterations * outputs)
        raw = leaf_values.reshape(len(leaf_values), -1, self.n_outputs).sum(axis=1) + self.baseline
        if not self.classifier:
            return raw[:, 0]
        if self.n_outputs == 1:
            p = expit(raw[:, 0])
            return np.column_stack([1.0 - p, p])
        return softmax(raw, axis=1)
