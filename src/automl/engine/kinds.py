"""Column-kind inference and the per-row coercion that turns raw input into typed columns.

Coercion is deterministic (no fitted state besides the schema), so it runs before the
train/test split without leaking, and again inside `FittedModel.predict` for serving.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

KINDS = ("numeric", "categorical", "boolean", "datetime", "text", "id", "constant")
MAX_SCHEMA_CATEGORIES = 50
_TRUE = {"true", "yes", "y", "t", "1", "1.0"}
_FALSE = {"false", "no", "n", "f", "0", "0.0"}
_BOOL_MAP = {**dict.fromkeys(_TRUE, 1.0), **dict.fromkeys(_FALSE, 0.0)}
_PLAIN_SCAN = 2_000  # object columns up to this length are checked for plain numbers before pandas parses them


def _is_stringish(s: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s) or isinstance(
        s.dtype, pd.CategoricalDtype
    )


def _parses_as_datetime(values: pd.Series) -> bool:
    sample = values.astype(str).head(200)
    if not sample.str.contains(r"[-/:]", regex=True).mean() > 0.9:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() > 0.9)


def infer_kind(series: pd.Series) -> str:
    """Return one of KINDS for a raw column (any pandas dtype)."""
    s = series.dropna()
    n = len(s)
    if n == 0 or s.nunique() <= 1:
        return "constant"
    if pd.api.types.is_bool_dtype(s):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "datetime"
    n_unique = s.nunique()
    if pd.api.types.is_numeric_dtype(s):
        if n_unique == 2 and set(np.unique(s.to_numpy(dtype=float))) <= {0.0, 1.0}:
            return "boolean"
        is_int = pd.api.types.is_integer_dtype(s) or bool(np.all(np.mod(s.to_numpy(dtype=float), 1) == 0))
        if is_int and n >= 20 and n_unique == n and (s.is_monotonic_increasing or s.is_monotonic_decreasing):
            return "id"
        return "numeric"
    if not _is_stringish(s):
        return "categorical"
    text = s.astype(str).str.strip()
    lowered = text.str.lower()
    if n_unique == 2 and set(lowered.unique()) <= set(_BOOL_MAP):
        return "boolean"
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().mean() >= 0.95:
        return infer_kind(numeric)
    if _parses_as_datetime(text):
        return "datetime"
    unique_ratio = n_unique / n
    has_spaces = text.str.contains(" ", regex=False).mean()
    if unique_ratio > 0.5 and has_spaces > 0.3 and text.str.len().mean() >= 10:
        return "text"
    if n >= 20 and n_unique == n:
        return "id"
    return "categorical"


def coerce_column(values: pd.Series, kind: str) -> pd.Series:
    """Turn raw values into the column's canonical type; anything unparsable becomes missing."""
    if kind == "numeric":
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            return values.astype("float64")
        return pd.to_numeric(values.astype(object), errors="coerce").astype("float64")
    if kind == "boolean":
        if pd.api.types.is_bool_dtype(values):
            return values.astype("float64")
        if pd.api.types.is_numeric_dtype(values):
            return values.astype("float64").where(values.isin([0, 1]))
        lowered = values.astype(object).map(lambda v: str(v).strip().lower() if v is not None else v)
        return lowered.map(_BOOL_MAP).astype("float64")
    if kind == "datetime":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = pd.to_datetime(values, errors="coerce", format="mixed", utc=True)
        return parsed.dt.tz_localize(None)
    # categorical / text
    return pd.Series(_strings(values.to_numpy(dtype=object)), index=values.index, dtype=object, name=values.name)


def _strings(values: np.ndarray) -> np.ndarray:
    """The categorical / text rule: plain Python strings in an object array, missing as NaN."""
    missing = pd.isna(values)
    out = np.full(len(values), np.nan, dtype=object)
    out[~missing] = [str(v) for v in values[~missing]]
    return out


def _plain_numbers(values: np.ndarray) -> bool:
    """Python ints, floats and None only: what `pd.to_numeric` turns into the same floats."""
    return all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values)


def coerce_values(values: pd.Series, kind: str) -> np.ndarray:
    """`coerce_column`'s result as a numpy array, skipping the Series where the values allow (serving's
    few rows: building and mapping Series costs far more than the values)."""
    if kind == "numeric" and isinstance(values.dtype, np.dtype) and values.dtype.kind in "fiu":
        return values.to_numpy(dtype=np.float64)
    if kind in ("categorical", "text"):
        return _strings(values.to_numpy(dtype=object))
    if kind == "numeric" and values.dtype == object and len(values) <= _PLAIN_SCAN:
        raw = values.to_numpy()
        if _plain_numbers(raw):
            return np.array([np.nan if v is None else v for v in raw], dtype=np.float64)
    return coerce_column(values, kind).to_numpy()


def column_schema(name: str, values: pd.Series, kind: str, *, raw: pd.Series) -> dict[str, Any]:
    """One `input_schema` entry for the coerced `values` (dtype as given by the user); categoricals list their
    most frequent values; a numeric column whose training values held words (read as missing) says so, and
    serving then reads words as missing too instead of refusing them."""
    entry: dict[str, Any] = {"name": name, "kind": kind, "dtype": str(raw.dtype), "categories": None,
                             "required": True}
    if kind == "categorical":
        entry["categories"] = [str(v) for v in values.value_counts().index[:MAX_SCHEMA_CATEGORIES]]
    if kind == "numeric":
        entry["words_as_missing"] = bool(values.isna().sum() > raw.isna().sum())
    return entry


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    """The raw column, or an all-null one where the input lacks it."""
    return df[name] if name in df.columns else pd.Series(np.nan, index=df.index, dtype=object)


def coerce_frame(df: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Select the model's columns (missing ones become all-null) and coerce each to its kind."""
    return pd.DataFrame({name: coerce_column(_column(df, name), kind) for name, kind in kinds.items()}, index=df.index)


def coerce_arrays(df: pd.DataFrame, kinds: dict[str, str]) -> dict[str, np.ndarray]:
    """`coerce_frame` as one numpy array per column, without building the frame (the fast serving path)."""
    return {name: coerce_values(_column(df, name), kind) for name, kind in kinds.items()}
