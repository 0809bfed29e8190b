"""Make a freshly read table what users expect: clean unique headers, numbers written with decimal commas or
thousand separators as numbers, and date strings as dates. Vectorised with pyarrow.compute, and only on string
columns whose sample matches, so ordinary tables pay almost nothing."""
from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from automl.services.errors import BadInput

SAMPLE = 1000
_SIGN = r"^[-+]?"
_SPACES = " \u00a0\u202f"  # the characters themselves: RE2 takes no \\u escapes
# A number whose decimal mark is a comma (thousands, if any, grouped by '.', space or no-break space) ...
DECIMAL_COMMA = _SIGN + rf"(\d{{1,3}}([.{_SPACES}]\d{{3}})+|\d+)(,\d+)?$"
# ... or whose decimal mark is a point with ',' (or space) grouping thousands.
THOUSANDS_COMMA = _SIGN + rf"(\d{{1,3}}([,{_SPACES}]\d{{3}})+|\d+)(\.\d+)?$"
_GROUPED_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(,\d{3})+$")
DATE_FORMATS = (
    "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d",
    "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S",
)


def normalize(table: pa.Table, *, decimal_comma_likely: bool = False) -> pa.Table:
    names = _clean_names(table)
    columns = []
    for col in table.columns:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            col = _numeric_strings(col, decimal_comma_likely=decimal_comma_likely) or _date_strings(col) or col
        columns.append(col)
    keep = [i for i, n in enumerate(names) if n or columns[i].null_count < len(columns[i])]
    return pa.table([columns[i] for i in keep], names=[names[i] for i in keep])


def _clean_names(table: pa.Table) -> list[str]:
    names = [str(n).strip() for n in table.column_names]
    for i, (name, col) in enumerate(zip(names, table.columns, strict=True)):
        if not name and col.null_count < len(col):  # blank-named and empty: an exporter's trailing delimiter
            raise BadInput(f"column {i + 1} has a blank name; give every column a header")
    seen: set[str] = set()
    dups = sorted({n for n in names if n and (n in seen or seen.add(n))})  # type: ignore[func-returns-value]
    if dups:
        raise BadInput(f"duplicate column names: {', '.join(map(repr, dups))}; every column needs a unique header")
    return names


def _sample(col: pa.ChunkedArray) -> pa.Array:
    values = pc.drop_null(col.slice(0, SAMPLE * 4)).combine_chunks()
    return values.slice(0, SAMPLE)


def _numeric_strings(col: pa.ChunkedArray, *, decimal_comma_likely: bool) -> pa.ChunkedArray | None:
    sample = _sample(col)
    if len(sample) == 0 or not pc.all(pc.match_substring_regex(sample, r"^[-+]?\d")).as_py():
        return None
    sample = pc.utf8_trim_whitespace(sample)
    comma_decimal = pc.all(pc.match_substring_regex(sample, DECIMAL_COMMA)).as_py()
    point_decimal = pc.all(pc.match_substring_regex(sample, THOUSANDS_COMMA)).as_py()
    if comma_decimal and point_decimal:  # e.g. only "1,234": grouped thousands unless the file uses ';'
        all_grouped = all(_GROUPED_THOUSANDS.match(v) or "," not in v for v in sample.to_pylist())
        comma_decimal = decimal_comma_likely or not all_grouped
    pattern = DECIMAL_COMMA if comma_decimal else THOUSANDS_COMMA if point_decimal else None
    if pattern is None:
        return None
    text = pc.utf8_trim_whitespace(col)
    if not pc.all(pc.match_substring_regex(text, pattern)).as_py():
        return None
    text = pc.replace_substring_regex(text, f"[{_SPACES}]", "")
    if comma_decimal:
        text = pc.replace_substring(pc.replace_substring(text, ".", ""), ",", ".")
    else:
        text = pc.replace_substring(text, ",", "")
    is_int = not pc.any(pc.match_substring(text, ".")).as_py()
    try:
        return pc.cast(text, pa.int64() if is_int else pa.float64())
    except (pa.ArrowInvalid, OverflowError):
        return pc.cast(text, pa.float64())


def _date_strings(col: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """A timestamp column when one format parses every non-missing value; kind inference handles near-misses."""
    fmt = date_format(_sample(col))
    if fmt is None:
        return None
    parsed = pc.strptime(col, format=fmt, unit="s", error_is_null=True)
    return parsed if parsed.null_count == col.null_count else None


def date_format(sample: pa.Array, *, min_share: float = 1.0) -> str | None:
    """The first format that parses at least `min_share` of a non-null string sample."""
    if len(sample) == 0:
        return None
    looks_like_date = pc.match_substring_regex(sample, r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")
    if pc.sum(looks_like_date).as_py() < min_share * len(sample):
        return None
    for fmt in DATE_FORMATS:
        parsed = pc.strptime(sample, format=fmt, unit="s", error_is_null=True)
        if 1 - parsed.null_count / len(sample) >= min_share:
            return fmt
    return None
