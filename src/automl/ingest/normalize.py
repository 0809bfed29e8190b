"""Make freshly read data what users expect: clean unique headers, numbers written with decimal commas or
thousand separators as numbers, and date strings as dates.

Data arrives in record batches, so a `Plan` is made from the first batch (which string columns to convert,
and how) and applied to every batch with vectorised pyarrow.compute. A later batch that does not fit raises
`Replan`, and the reader starts over with that column left as text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from automl.errors import BadInput

SAMPLE = 1000
_SIGN = r"^[-+]?"
_SPACES = " \u00a0\u202f"  # the characters themselves: RE2 takes no \u escapes
# A number whose decimal mark is a comma (thousands, if any, grouped by '.', space or no-break space) ...
DECIMAL_COMMA = _SIGN + rf"(\d{{1,3}}([.{_SPACES}]\d{{3}})+|\d+)(,\d+)?$"
# ... or whose decimal mark is a point with ',' (or space) grouping thousands.
THOUSANDS_COMMA = _SIGN + rf"(\d{{1,3}}([,{_SPACES}]\d{{3}})+|\d+)(\.\d+)?$"
_GROUPED_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(,\d{3})+$")
PLAIN_NUMBER = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"  # what a float64 cast reads, markers aside
_LEADING_DIGIT = r"^\s*[-+]?\d"
DATE_FORMATS = (
    "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d",
    "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S",
)


class Replan(Exception):
    """A batch does not fit the plan made from the first one: read again with `column` kept as text."""

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


@dataclass(frozen=True)
class Convert:
    kind: str  # "decimal_comma" | "thousands" | "date"
    target: pa.DataType
    date_format: str = ""


@dataclass
class Plan:
    names: list[str]
    drop: set[int] = field(default_factory=set)  # blank-named columns that were empty in the first batch
    convert: dict[int, Convert] = field(default_factory=dict)

    @classmethod
    def from_batch(cls, batch: pa.RecordBatch, *, keep_text: frozenset[str] = frozenset(),
                   decimal_comma_likely: bool = False) -> Plan:
        names = [str(n).strip() for n in batch.schema.names]
        drop = {i for i, n in enumerate(names) if not n and batch.column(i).null_count == batch.num_rows}
        _check_names([n for i, n in enumerate(names) if i not in drop])
        plan = cls(names, drop)
        for i, col in enumerate(batch.columns):
            if i in drop or names[i] in keep_text or not _is_string(col.type):
                continue
            conv = _numeric_plan(col, decimal_comma_likely=decimal_comma_likely) or _date_plan(col)
            if conv is not None:
                plan.convert[i] = conv
        return plan

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        arrays, names = [], []
        for i, col in enumerate(batch.columns):
            if i in self.drop:
                if col.null_count < len(col):
                    raise BadInput(f"column {i + 1} has a blank name; give every column a header")
                continue
            conv = self.convert.get(i)
            arrays.append(col if conv is None else _convert(col, conv, self.names[i]))
            names.append(self.names[i])
        return pa.RecordBatch.from_arrays(arrays, names=names)


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _check_names(names: list[str]) -> None:
    for i, name in enumerate(names):
        if not name:
            raise BadInput(f"column {i + 1} has a blank name; give every column a header")
    seen: set[str] = set()
    dups = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
    if dups:
        raise BadInput(f"duplicate column names: {', '.join(map(repr, dups))}; every column needs a unique header")


def sample_values(col: pa.Array | pa.ChunkedArray, n: int = SAMPLE) -> pa.Array:
    values = pc.drop_null(col.slice(0, n * 4))
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.slice(0, n)


def _numeric_plan(col: pa.Array, *, decimal_comma_likely: bool) -> Convert | None:
    sample = sample_values(col)
    if len(sample) == 0 or not pc.all(pc.match_substring_regex(sample, _LEADING_DIGIT)).as_py():
        return None
    sample = pc.utf8_trim_whitespace(sample)
    kind = number_convention(sample, decimal_comma_likely=decimal_comma_likely)
    if kind is None:
        return None
    mark = "," if kind == "decimal_comma" else "."
    is_int = not pc.any(pc.match_substring(sample, mark)).as_py()
    return Convert(kind, pa.int64() if is_int else pa.float64())


def number_convention(sample: pa.Array, *, decimal_comma_likely: bool) -> str | None:
    """How trimmed numbers written as text mark decimals: "decimal_comma" (1.234,5), "thousands" (1,234.5) or
    None when neither fits every value. Only "1,234"-like values: grouped thousands unless the file uses ';'."""
    comma_decimal = pc.all(pc.match_substring_regex(sample, DECIMAL_COMMA)).as_py()
    point_decimal = pc.all(pc.match_substring_regex(sample, THOUSANDS_COMMA)).as_py()
    if comma_decimal and point_decimal:
        all_grouped = all(_GROUPED_THOUSANDS.match(v) or "," not in v for v in sample.to_pylist())
        comma_decimal = decimal_comma_likely or not all_grouped
    if not (comma_decimal or point_decimal):
        return None
    return "decimal_comma" if comma_decimal else "thousands"


def settle_number_convention(col: pa.Array, *, decimal_comma_likely: bool) -> str | None:
    """`number_convention` of a text column's number-looking values (words and markers left out)."""
    sample = sample_values(col)
    sample = pc.utf8_trim_whitespace(pc.filter(sample, pc.match_substring_regex(sample, _LEADING_DIGIT)))
    return number_convention(sample, decimal_comma_likely=decimal_comma_likely) if len(sample) else None


