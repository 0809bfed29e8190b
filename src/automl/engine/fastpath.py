"""The fitted pipelines compiled to plain array code, for fast serving of small and large batches.

A scikit-learn ColumnTransformer plus pandas cost about 4 ms per call whatever the row count, and
the sklearn LightGBM wrapper another 1.6 ms: a REST prediction of one row must cost well under a
millisecond. `compile_fast` walks a FittedModel's fitted pipelines once and turns every step into
numpy arithmetic (imputers, clipping, scaling), a per-value lookup table read off the fitted encoder
itself (one-hot, ordinal, target encoding: exact by construction, no re-implementation of their
rules), or, for anything else, the step's own `transform`. Models are called on the float matrix
directly (LightGBM's booster with a thread count chosen by batch size).

The compiled form is only used after it reproduced the regular path on real rows, on a row of nulls
and on a row of unseen categories (`compile_verified`); otherwise the model keeps the regular path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import scipy.sparse as sp
import xgboost as xgb
from scipy.special import expit, softmax
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, LogisticRegressionCV, Ridge, RidgeCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler, TargetEncoder

from automl.engine.kinds import coerce_column
from automl.engine.preprocess import ClipToRange, ToCategory, datetime_parts

log = logging.getLogger(__name__)
SMALL_BATCH = 2_000  # below this, one thread per model: thread start-up costs more than it saves
UNSEEN = "\x00unseen\x00"
Array = Any  # np.ndarray or a scipy sparse matrix


class Unsupported(Exception):
    """A step or model the fast path does not handle; the model keeps the regular path."""


# -- input coercion: kinds.coerce_frame's rules on numpy arrays ---------------------------------------------

def _is_missing(value: Any) -> bool:
    if isinstance(value, str):
        return False
    return value is None or bool(pd.isna(value))


def _is_plain_number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def coerce_arrays(df: pd.DataFrame, kinds: dict[str, str]) -> dict[str, np.ndarray]:
    """What `coerce_frame` gives, as one array per column, without building frames for the common kinds."""
    n = len(df)
    out: dict[str, np.ndarray] = {}
    for name, kind in kinds.items():
        if name not in df.columns:
            values = np.full(n, np.nan, dtype=float if kind in ("numeric", "boolean") else object)
            out[name] = values if kind != "datetime" else np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
            continue
        values = df[name].to_numpy()
        if kind == "numeric" and values.dtype.kind in "fiu":
            out[name] = values.astype(np.float64, copy=False)
        elif kind == "numeric" and n <= SMALL_BATCH and all(_is_plain_number(v) for v in values):
            out[name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        elif kind in ("categorical", "text") and (n <= SMALL_BATCH or values.dtype == object):
            col = np.empty(n, dtype=object)
            col[:] = [np.nan if _is_missing(v) else str(v) for v in values.astype(object, copy=False)]
            out[name] = col
        else:
            out[name] = coerce_column(df[name], kind).to_numpy()
    return out


# -- transforms ---------------------------------------------------------------------------------------------

Step = Callable[[Any], Array]


def _as_frame_if_named(est: Any, X: Any) -> Any:
    """Estimators fitted on a DataFrame want one back (same column names), or they warn."""
    names = getattr(est, "feature_names_in_", None)
    if names is not None and not isinstance(X, pd.DataFrame):
        return pd.DataFrame(X, columns=list(names))
    return X


class _Delegate:
    """Any other fitted transformer: its own `transform` (correct, not faster)."""

    def __init__(self, est: Any) -> None:
        self.est = est

    def __call__(self, X: Any) -> Array:
        out = self.est.transform(_as_frame_if_named(self.est, X))
        return out.to_numpy() if isinstance(out, pd.DataFrame) else out


class _Impute:
    def __init__(self, imputer: SimpleImputer) -> None:
        if not (isinstance(imputer.missing_values, float) and np.isnan(imputer.missing_values)):
            raise Unsupported("imputer with a custom missing marker")
        self.fill = imputer.statistics_
        self.numeric = imputer.strategy != "constant" or not isinstance(imputer.fill_value, str)
        self.indicator = None if imputer.indicator_ is None else np.asarray(imputer.indicator_.features_)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64 if self.numeric else object)
        mask = np.isnan(X) if self.numeric else pd.isna(X)
        out = np.where(mask, self.fill, X)
        if self.indicator is not None:
            out = np.hstack([out, mask[:, self.indicator].astype(np.float64)])
        return out


class _Scale:
    def __init__(self, scaler: StandardScaler) -> None:
        self.mean = scaler.mean_ if scaler.with_mean else 0.0
        self.scale = scaler.scale_ if scaler.with_std else 1.0

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=np.float64) - self.mean) / self.scale


class _Lookup:
    """Encoders whose output columns for a feature depend on that feature's value only.

    Each feature gets a table (one output block per known category, plus the blocks for a missing and
    an unseen value), filled by running the fitted encoder itself on those values.
    """

    def __init__(self, enc: Any) -> None:
        widths = _encoder_widths(enc)
        cats = enc.categories_
        base = [c[0] for c in cats]
        self.keys: list[pd.Index] = []
        self.positions: list[dict[Any, int]] = []  # the same lookup for a few rows, without pandas
        self.tables: list[np.ndarray] = []
        offset = 0
        for i, (categories, width) in enumerate(zip(cats, widths, strict=True)):
            known = [c for c in categories if not _is_missing(c)]
            probe = np.empty((len(known) + 2, len(cats)), dtype=object)
            probe[:] = base
            probe[:, i] = [*known, np.nan, UNSEEN]
            out = enc.transform(_as_frame_if_named(enc, probe))
            out = out.toarray() if sp.issparse(out) else np.asarray(out, dtype=np.float64)
            if out.shape[1] != sum(widths):
                raise Unsupported(f"{type(enc).__name__} output width")
            self.keys.append(pd.Index(known, dtype=object))
            self.positions.append({k: j for j, k in enumerate(known)})
            self.tables.append(out[:, offset:offset + width])
            offset += width

    def __call__(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=object)
        blocks = []
        for i, (keys, table) in enumerate(zip(self.keys, self.tables, strict=True)):
            missing, unseen = len(keys), len(keys) + 1
            if len(X) <= 64:
                pos = self.positions[i]
                idx = np.array([missing if _is_missing(v) else pos.get(v, unseen) for v in X[:, i]], dtype=np.intp)
            else:
                idx = keys.get_indexer(pd.Index(X[:, i], dtype=object))
                idx[idx < 0] = unseen
                idx[pd.isna(X[:, i])] = missing
            blocks.append(table[idx])
        return np.hstack(blocks)


def _encoder_widths(enc: Any) -> list[int]:
    if isinstance(enc, OneHotEncoder):
        if enc.drop is not None:
            raise Unsupported("one-hot with drop")
        infrequent = getattr(enc, "infrequent_categories_", None) or [None] * len(enc.categories_)
        return [len(c) - (0 if inf is None else len(inf) - 1) for c, inf in zip(enc.categories_, infrequent,
                                                                                   strict=True)]
    if isinstance(enc, OrdinalEncoder):
        return [1] * len(enc.categories_)
    if isinstance(enc, TargetEncoder):
        width = len(enc.classes_) if enc.target_type_ == "multiclass" else 1
        return [width] * len(enc.categories_)
    raise Unsupported(type(enc).__name__)


class _Codes:
    """ToCategory as LightGBM's booster reads it: the code as a float, unknown (-1) as missing."""

    def __init__(self, tc: ToCategory) -> None:
        self.n_levels = np.asarray(list(tc.n_levels_.values()), dtype=np.float64)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        return np.where((X >= 0) & (X < self.n_levels), X, np.nan)


