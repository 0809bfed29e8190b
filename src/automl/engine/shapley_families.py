"""Exact SHAP values of one fitted final model on its encoded matrix, in the model's own output units.

Each family through its own exact algorithm: LightGBM's `pred_contrib`, XGBoost's `pred_contribs`, CatBoost's
`ShapValues`, the `shap` package's TreeSHAP (path-dependent, the trees' own node covers) for scikit-learn's
forests, HistGradientBoosting and GradientBoosting, and the closed form for linear models. Boosters and logistic
models give log-odds (binary) or softmax margins (multiclass); forests give class probabilities.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import scipy.sparse as sp
import xgboost as xgb
from catboost import CatBoost, Pool
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, LogisticRegressionCV, Ridge, RidgeCV

from automl.engine.errors import EngineError

_LINKED_LOSSES = ("log_loss", "squared_error")  # losses whose prediction is expit / softmax / identity of the raw
_explainers: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class RawShap:
    """SHAP values of one model's outputs: one (n, encoded columns) matrix per output, dense or sparse.

    Outputs: one for regression (the prediction) and binary margin models (class 1's log-odds), one per class
    in the model's `classes_` order otherwise. `margin`: the outputs are log-odds / softmax margins that a link
    turns into probabilities; else they are in the model's output units already (forests' probabilities).
    """

    base: np.ndarray  # (n, outputs)
    values: list[Any]
    margin: bool


def _dense(X: Any) -> Any:
    return X.toarray() if sp.issparse(X) else X


def _from_blocks(blocks: np.ndarray, *, margin: bool) -> RawShap:
    """(n, outputs, columns + 1) with the bias last, as the boosters return them."""
    return RawShap(base=blocks[:, :, -1], values=[blocks[:, k, :-1] for k in range(blocks.shape[1])], margin=margin)


def _lightgbm(est: Any, Xt: Any) -> RawShap:
    out = _dense(est.predict(Xt, pred_contrib=True))  # the wrapper's own iteration choice, as predict_proba's
    classes = getattr(est, "classes_", None)
    outputs = 1 if classes is None or len(classes) == 2 else len(classes)
    return _from_blocks(np.asarray(out, dtype=np.float64).reshape(len(out), outputs, -1), margin=True)


def _xgboost(est: Any, Xt: Any) -> RawShap:
    best = getattr(est, "best_iteration", None)  # the iterations predict_proba uses
    out = est.get_booster().predict(xgb.DMatrix(Xt), pred_contribs=True,
                                    iteration_range=(0, best + 1) if best is not None else (0, 0))
    out = np.asarray(out, dtype=np.float64)
    return _from_blocks(out[:, None, :] if out.ndim == 2 else out, margin=True)


def _catboost(est: Any, Xt: Any) -> RawShap:
    pool = Pool(Xt, cat_features=est.get_cat_feature_indices())
    out = np.asarray(est.get_feature_importance(pool, type="ShapValues"), dtype=np.float64)
    return _from_blocks(out[:, None, :] if out.ndim == 2 else out, margin=True)


def _linear(est: Any, Xt: Any) -> RawShap:
    """coef_j * (x_j - r_j) with the reference r = 0 in the encoded space: the training mean of every
    standardised column (numeric, missing indicators, datetime parts, target encodings: StandardScaler
    centres them on the training rows), 'no level' / 'no word' for one-hot and TF-IDF columns."""
    coef = np.atleast_2d(est.coef_)
    intercept = np.atleast_1d(est.intercept_).astype(np.float64)
    if sp.issparse(Xt):
        values = [sp.csr_matrix(Xt.multiply(c)) for c in coef]
    else:
        values = [np.asarray(Xt, dtype=np.float64) * c for c in coef]
    return RawShap(base=np.tile(intercept, (Xt.shape[0], 1)), values=values, margin=True)


def _stacked(values: Any, expected: Any, n: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """shap's (n, columns) or (n, columns, outputs) values and its expected value(s) as RawShap's fields."""
    values = np.asarray(values, dtype=np.float64)
    values = values[:, :, None] if values.ndim == 2 else values
    expected = np.asarray(expected, dtype=np.float64).ravel()
    return np.tile(expected, (n, 1)), [values[:, :, k] for k in range(values.shape[2])]


def _cached(est: Any, build: Callable[[], list[Any]]) -> list[Any]:
    if est not in _explainers:
        _explainers[est] = build()
    return _explainers[est]


def _tree_explainer(model: Any, **kwargs: Any) -> Any:
    import shap  # imported when first needed: it takes seconds (numba) and serving rarely explains

    return shap.TreeExplainer(model, **kwargs)


def _forest(est: Any, Xt: Any) -> RawShap:
    (explainer,) = _cached(est, lambda: [_tree_explainer(est)])
    X = np.asarray(_dense(Xt), dtype=np.float32)  # scikit-learn's trees compare float32 features
    base, values = _stacked(explainer.shap_values(X, check_additivity=False), explainer.expected_value, len(X))
    return RawShap(base=base, values=values, margin=False)


def _check_loss(est: Any) -> None:
    if est.loss not in _LINKED_LOSSES:
        raise EngineError(f"no exact explanation for {type(est).__name__} with loss {est.loss!r}")


def _hist_gradient_boosting(est: Any, Xt: Any) -> RawShap:
    _check_loss(est)
    if any(tree.nodes["is_categorical"].any() for it in est._predictors for tree in it):
        raise EngineError("no exact explanation for HistGradientBoosting with native categorical splits")
    (explainer,) = _cached(est, lambda: [_tree_explainer(est, model_output="raw")])
    X = np.asarray(_dense(Xt), dtype=np.float64)
    base, values = _stacked(explainer.shap_values(X, check_additivity=False), explainer.expected_value, len(X))
    return RawShap(base=base, values=values, margin=True)


def _tree_dict(tree: Any, scale: float) -> dict[str, np.ndarray]:
    """A scikit-learn regression tree in shap's dictionary form, leaf values times `scale`."""
    missing_left = getattr(tree, "missing_go_to_left", np.ones(tree.node_count, dtype=np.uint8)).astype(bool)
    return {
        "children_left": tree.children_left, "children_right": tree.children_right,
        "children_default": np.where(missing_left, tree.children_left, tree.children_right),
        "features": tree.feature, "thresholds": tree.threshold.astype(np.float64),
        "values": tree.value[:, 0, :].astype(np.float64) * scale,
        "node_sample_weight": tree.weighted_n_node_samples.astype(np.float64),
    }


