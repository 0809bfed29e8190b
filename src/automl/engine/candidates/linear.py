"""The tutorial's plain linear model and a regularised one with a C / alpha search."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator
from sklearn.linear_model import LinearRegression, LogisticRegression, LogisticRegressionCV, Ridge, RidgeCV

from automl.engine.candidates.base import Candidate, Params, TaskContext, register
from automl.engine.fastpath import FastPredict

_CS = [0.003, 0.03, 0.3, 3.0, 30.0]
GCV_MAX_COLUMNS = 500  # wider (or sparse) inputs choose alpha by 3-fold CV instead of GCV
# scikit-learn >= 1.8 warns unless the L2-only path and the new fitted attributes are asked for explicitly
_LRCV_ARGS = inspect.signature(LogisticRegressionCV).parameters
_LRCV_EXTRA = {
    **({"l1_ratios": (0.0,)} if "l1_ratios" in _LRCV_ARGS else {}),
    **({"use_legacy_attributes": False} if "use_legacy_attributes" in _LRCV_ARGS else {}),
}


class _Linear(Candidate):
    def compile(self, est: Any) -> FastPredict | None:
        """One matrix product on the dense matrix, then scikit-learn's own link (expit / softmax)."""
        if isinstance(est, LinearRegression | Ridge | RidgeCV) and np.ndim(est.coef_) == 1:
            coef, intercept = est.coef_, est.intercept_
            return lambda A, threads: None if sp.issparse(A) else A @ coef + intercept
        if not isinstance(est, LogisticRegression | LogisticRegressionCV):
            return None
        coef, intercept = est.coef_.T, est.intercept_

        def predict(A: Any, threads: int) -> np.ndarray | None:
            if sp.issparse(A):
                return None
            decision = A @ coef + intercept
            if coef.shape[1] == 1:  # binary: P(class 1) = expit(decision)
                p = expit(decision[:, 0])
                return np.column_stack([1.0 - p, p])
            return softmax(decision, axis=1)

        return predict


@register
class PlainLinear(_Linear):
    """LogisticRegression / LinearRegression with defaults, as in the original tutorial."""

    name = "linear"
    algorithm = "logistic_regression"
    style = "linear"
    cost = 0.05
    tunable = False

    def algorithm_for(self, ctx: TaskContext) -> str:
        return self.algorithm if ctx.is_classification else "linear_regression"

    def estimator(self, params: Params, ctx: TaskContext) -> BaseEstimator:
        if ctx.is_classification:
            return LogisticRegression(max_iter=2000, class_weight="balanced" if ctx.balanced else None)
        return LinearRegression()


@register
class RegularisedLinear(_Linear):
    """L2-regularised linear model; the default picks C / alpha by an internal 3-fold CV."""

    name = "ridge"
    algorithm = "regularised_linear"
    style = "linear"
    cost = 0.2
    # its one parameter is already chosen by the inner CV: tuning trials only repeat it (on a 5-class table they
    # took the time a booster needed, at a log loss 70 % worse than the booster's)
    tunable = False

    def portfolio(self, ctx: TaskContext) -> list[Params]:
        return [{"C": "cv"}]

    def fit(
        self, est: BaseEstimator, X: Any, y: np.ndarray, *, X_val: Any, y_val: np.ndarray | None, deadline: float
    ) -> BaseEstimator:
        # RidgeCV's leave-one-out GCV eigendecomposes the p x p Gram matrix: 76 s a fold for 5,000 TF-IDF
        # columns (ggplot2 movies, 38k rows), against 1.8 s for a 3-fold search of the same alphas
        if isinstance(est, RidgeCV) and (sp.issparse(X) or X.shape[1] > GCV_MAX_COLUMNS):
            est.set_params(cv=3)
        return est.fit(X, y)

    def estimator(self, params: Params, ctx: TaskContext) -> BaseEstimator:
        c = params.get("C", "cv")
        if ctx.is_classification:
            weight = "balanced" if ctx.balanced else None
            if c == "cv":
                scoring = "roc_auc" if ctx.problem_type == "binary" else "neg_log_loss"
                return LogisticRegressionCV(
                    Cs=_CS, cv=3, max_iter=500, scoring=scoring, class_weight=weight, **_LRCV_EXTRA
                )
            return LogisticRegression(C=c, max_iter=2000, class_weight=weight)
        if c == "cv":
            return RidgeCV(alphas=[1.0 / x for x in _CS])
        return Ridge(alpha=1.0 / c)