def _datetime_parts(X: np.ndarray) -> np.ndarray:
    """preprocess.datetime_parts on datetime64 columns, in numpy: year, month, day, day_of_week, hour."""
    blocks = []
    for j in range(X.shape[1]):
        a = X[:, j].astype("datetime64[ns]")
        days = a.astype("datetime64[D]")
        months = a.astype("datetime64[M]")
        parts = np.column_stack([
            a.astype("datetime64[Y]").astype(np.int64) + 1970,
            months.astype(np.int64) % 12 + 1,
            (days - months).astype(np.int64) + 1,
            (days.astype(np.int64) + 3) % 7,  # 1970-01-01 was a Thursday; Monday is 0
            (a - days).astype("timedelta64[h]").astype(np.int64),
        ]).astype(np.float64)
        parts[np.isnat(a)] = np.nan
        blocks.append(parts)
    return np.hstack(blocks)


def _identity(X: Any) -> Any:
    return X


def _compile_step(est: Any) -> Step:
    if isinstance(est, FunctionTransformer) and est.func is None:  # a fitted "passthrough"
        return _identity
    if isinstance(est, FunctionTransformer) and est.func is datetime_parts:
        return _datetime_parts
    if isinstance(est, SimpleImputer):
        return _Impute(est)
    if isinstance(est, StandardScaler):
        return _Scale(est)
    if isinstance(est, ClipToRange):
        return est.transform
    if isinstance(est, OneHotEncoder | OrdinalEncoder | TargetEncoder):
        return _Lookup(est)
    if isinstance(est, ToCategory):
        return _Codes(est)
    return _Delegate(est)