def _gradient_boosting(est: Any, Xt: Any) -> RawShap:
    """One TreeSHAP per output (shap's own GradientBoosting support is binary only), each over that output's
    stages scaled by the learning rate, the init estimator's raw prediction as its offset."""
    _check_loss(est)
    X = np.asarray(_dense(Xt), dtype=np.float32)

    def build() -> list[Any]:
        init = np.asarray(est._raw_predict_init(X[:1]), dtype=np.float64)[0]  # constant: the default prior init
        return [_tree_explainer({
            "trees": [_tree_dict(t.tree_, est.learning_rate) for t in est.estimators_[:, k]],
            "base_offset": float(init[k]), "input_dtype": np.float32, "tree_output": "raw_value",
        }) for k in range(est.estimators_.shape[1])]

    explainers = _cached(est, build)
    values = [np.asarray(e.shap_values(X, check_additivity=False), dtype=np.float64) for e in explainers]
    base = np.tile([float(np.ravel(e.expected_value)[0]) for e in explainers], (len(X), 1))
    return RawShap(base=base, values=values, margin=True)


_FAMILIES: list[tuple[tuple[type, ...], Callable[[Any, Any], RawShap]]] = [
    ((lgb.LGBMModel,), _lightgbm),
    ((xgb.XGBModel,), _xgboost),
    ((CatBoost,), _catboost),
    ((LogisticRegression, LogisticRegressionCV, LinearRegression, Ridge, RidgeCV), _linear),
    ((RandomForestClassifier, RandomForestRegressor, ExtraTreesClassifier, ExtraTreesRegressor), _forest),
    ((HistGradientBoostingClassifier, HistGradientBoostingRegressor), _hist_gradient_boosting),
    ((GradientBoostingClassifier, GradientBoostingRegressor), _gradient_boosting),
]


def raw_shap(est: Any, Xt: Any) -> RawShap:
    """Exact SHAP values of the fitted final model `est` on its transformed input `Xt`."""
    for types, explain in _FAMILIES:
        if isinstance(est, types):
            return explain(est, Xt)
    raise EngineError(f"no exact explanation for {type(est).__name__}")
