"""Column kind from facts the profiler has already gathered (type, counts, a sample of distinct values)."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from automl.ingest.normalize import THOUSANDS_COMMA, date_format

KINDS = ("numeric", "categorical", "boolean", "datetime", "text", "id", "constant")
TRUE_WORDS = {"true", "yes", "y", "t", "1", "sim", "s", "on"}
FALSE_WORDS = {"false", "no", "n", "f", "0", "não", "nao", "off"}
_ID_NAME = re.compile(r"(^|[_\W])(id|key|uuid|guid|code)$|^(id|uuid|guid)[_\W]|[a-z]Id$|ID$", re.IGNORECASE)
MIN_ROWS_FOR_ID = 10


@dataclass(frozen=True)
class ColumnFacts:
    name: str
    type: pa.DataType
    n_rows: int
    n_valid: int
    n_unique: int
    distinct: pa.Array  # up to a few thousand distinct non-null values, in order of first appearance
    monotonic: bool  # strictly increasing or decreasing, no missing values
    mean_length: float = 0.0  # strings only
    space_share: float = 0.0  # strings only: share of values containing a space


def word_truth(word: str) -> bool | None:
    """What the boolean vocabulary says a word means (stripped, any case): True, False, or None for a word
    outside it. Serving reads JSON true/false for a column of such words through this."""
    text = word.strip().lower()
    return True if text in TRUE_WORDS else False if text in FALSE_WORDS else None


def looks_like_id_name(name: str) -> bool:
    return bool(_ID_NAME.search(name.strip()))


def infer_kind(f: ColumnFacts) -> str:
    t = f.type
    if f.n_valid == 0 or f.n_unique <= 1:
        return "constant"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_temporal(t) and not pa.types.is_duration(t):
        return "datetime"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t) or pa.types.is_duration(t):
        return _numeric_kind(f)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _string_kind(f)
    return "categorical"


def _numeric_kind(f: ColumnFacts) -> str:
    if f.n_unique == 2 and set(f.distinct.to_pylist()) <= {0, 1}:
        return "boolean"
    unique_everywhere = f.n_unique == f.n_rows >= MIN_ROWS_FOR_ID
    if pa.types.is_integer(f.type) and unique_everywhere and (f.monotonic or looks_like_id_name(f.name)):
        return "id"
    return "numeric"


def _share(mask: pa.Array) -> float:
    return (pc.sum(mask).as_py() or 0) / max(1, len(mask))


def _string_kind(f: ColumnFacts) -> str:
    values = f.distinct
    if f.n_unique == 2 and {str(v).strip().lower() for v in values.to_pylist()} <= TRUE_WORDS | FALSE_WORDS:
        lowered = {str(v).strip().lower() for v in values.to_pylist()}
        if lowered & TRUE_WORDS and lowered & FALSE_WORDS:
            return "boolean"
    trimmed = pc.utf8_trim_whitespace(values)
    if _share(pc.match_substring_regex(trimmed, THOUSANDS_COMMA)) >= 0.95:
        return "numeric"  # numbers with a few stray words; those read as missing downstream
    if date_format(trimmed, min_share=0.95) is not None:
        return "datetime"
    unique_ratio = f.n_unique / f.n_valid
    # Mostly distinct phrases, short ones too (titles, product names): their words carry signal a category cannot.
    if f.mean_length >= 10 and f.space_share > 0.3 and unique_ratio > 0.5:
        return "text"
    if f.n_unique == f.n_rows >= MIN_ROWS_FOR_ID and (f.space_share < 0.5 or looks_like_id_name(f.name)):
        return "id"
    return "categorical"