class _Part:
    """One ColumnTransformer entry: its input columns and its compiled steps."""

    def __init__(self, trans: Any, columns: list[str]) -> None:
        self.columns = columns
        steps = [est for _, est in trans.steps] if isinstance(trans, Pipeline) else [trans]
        self.steps = [] if trans == "passthrough" else [_compile_step(s) for s in steps]
        # a delegated first step sees the columns by name, as in training
        self.named = bool(self.steps) and isinstance(self.steps[0], _Delegate)

    def __call__(self, cols: dict[str, np.ndarray]) -> Array:
        arrays = [cols[c] for c in self.columns]
        if self.named:
            X: Any = pd.DataFrame(dict(zip(self.columns, arrays, strict=True)))
        elif all(a.dtype.kind == "f" for a in arrays) or all(a.dtype.kind == "M" for a in arrays):
            X = np.column_stack(arrays)
        else:
            X = np.empty((len(arrays[0]), len(arrays)), dtype=object)
            for j, a in enumerate(arrays):
                X[:, j] = a
        for step in self.steps:
            X = step(X)
        return X.to_numpy() if isinstance(X, pd.DataFrame) else X


class CompiledTransformer:
    def __init__(self, ct: ColumnTransformer) -> None:
        self.parts = [
            _Part(trans, list(columns)) for name, trans, columns in ct.transformers_
            if trans != "drop" and name != "remainder" and len(columns)
        ]

    def __call__(self, cols: dict[str, np.ndarray]) -> Array:
        outs = [part(cols) for part in self.parts]
        if any(sp.issparse(o) for o in outs):
            return sp.hstack([sp.csr_matrix(o, dtype=np.float64) for o in outs], format="csr")
        if any(np.asarray(o).dtype == object for o in outs):
            return np.hstack([np.asarray(o, dtype=object) for o in outs])
        return np.hstack([np.asarray(o, dtype=np.float64) for o in outs])


# -- models -------------------------------------------------------------------------------------------------

