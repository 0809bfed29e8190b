"""Neutralise spreadsheet formulas in CSV output (CWE-1236).

A text cell starting with `=`, `+`, `-`, `@`, tab or carriage return is run as a formula by Excel and
friends; prefixing it with `'` makes it inert. Numbers written as text (`-1.5`, `+3`, `1e-3`) are left
alone so that numeric columns read back as numbers. Vectorised with pyarrow.compute; only string
columns are touched. Use `neutralise_table` before `pyarrow.csv.write_csv`, `neutralise_frame` before
`DataFrame.to_csv`.
"""
from __future__ import annotations

import re

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_TRIGGER = r"^[=+\-@\t\r]"
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def neutralise_text(value: str) -> str:
    """One cell (or a header name)."""
    if value and value[0] in "=+-@\t\r" and not re.match(_NUMBER, value):
        return "'" + value
    return value


def neutralise_array(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return arr
    risky = pc.and_(pc.match_substring_regex(arr, _TRIGGER), pc.invert(pc.match_substring_regex(arr, _NUMBER)))
    if not pc.any(risky).as_py():
        return arr
    quote, empty = pa.scalar("'", type=arr.type), pa.scalar("", type=arr.type)
    return pc.if_else(risky, pc.binary_join_element_wise(quote, arr, empty), arr)


def neutralise_table(table: pa.Table) -> pa.Table:
    """String columns (and the header) with formula-looking cells prefixed by `'`."""
    names = [neutralise_text(str(n)) for n in table.column_names]
    columns = []
    for col in table.columns:
        if pa.types.is_dictionary(col.type):
            col = col.cast(pa.string())
        columns.append(neutralise_array(col))
    return pa.table(columns, names=names)


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with object/string columns neutralised; numeric columns untouched."""
    out = df.copy()
    out.columns = [neutralise_text(str(c)) for c in df.columns]
    for i, col in enumerate(df.columns):
        s = df[col]
        if pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s):
            text = s.astype("string")
            risky = text.str.match(_TRIGGER, na=False) & ~text.str.match(_NUMBER, na=False)
            if risky.any():
                out.iloc[:, i] = s.where(~risky, "'" + text)
    return out
