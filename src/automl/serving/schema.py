"""Validation of prediction input against a model's `input_schema`, on plain dicts and lists.

Checks are deliberately cheap (a few dict lookups per value) because they sit on the single-row path.
Missing required columns and values of the wrong type are rejected with the column named; nulls (and
the markers the upload reads as missing, such as "NA" or "?") and unseen categories pass through (the
fitted pipeline imputes or buckets them); extra columns are ignored. Words in a numeric column are
refused, unless that column's training data held words too (`words_as_missing`): they were read as
missing in training and are read so here. Booleans are read with the upload's vocabulary
(`automl.ingest.kinds.word_truth`): for a column trained on bools or 0/1, a word such as "yes" becomes True;
for a column trained on words (its schema entry lists their `levels`, e.g. "não", "sim"), a level is taken
as is and JSON true/false (or 1/0) becomes the level that vocabulary says is true/false.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from automl.ingest.kinds import word_truth
from automl.ingest.sources import is_missing_marker

MAX_REPORTED = 5  # errors listed in one 422, enough to fix the request without flooding it


class InputError(ValueError):
    """The request's rows do not fit the schema; `problems` names each column and what is wrong."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(p["msg"] for p in problems))
        self.problems = problems


class _NotFinite(ValueError):
    """An infinite number: refused in every numeric column, even one that reads words as missing."""


def _to_float(value: Any) -> float:
    """A number, a numeric string or null -> float (NaN for null and "NaN"); raises ValueError otherwise, and
    for an infinite value ("inf", "-Infinity", 1e999): no model was trained on one, and float() takes them."""
    if value is None:
        return math.nan
    if isinstance(value, str) and is_missing_marker(value):  # the upload's missing markers read as missing
        return math.nan
    if not isinstance(value, int | float | str):
        raise ValueError
    number = float(value.strip() if isinstance(value, str) else value)
    if math.isinf(number):
        raise _NotFinite
    return number


def _to_float_or_missing(value: Any) -> float:
    """For a numeric column whose training data held words: those were missing values then, and are now."""
    try:
        return _to_float(value)
    except _NotFinite:
        raise
    except ValueError:
        if isinstance(value, str):
            return math.nan
        raise


def _check_bool(value: Any) -> Any:
    """For a boolean column trained on bools or 0/1: a bool, a number, or a word of the vocabulary as a bool."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if is_missing_marker(value):
        return None
    if isinstance(value, str):
        truth = word_truth(value)
        if truth is not None:
            return truth
        if float(value.strip()) in (0.0, 1.0):  # "1", "0.0"; a ValueError for anything else
            return value
    raise ValueError


class _Levels:
    """For a boolean column trained on words: each value as one of its `levels`."""

    def __init__(self, levels: Sequence[str]) -> None:
        self.levels = {str(level).strip().lower(): str(level) for level in levels}
        by_truth = {word_truth(level): level for level in self.levels.values()}
        self.true, self.false = by_truth.get(True), by_truth.get(False)
        shown = ", ".join(repr(level) for level in self.levels.values())
        self.expected = f"one of {shown}" + (" or true/false" if self.true and self.false else "")

    def __call__(self, value: Any) -> Any:
        if value is None or is_missing_marker(value):
            return None
        if isinstance(value, bool | int | float) and value in (0, 1):
            level = self.true if value else self.false
        elif isinstance(value, str):
            level = self.levels.get(value.strip().lower())
            if level is None and (truth := word_truth(value)) is not None:
                level = self.true if truth else self.false
        else:
            level = None
        if level is None:
            raise ValueError
        return level


def _check_text(value: Any) -> Any:
    if is_missing_marker(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ValueError


_EXPECTED = {"numeric": "a number", "boolean": "a boolean", "datetime": "a date/time string"}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    required: bool
    convert: Callable[[Any], Any]

    @property
    def expected(self) -> str:
        return getattr(self.convert, "expected", None) or _EXPECTED.get(self.kind, "a string or number")


def _converter(column: dict[str, Any]) -> Callable[[Any], Any]:
    kind = column.get("kind")
    if kind == "numeric":
        return _to_float_or_missing if column.get("words_as_missing") else _to_float
    if kind == "boolean":
        return _Levels(column["levels"]) if column.get("levels") else _check_bool
    return _check_text


class InputValidator:
    """Built once per cached model; `frame(rows)` validates and returns the pipeline's input frame."""

    def __init__(self, input_schema: Sequence[dict[str, Any]]) -> None:
        self.columns = [
            Column(c["name"], c.get("kind", "categorical"), bool(c.get("required", True)), _converter(c))
            for c in input_schema
        ]
        self.names = [c.name for c in self.columns]

    def frame(self, rows: Any) -> pd.DataFrame:
        if not isinstance(rows, list) or not rows:
            raise InputError([{"loc": ["data"], "msg": "'data' must be a non-empty list of objects"}])
        problems: list[dict[str, Any]] = []
        data: dict[str, list[Any]] = {}
        for col in self.columns:
            values: list[Any] = []
            for i, row in enumerate(rows):
                if not isinstance(row, dict):
                    raise InputError([{"loc": ["data", i], "msg": f"row {i} must be an object"}])
                if col.name not in row and col.required:
                    if len(problems) < MAX_REPORTED:
                        problems.append({"loc": ["data", i, col.name], "column": col.name,
                                         "msg": f"missing column '{col.name}' in row {i}"})
                    break
                try:
                    values.append(col.convert(row.get(col.name)))
                except (ValueError, TypeError):
                    if len(problems) < MAX_REPORTED:
                        problems.append({"loc": ["data", i, col.name], "column": col.name,
                                         "msg": f"column '{col.name}' in row {i}: expected {col.expected}, "
                                                f"got {row[col.name]!r:.60}"})
                    break
            data[col.name] = values
        if problems:
            raise InputError(problems)
        return _build_frame(self.columns, data)


def _build_frame(columns: list[Column], data: dict[str, list[Any]]) -> pd.DataFrame:
    arrays = {}
    for col in columns:
        values = data[col.name]
        if col.kind == "numeric":
            arrays[col.name] = np.array(values, dtype="float64")
        else:
            arr = np.empty(len(values), dtype=object)
            arr[:] = values
            arrays[col.name] = arr
    return pd.DataFrame(arrays, copy=False)