class _Trees:
    """Decision trees as flat node arrays, all trees walked at once, one level per numpy step.

    scikit-learn calls each tree in turn: tens of microseconds apiece for random forests, and an OpenMP
    region per tree for HistGradientBoosting (about a millisecond each for one row). Walking every tree
    together costs the depth of the trees instead. For small batches only: the (rows x trees) node
    matrix grows with both.
    """

    MAX_CELLS = 200_000  # rows x trees
    MAX_NODES = 2_000_000  # about 60 MB of flat arrays; bigger forests keep scikit-learn's own predict

    def __init__(self, trees: list[dict[str, np.ndarray]], *, float32: bool) -> None:
        sizes = np.array([len(t["left"]) for t in trees])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        self.roots = offsets

        def children(side: str) -> np.ndarray:  # tree-local child ids -> flat ids, leaves stay -1
            return np.concatenate([np.where(t[side] >= 0, t[side] + o, -1) for t, o in zip(trees, offsets,
                                                                                           strict=True)])

        self.left, self.right = children("left"), children("right")
        self.feature = np.concatenate([np.maximum(t["feature"], 0) for t in trees]).astype(np.intp)
        self.threshold = np.concatenate([t["threshold"] for t in trees])
        self.missing_left = np.concatenate([t["missing_left"] for t in trees]).astype(bool)
        self.float32 = float32  # sklearn's classic trees compare float32 features
        self.n_trees = len(trees)

    def fits(self, n_rows: int) -> bool:
        return n_rows * self.n_trees <= self.MAX_CELLS

    def leaves(self, A: np.ndarray) -> np.ndarray:
        X = np.asarray(A, dtype=np.float32 if self.float32 else np.float64)
        rows = np.arange(len(X))[:, None]
        node = np.broadcast_to(self.roots, (len(X), self.n_trees)).copy()
        while True:
            inner = self.left[node] >= 0
            if not inner.any():
                return node
            x = X[rows, self.feature[node]]
            go_left = np.where(np.isnan(x), self.missing_left[node], x <= self.threshold[node])
            node = np.where(inner, np.where(go_left, self.left[node], self.right[node]), node)


def _node_count(forest: Any) -> int:
    return sum(t.tree_.node_count for t in forest.estimators_)


class _Forest:
    """RandomForest / ExtraTrees: the mean of the trees' leaf values (class shares, normalised per leaf)."""

    def __init__(self, est: Any) -> None:
        trees = [t.tree_ for t in est.estimators_]
        self.trees = _Trees([{
            "left": t.children_left, "right": t.children_right, "feature": t.feature, "threshold": t.threshold,
            "missing_left": getattr(t, "missing_go_to_left", np.zeros(t.node_count, dtype=np.uint8)),
        } for t in trees], float32=True)
        values = np.concatenate([t.value[:, 0, :] for t in trees])
        self.classifier = hasattr(est, "classes_")
        if self.classifier:  # as DecisionTreeClassifier.predict_proba normalises them
            totals = values.sum(axis=1, keepdims=True)
            values = values / np.where(totals == 0, 1.0, totals)
        self.values = values

    def __call__(self, A: np.ndarray) -> np.ndarray:
        out = self.values[self.trees.leaves(A)].mean(axis=1)
        return out if self.classifier else out[:, 0]


class _HistBoosting:
    """HistGradientBoosting without categorical splits: baseline + the sum of each class's trees, then the link."""

    def __init__(self, est: Any) -> None:
        loss = getattr(est, "loss", None)
        if loss not in ("log_loss", "squared_error"):
            raise Unsupported(f"HistGradientBoosting loss {loss!r}")
        predictors = [tree for iteration in est._predictors for tree in iteration]
        nodes = [p.nodes for p in predictors]
        if any(n["is_categorical"].any() for n in nodes):
            raise Unsupported("HistGradientBoosting with categorical splits")
        self.trees = _Trees([{
            "left": np.where(n["is_leaf"] == 1, -1, n["left"].astype(np.intp)),
            "right": np.where(n["is_leaf"] == 1, -1, n["right"].astype(np.intp)),
            "feature": n["feature_idx"], "threshold": n["num_threshold"], "missing_left": n["missing_go_to_left"],
        } for n in nodes], float32=False)
        self.values = np.concatenate([n["value"] for n in nodes])
        self.n_outputs = len(est._predictors[0])
        self.baseline = np.asarray(est._baseline_prediction, dtype=np.float64).ravel()
        self.classifier = hasattr(est, "classes_")

    def __call__(self, A: np.ndarray) -> np.ndarray:
        leaf_values = self.values[self.trees.leaves(A)]  # (rows, iterations * outputs)
        raw = leaf_values.reshape(len(leaf_values), -1, self.n_outputs).sum(axis=1) + self.baseline
        if not self.classifier:
            return raw[:, 0]
        if self.n_outputs == 1:
            p = expit(raw[:, 0])
            return np.column_stack([1.0 - p, p])
        return softmax(raw, axis=1)


