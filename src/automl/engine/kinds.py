"""Column kinds as the engine receives them, and the per-row coercion that turns raw input into typed columns.

The engine infers nothing about meaning: the kinds come from the caller (the platform passes the dataset
profile's, `automl.ingest.column_kinds` gives library users the same), or, without them, from the pandas
dtypes read literally (`dtype_kind`).

Coercion is deterministic given the kinds; its only learned state is a boolean column's levels, learned
from the training values by `fit_kinds` and recorded in the column's `input_schema` entry. So it runs before
the train/test split without leaking, and again inside `FittedModel.predict` for serving.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from automl.engine.errors import EngineError

KINDS = ("numeric", "categorical", "boolean", "datetime", "text", "id", "constant")
MAX_SCHEMA_CATEGORIES = 50
MAX_BOOLEAN_LEVELS = 2
# How a bool is written as text ("True", "false": a CSV of a bool column, read back for batch scoring): the
# text form of the training values, not a vocabulary (the words, "yes", "sim", ..., are ingest's alone).
_BOOL_TEXT = {str(b).lower(): float(b) for b in (False, True)}
_PLAIN_SCAN = 2_000  # object columns up to this length are checked for plain numbers before pandas parses them


class Kind(str):
    """A column kind that also carries what its coercion learned at fit: a boolean column's levels.

    It is the kind's string (`Kind("boolean") == "boolean"`), so every mapping of column -> kind keeps working;
    `levels` (sorted, stripped, lower-cased training strings, mapped to 0.0, 1.0) travels with the kind
    wherever the kinds go (the fitted model, its fast path) and is the same list as the schema entry's.
    """

    levels: tuple[str, ...] | None

    def __new__(cls, kind: str, levels: Sequence[str] | None = None) -> Kind:
        self = super().__new__(cls, kind)
        self.levels = None if levels is None else tuple(levels)
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (Kind, (str(self), self.levels))


def kind_levels(kind: str) -> tuple[str, ...] | None:
    return getattr(kind, "levels", None)


def dtype_kind(values: pd.Series) -> str:
    """The kind a pandas dtype says, read literally: numeric dtype -> numeric, bool -> boolean, datetime64 ->
    datetime, anything else -> categorical; a column with no or a single distinct value -> constant."""
    if values.nunique(dropna=True) <= 1:
        return "constant"
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_numeric_dtype(values):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime"
    return "categorical"


def _has_strings(values: pd.Series) -> bool:
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "biufcmM":
        return False
    return any(isinstance(v, str) for v in values.dropna().to_numpy(dtype=object))


def _level_keys(values: pd.Series) -> pd.Series:
    """Each value as a level: stripped, lower-cased text; missing stays missing (each distinct value once)."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
    keys = np.array([str(v).strip().lower() for v in uniques] + [np.nan], dtype=object)
    return pd.Series(keys[codes], index=values.index, dtype=object)


def boolean_levels(name: str, values: pd.Series) -> tuple[str, ...] | None:
    """A boolean column's levels learned from its training values: None for numeric or bool data (read as
    0/1), else the distinct stripped, lower-cased strings, sorted (the first reads 0.0, the second 1.0)."""
    if not _has_strings(values):
        return None
    levels = tuple(sorted(set(_level_keys(values).dropna())))
    if len(levels) > MAX_BOOLEAN_LEVELS:
        shown = ", ".join(map(repr, levels[:5]))
        raise EngineError(f"Column {name!r} is boolean but holds {len(levels)} distinct values ({shown}); "
                          "a boolean column has at most two.")
    return levels


def fit_kinds(df: pd.DataFrame, kinds: Mapping[str, str]) -> dict[str, str]:
    """`kinds` with each boolean column's levels learned from `df` (the training rows)."""
    out: dict[str, str] = {}
    for name, kind in kinds.items():
        if kind == "boolean":
            out[name] = Kind("boolean", boolean_levels(name, _column(df, name)))
        else:
            out[name] = kind
    return out


def _boolean(values: pd.Series, levels: Sequence[str] | None) -> pd.Series:
    if levels is not None:  # string levels: each value looked up as a level; anything else is missing
        codes = {level: float(i) for i, level in enumerate(levels)}
        return _level_keys(values).map(codes).astype("float64").rename(values.name)
    if pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64").where(values.isin([0, 1]))
    return pd.Series([_bool_number(v) for v in values.to_numpy(dtype=object)], index=values.index,
                     dtype="float64", name=values.name)


def _bool_number(value: Any) -> float:
    """One value of a boolean column learned from numbers or bools: 0/1 (or a bool, or its text), else NaN."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _BOOL_TEXT:
            return _BOOL_TEXT[text]
        try:
            value = float(text)
        except ValueError:
            return np.nan
    try:
        number = float(value)
    except (TypeError, ValueError):
        return np.nan
    return number if number in (0.0, 1.0) else np.nan


def coerce_column(values: pd.Series, kind: str) -> pd.Series:
    """Turn raw values into the column's canonical type; anything unparsable becomes missing."""
    if kind == "numeric":
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            return values.astype("float64")
        return pd.to_numeric(values.astype(object), errors="coerce").astype("float64")
    if kind == "boolean":
        return _boolean(values, kind_levels(kind))
    if kind == "datetime":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = pd.to_datetime(values, errors="coerce", format="mixed", utc=True)
        return parsed.dt.tz_localize(None)
    # categorical / text
    return pd.Series(_strings(values.to_numpy(dtype=object)), index=values.index, dtype=object, name=values.name)


def _strings(values: np.ndarray) -> np.ndarray:
    """The categorical / text rule: plain Python strings in an object array, missing as NaN."""
    out = np.empty(len(values), dtype=object)
    out[:] = [np.nan if missing else str(v) for v, missing in zip(values.tolist(), pd.isna(values).tolist(),
                                                                   strict=True)]
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
    serving then reads words as missing too instead of refusing them; a boolean column learned from strings
    lists its `levels` (the first reads 0.0, the second 1.0), from which serving and `predict` coerce it."""
    entry: dict[str, Any] = {"name": name, "kind": str(kind), "dtype": str(raw.dtype), "categories": None,
                             "required": True}
    if kind == "boolean" and kind_levels(kind) is not None:
        entry["levels"] = list(kind_levels(kind) or ())
    if kind == "categorical":
        entry["categories"] = [str(v) for v in values.value_counts().index[:MAX_SCHEMA_CATEGORIES]]
    if kind == "numeric":
        entry["words_as_missing"] = bool(values.isna().sum() > raw.isna().sum())
    return entry


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    """The raw column, or an all-null one where the input lacks it."""
    return df[name] if name in df.columns else pd.Series(np.nan, index=df.index, dtype=object)


def kinds_from_schema(input_schema: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The kinds an `input_schema` describes, each boolean column with the levels its entry records."""
    return {c["name"]: Kind(c["kind"], c.get("levels")) for c in input_schema}


def coerce_frame(df: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Select the model's columns (missing ones become all-null) and coerce each to its kind."""
    return pd.DataFrame({name: coerce_column(_column(df, name), kind) for name, kind in kinds.items()}, index=df.index)


def coerce_arrays(df: pd.DataFrame, kinds: dict[str, str]) -> dict[str, np.ndarray]:
    """`coerce_frame` as one numpy array per column, without building the frame (the fast serving path)."""
    return {name: coerce_values(_column(df, name), kind) for name, kind in kinds.items()}