def parse_numbers(col: pa.Array, convention: str | None) -> pa.Array:
    """float64 from text, numbers read as the upload reads them: with the file's `convention` ("decimal_comma"
    or "thousands", see `number_convention`) or plainly (1.5, -2, 1e3); anything else becomes missing."""
    text = pc.utf8_trim_whitespace(col)
    if convention is not None:
        marked = pc.match_substring_regex(text, DECIMAL_COMMA if convention == "decimal_comma" else THOUSANDS_COMMA)
        plain = pc.replace_substring_regex(text, f"[{_SPACES}]", "")
        if convention == "decimal_comma":
            plain = pc.replace_substring(pc.replace_substring(plain, ".", ""), ",", ".")
        else:
            plain = pc.replace_substring(plain, ",", "")
        text = pc.if_else(marked, plain, text)
    number = pc.match_substring_regex(text, PLAIN_NUMBER)
    return pc.cast(pc.if_else(number, text, pa.scalar(None, text.type)), pa.float64())


def _date_plan(col: pa.Array) -> Convert | None:
    fmt = date_format(sample_values(col))
    return Convert("date", pa.timestamp("s"), fmt) if fmt else None


def _convert(col: pa.Array, conv: Convert, name: str) -> pa.Array:
    if conv.kind == "date":
        parsed = pc.strptime(col, format=conv.date_format, unit="s", error_is_null=True)
        if parsed.null_count != col.null_count:
            raise Replan(name)
        return parsed
    text = pc.utf8_trim_whitespace(col)
    pattern = DECIMAL_COMMA if conv.kind == "decimal_comma" else THOUSANDS_COMMA
    if not pc.all(pc.match_substring_regex(text, pattern)).as_py():
        raise Replan(name)
    text = pc.replace_substring_regex(text, f"[{_SPACES}]", "")
    if conv.kind == "decimal_comma":
        text = pc.replace_substring(pc.replace_substring(text, ".", ""), ",", ".")
    else:
        text = pc.replace_substring(text, ",", "")
    try:
        return pc.cast(text, conv.target)
    except (pa.ArrowInvalid, OverflowError):
        raise Replan(name) from None


def date_format(sample: pa.Array, *, min_share: float = 1.0) -> str | None:
    """The first format that parses at least `min_share` of a non-null string sample."""
    if len(sample) == 0:
        return None
    looks_like_date = pc.match_substring_regex(sample, r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")
    if (pc.sum(looks_like_date).as_py() or 0) < min_share * len(sample):
        return None
    for fmt in DATE_FORMATS:
        parsed = pc.strptime(sample, format=fmt, unit="s", error_is_null=True)
        if 1 - parsed.null_count / len(sample) >= min_share:
            return fmt
    return None