def _linear(est: Any, n_classes: int) -> Callable[[Any], np.ndarray] | None:
    """Linear models as one matrix product (sklearn's own formulas; verified like everything else)."""
    if isinstance(est, LinearRegression | Ridge | RidgeCV) and n_classes == 0 and np.ndim(est.coef_) == 1:
        return lambda A: A @ est.coef_ + est.intercept_
    if isinstance(est, LogisticRegression | LogisticRegressionCV) and n_classes:
        coef, intercept = est.coef_.T, est.intercept_
        if coef.shape[1] == 1:  # binary: P(class 1) = expit(decision)
            def binary(A: Any) -> np.ndarray:
                p = expit((A @ coef + intercept).ravel())
                return np.column_stack([1.0 - p, p])
            return binary
        return lambda A: softmax(A @ coef + intercept, axis=1)
    return None


def _xgboost(est: Any) -> Callable[[Any], np.ndarray] | None:
    if not isinstance(est, xgb.XGBModel):
        return None
    booster = est.get_booster()
    best = getattr(est, "best_iteration", None)
    iterations = (0, best + 1) if best is not None else (0, 0)
    classifier = hasattr(est, "classes_")

    def predict(A: Any) -> np.ndarray:
        out = booster.inplace_predict(A, iteration_range=iterations)
        if classifier and out.ndim == 1:
            out = np.column_stack([1.0 - out, out])
        return out
    return predict


class CompiledEstimator:
    """The final model, called on the transformed matrix; returns what `predict_internal` returns."""

    def __init__(self, est: Any, n_classes: int) -> None:
        self.est = est
        self.n_classes = n_classes
        self.booster = est.booster_ if isinstance(est, lgb.LGBMModel) else None
        forests = (RandomForestClassifier, RandomForestRegressor, ExtraTreesClassifier, ExtraTreesRegressor)
        self.trees: _Forest | _HistBoosting | None = None
        if isinstance(est, forests) and est.n_outputs_ == 1 and _node_count(est) <= _Trees.MAX_NODES:
            self.trees = _Forest(est)
        elif isinstance(est, HistGradientBoostingClassifier | HistGradientBoostingRegressor):
            self.trees = _HistBoosting(est)
        self.classes = None if n_classes == 0 else np.asarray(est.classes_, dtype=int)
        self.direct = _linear(est, n_classes) or _xgboost(est)

    def _lightgbm(self, A: Any, threads: int) -> np.ndarray:
        out = self.booster.predict(A, num_threads=threads)
        if self.n_classes and out.ndim == 1:  # binary: P(class 1)
            out = np.column_stack([1.0 - out, out])
        return out

    def __call__(self, A: Any, threads: int) -> np.ndarray:
        if self.booster is not None:
            raw = self._lightgbm(A, threads)
        elif self.direct is not None and not sp.issparse(A):
            raw = self.direct(A)
        elif self.trees is not None and self.trees.trees.fits(A.shape[0]) and not sp.issparse(A):
            raw = self.trees(A)
        elif self.n_classes == 0:
            return np.asarray(self.est.predict(A), dtype=np.float64)
        else:
            raw = self.est.predict_proba(A)
        if self.n_classes == 0:
            return np.asarray(raw, dtype=np.float64)
        out = np.zeros((raw.shape[0], self.n_classes))
        out[:, self.classes] = raw
        return out


