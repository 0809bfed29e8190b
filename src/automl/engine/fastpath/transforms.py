"""A fitted ColumnTransformer compiled to array code, step by step.

Imputers, clipping and scaling become numpy arithmetic; one-hot, ordinal and target encoders a
per-value lookup table read off the fitted encoder itself (it is run on every known category, a null
and an unseen value: exact by construction, no re-implementation of its rules); datetime parts the
same function training uses; anything else the step's own `transform`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler, TargetEncoder

from automl.engine.preprocess import ClipToRange, ToCategory, datetime_part_matrix, datetime_parts

UNSEEN = "\x00unseen\x00"
SMALL_LOOKUP = 64  # rows up to this are looked up in a dict; more go through a pandas Index
Array = Any  # np.ndarray or a scipy sparse matrix


class Unsupported(Exception):
    """A step the fast path does not handle; the model keeps the regular path."""


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


def encoder_widths(enc: Any) -> list[int]:
    """Output columns per input feature."""
    if isinstance(enc, OneHotEncoder):
        if enc.drop is not None:
            raise Unsupported("one-hot with drop")
        infrequent = getattr(enc, "infrequent_categories_", None) or [None] * len(enc.categories_)
        return [len(c) - (0 if inf is None else len(inf) - 1)
                for c, inf in zip(enc.categories_, infrequent, strict=True)]
    if isinstance(enc, OrdinalEncoder):
        return [1] * len(enc.categories_)
    if isinstance(enc, TargetEncoder):
        width = len(enc.classes_) if enc.target_type_ == "multiclass" else 1
        return [width] * len(enc.categories_)
    raise Unsupported(type(enc).__name__)


def _is_missing(value: Any) -> bool:
    """pd.isna for one value, cheap for the strings that categorical columns hold."""
    return not isinstance(value, str) and (value is None or bool(pd.isna(value)))


class _Lookup:
    """Encoders whose output columns for a feature depend on that feature's value only.

    Each feature gets a table (one output block per known category, then the blocks for a missing and
    an unseen value), filled by running the fitted encoder itself on those values.
    """

    def __init__(self, enc: Any) -> None:
        widths = encoder_widths(enc)
        base = [c[0] for c in enc.categories_]
        self.keys: list[pd.Index] = []
        self.positions: list[dict[Any, int]] = []  # the same lookup for a few rows, without pandas
        self.tables: list[np.ndarray] = []
        offset = 0
        for i, (categories, width) in enumerate(zip(enc.categories_, widths, strict=True)):
            known = [c for c in categories if not pd.isna(c)]
            probe = np.empty((len(known) + 2, len(base)), dtype=object)
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
            values, missing, unseen = X[:, i], len(keys), len(keys) + 1
            if len(X) <= SMALL_LOOKUP:
                pos = self.positions[i]
                idx = np.array([missing if _is_missing(v) else pos.get(v, unseen) for v in values], dtype=np.intp)
            else:
                idx = keys.get_indexer(pd.Index(values, dtype=object))
                idx[idx < 0] = unseen
                idx[pd.isna(values)] = missing
            blocks.append(table[idx])
        return np.hstack(blocks)


class _Codes:
    """ToCategory as LightGBM's booster reads it: the code as a float, unknown (-1) as missing."""

    def __init__(self, tc: ToCategory) -> None:
        self.n_levels = np.asarray(list(tc.n_levels_.values()), dtype=np.float64)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        return np.where((X >= 0) & (X < self.n_levels), X, np.nan)


def _identity(X: Any) -> Any:
    return X


def _compile_step(est: Any) -> Any:
    if isinstance(est, FunctionTransformer) and est.func is None:  # a fitted "passthrough"
        return _identity
    if isinstance(est, FunctionTransformer) and est.func is datetime_parts:
        return datetime_part_matrix  # datetime_parts' own arithmetic, on the coerced datetime64 columns
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

    def _matrix(self, cols: dict[str, np.ndarray]) -> Any:
        arrays = [cols[c] for c in self.columns]
        if self.named:
            return pd.DataFrame(dict(zip(self.columns, arrays, strict=True)))
        if all(a.dtype.kind == "f" for a in arrays) or all(a.dtype.kind == "M" for a in arrays):
            return np.column_stack(arrays)
        X = np.empty((len(arrays[0]), len(arrays)), dtype=object)
        for j, a in enumerate(arrays):
            X[:, j] = a
        return X

    def __call__(self, cols: dict[str, np.ndarray]) -> Array:
        X = self._matrix(cols)
        for step in self.steps:
            X = step(X)
        return X.to_numpy() if isinstance(X, pd.DataFrame) else X


class CompiledTransformer:
    """The fitted ColumnTransformer on coerced column arrays; returns the matrix its `transform` gives."""

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
