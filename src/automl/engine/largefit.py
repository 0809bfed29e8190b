"""The models `fit_large` trains on the cluster: LightGBM's and XGBoost's Dask interfaces, on the matrix that
`largeprep.LargePreprocessor` makes of each partition, each stopped at one agreed iteration (`largestop`).

A `Family` is one of them: its parameters, its fit (the Dask estimator, then the local model that serves) and
its preprocessor (XGBoost's writes NaN for unknown categories).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer

from automl.engine.dataprep import IMBALANCE_SHARE
from automl.engine.errors import EngineError
from automl.engine.kinds import coerce_frame
from automl.engine.largeprep import LargePreprocessor, cluster_coerce
from automl.engine.largestop import Stopper, Watch, XGBoostStopper, run_guarded
from automl.engine.task import Metric

PATIENCE = 50
LOST_GRACE_S = 60.0  # past the deadline, a fit still running is given up


@dataclass
class Spec:
    target: str
    kinds: dict[str, str]
    problem_type: str
    metric: Metric
    classes: np.ndarray | None
    prep: LargePreprocessor
    transformer: ColumnTransformer  # the serving pipeline's first step: `prep` on its columns
    warnings: list[str] = field(default_factory=list)


def encode(y: pd.Series, classes: np.ndarray | None) -> np.ndarray:
    if classes is None:
        return pd.to_numeric(y, errors="coerce").to_numpy(dtype=np.float64)
    return pd.Index(classes).get_indexer(y.to_numpy()).astype(np.int32)


def matrix(df: pd.DataFrame, spec: Spec) -> np.ndarray:
    return spec.transformer.transform(cluster_coerce(df, spec.kinds))


def transformer(prep: LargePreprocessor, kinds: dict[str, str], rows: pd.DataFrame) -> ColumnTransformer:
    """`prep` as a fitted ColumnTransformer, the first step every served pipeline has (the fast path compiles
    it, delegating to `prep`); fitted on a few rows only for their column names: `prep`'s state is the scan's."""
    columns = [str(c) for c in prep.feature_names_in_]
    rows = rows.head(100) if len(rows) else pd.DataFrame({c: [None] for c in kinds})
    ct = ColumnTransformer([("large", prep, columns)], remainder="drop", sparse_threshold=0.0)
    return ct.fit(coerce_frame(rows, kinds))


def _lgb_params(spec: Spec, n_train: int, seed: int) -> dict[str, Any]:
    return {
        "n_estimators": 5000, "learning_rate": 0.1, "num_leaves": 63 if n_train > 100_000 else 31,
        "min_child_samples": 20, "colsample_bytree": 0.9, "subsample": 1.0, "verbose": -1,
        "random_state": seed, "deterministic": True, "tree_learner": "data",
        "time_out": 10,  # minutes a worker waits on the others' sockets before failing
    }


def _fit_lightgbm(client: Any, train: Any, spec: Spec, es: tuple[np.ndarray, np.ndarray], *, params: dict[str, Any],
                  deadline: float, should_stop: Callable[[], bool]) -> tuple[Any, dict[str, Any]]:
    import lightgbm as lgb

    n_classes = 0 if spec.classes is None else len(spec.classes)
    X = train.map_partitions(matrix, spec, meta=np.empty((0, spec.prep.n_features_out_), np.float32))
    y = train[spec.target].map_partitions(encode, spec.classes,
                                          meta=np.empty((0,), np.int32 if n_classes else np.float64))
    cls = lgb.DaskLGBMClassifier if n_classes else lgb.DaskLGBMRegressor
    est = cls(client=client, **params)
    name = f"automl-large-{uuid.uuid4().hex}"
    min_delta = 1e-4 if n_classes else 1e-4 * float(np.var(es[1]))
    stopper = Stopper(es[0], es[1], n_classes=n_classes, name=name, patience=PATIENCE, min_delta=min_delta)
    start = time.monotonic()
    with Watch(client, name, deadline=deadline, should_stop=should_stop) as watch:
        run_guarded(client, lambda: est.fit(X, y, callbacks=[stopper],
                                             categorical_feature=spec.prep.categorical_indices),
                     give_up_at=deadline + LOST_GRACE_S)
    local = est.to_local()
    info = {"fit_seconds": round(time.monotonic() - start, 3), "trees": int(local.booster_.current_iteration()),
            "best_iteration": int(local.best_iteration_ or local.booster_.current_iteration()),
            "stopped_by": "cancel" if watch.cancelled else ("deadline" if watch.asked else "early stopping"),
            "cancelled": watch.cancelled}
    return local, info


def _xgb_params(spec: Spec, n_train: int, seed: int) -> dict[str, Any]:
    n_classes = 0 if spec.classes is None else len(spec.classes)
    if n_classes == 0:
        task: dict[str, Any] = {"objective": "reg:squarederror", "eval_metric": "rmse"}
    elif n_classes == 2:
        task = {"objective": "binary:logistic", "eval_metric": "logloss"}
    else:
        task = {"objective": "multi:softprob", "num_class": n_classes, "eval_metric": "mlogloss"}
    return {**task, "tree_method": "hist", "learning_rate": 0.1, "max_depth": 8 if n_train > 100_000 else 6,
            "colsample_bytree": 0.9, "max_cat_to_onehot": 1, "seed": seed}


def _fit_xgboost(client: Any, train: Any, spec: Spec, es: tuple[np.ndarray, np.ndarray], *, params: dict[str, Any],
                 deadline: float, should_stop: Callable[[], bool]) -> tuple[Any, dict[str, Any]]:
    import dask.array as da
    import xgboost as xgb
    from xgboost import dask as dxgb

    n_classes = 0 if spec.classes is None else len(spec.classes)
    width = spec.prep.n_features_out_
    X = train.map_partitions(matrix, spec, meta=np.empty((0, width), np.float32))
    y = train[spec.target].map_partitions(encode, spec.classes,
                                          meta=np.empty((0,), np.int32 if n_classes else np.float64))
    cats = set(spec.prep.categorical_indices)
    types = ["c" if j in cats else "q" for j in range(width)]
    dtrain = dxgb.DaskQuantileDMatrix(client, X, y, feature_types=types, enable_categorical=True)
    des = dxgb.DaskDMatrix(client, da.from_array(es[0], chunks=es[0].shape), da.from_array(es[1], chunks=len(es[1])),
                           feature_types=types, enable_categorical=True)
    name = f"automl-large-{uuid.uuid4().hex}"
    out: dict[str, Any] = {}
    start = time.monotonic()
    with Watch(client, name, deadline=deadline, should_stop=should_stop) as watch:
        run_guarded(client, lambda: out.update(dxgb.train(
            client, params, dtrain, num_boost_round=5000, evals=[(des, "es")], early_stopping_rounds=PATIENCE,
            callbacks=[XGBoostStopper(name)], verbose_eval=False)), give_up_at=deadline + LOST_GRACE_S)
    booster = out["booster"]
    local = (xgb.XGBClassifier if n_classes else xgb.XGBRegressor)(enable_categorical=True)
    local.load_model(bytearray(booster.save_raw(raw_format="ubj")))
    rounds = booster.num_boosted_rounds()
    best = int(getattr(booster, "best_iteration", rounds - 1)) + 1
    info = {"fit_seconds": round(time.monotonic() - start, 3), "trees": rounds, "best_iteration": best,
            "stopped_by": "cancel" if watch.cancelled else ("deadline" if watch.asked else "early stopping"),
            "cancelled": watch.cancelled}
    return local, info


def _xgb_spec(spec: Spec, rows: pd.DataFrame) -> Spec:
    """XGBoost refuses negative categories: its preprocessor writes NaN for unknown and missing ones."""
    prep = LargePreprocessor(numeric=spec.prep.numeric, datetime=spec.prep.datetime, categories=spec.prep.categories,
                             missing_code=np.nan).fit()
    return replace(spec, prep=prep, transformer=transformer(prep, spec.kinds, rows))


@dataclass(frozen=True)
class Family:
    engine: str
    params: Callable[[Spec, int, int], dict[str, Any]]
    fit: Callable[..., tuple[Any, dict[str, Any]]]
    spec: Callable[[Spec, pd.DataFrame], Spec]


FAMILIES = {
    "lightgbm": Family("lightgbm.dask", _lgb_params, _fit_lightgbm, lambda spec, rows: spec),
    "xgboost": Family("xgboost.dask", _xgb_params, _fit_xgboost, _xgb_spec),
}


@dataclass
class BudgetClock:
    """A large fit's budget: when it started, how long it has."""

    start: float
    total: float

    def fraction(self) -> float:
        return min(1.0, (time.monotonic() - self.start) / self.total)


def class_warnings(scan: dict[str, Any], spec: Spec) -> list[str]:
    if spec.classes is None:
        return []
    shares = scan["target"] / scan["target"].sum()
    return [f"Class imbalance: the rarest class is {shares.min():.1%} of rows."] if shares.min() < IMBALANCE_SHARE \
        else []


def check_algorithms(algorithms: tuple[str, ...]) -> None:
    unknown = [a for a in algorithms if a not in FAMILIES]
    if unknown or not algorithms:
        raise EngineError(f"Unknown large-data algorithm(s) {unknown}; use {sorted(FAMILIES)}.")