class FastModel:
    """Raw input rows -> the FittedModel's internal predictions, through the compiled members."""

    def __init__(self, kinds: dict[str, str], members: Sequence[tuple[Pipeline, float]], n_classes: int) -> None:
        self.kinds = dict(kinds)
        compiled: dict[int, CompiledTransformer] = {}
        self.members: list[tuple[CompiledTransformer, CompiledEstimator, float]] = []
        for pipe, weight in members:
            prep = pipe[0]
            if id(prep) not in compiled:
                compiled[id(prep)] = CompiledTransformer(prep)
            est = pipe[-1]
            self.members.append((compiled[id(prep)], CompiledEstimator(est, n_classes), weight))

    def predict_raw(self, df: pd.DataFrame) -> np.ndarray:
        cols = coerce_arrays(df, self.kinds)
        threads = 1 if len(df) < SMALL_BATCH else (os.cpu_count() or 1)
        transformed: dict[int, Array] = {}
        total: Any = 0.0
        for prep, est, weight in self.members:
            if id(prep) not in transformed:
                transformed[id(prep)] = prep(cols)
            total = total + weight * est(transformed[id(prep)], threads)
        return np.asarray(total)


def synthetic_rows(input_schema: Sequence[dict[str, Any]], n: int = 40, seed: int = 0) -> pd.DataFrame:
    """Rows made from the model's input schema alone (its categories, numbers of several magnitudes, nulls):
    enough to exercise every compiled step without keeping any training rows in the artifact."""
    rng = np.random.default_rng(seed)
    cols: dict[str, list[Any]] = {}
    for col in input_schema:
        kind, cats = col.get("kind"), col.get("categories") or []
        if kind == "numeric":
            values: list[Any] = list(rng.normal(size=n) * rng.choice([1.0, 10.0, 1000.0], size=n))
        elif kind == "boolean":
            values = list(rng.choice([True, False], size=n))
        elif kind == "datetime":
            days = rng.integers(0, 365 * 30, size=n)
            values = [str(np.datetime64("2000-01-01") + int(d)) for d in days]
        elif kind == "text":
            words = np.array(["data", "model", "price", "good", "bad", "the", "of", "new", "red", "fast"])
            values = [" ".join(rng.choice(words, size=6)) for _ in range(n)]
        else:
            values = list(rng.choice(cats, size=n)) if cats else [f"level_{i % 3}" for i in range(n)]
        for i in rng.choice(n, size=max(1, n // 8), replace=False):
            values[i] = None
        cols[col["name"]] = values
    return pd.DataFrame(cols)


def probe_rows(sample: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Sample rows plus a row of nulls and a row with every text column set to an unseen value."""
    nulls = pd.DataFrame([{c: None for c in sample.columns}])
    unseen = sample.head(1).copy()
    for col, kind in kinds.items():
        if kind in ("categorical", "text") and col in unseen:
            unseen[col] = unseen[col].astype(object)
            unseen.loc[:, col] = "never seen in training"
    return pd.concat([sample.astype(object), nulls, unseen.astype(object)], ignore_index=True)


def compile_verified(
    kinds: dict[str, str], members: Sequence[tuple[Pipeline, float]], n_classes: int,
    regular: Callable[[pd.DataFrame], np.ndarray], sample: pd.DataFrame,
) -> FastModel | None:
    """A FastModel that reproduced `regular` on `sample` (raw rows), row by row and as one batch; else None."""
    try:
        fast = FastModel(kinds, members, n_classes)
        rows = probe_rows(sample, kinds)
        expected = regular(rows)
        batch = fast.predict_raw(rows)
        singles = np.concatenate([fast.predict_raw(rows.iloc[[i]]) for i in (0, len(rows) - 2, len(rows) - 1)])
        picked = expected[[0, len(rows) - 2, len(rows) - 1]]
        if np.allclose(batch, expected, rtol=1e-6, atol=1e-8) and np.allclose(singles, picked, rtol=1e-6, atol=1e-8):
            return fast
        log.warning("fast path disagrees with the regular path (max diff %.3g); not used",
                    float(np.nanmax(np.abs(batch - expected))))
    except Unsupported as exc:
        log.info("fast path not available: %s", exc)
    except Exception:  # a compile bug must never break training or serving: keep the regular path
        log.exception("fast path compilation failed; not used")
    return None
