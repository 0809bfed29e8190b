"""Readers: CSV/TSV/TXT, XLSX/XLS and Parquet into one normalised pyarrow Table, or a BadInput saying why not."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import python_calamine as calamine

from automl.ingest.detect import OLE2, TextDialect, detect_format, read_head, sniff_text
from automl.ingest.normalize import normalize
from automl.services.errors import BadInput

# Markers read as missing, in every column (strings included), as users expect from spreadsheets and R/pandas.
NULL_VALUES = ["", "NA", "N/A", "n/a", "na", "NaN", "nan", "NAN", "null", "NULL", "Null", "None", "none",
               "#N/A", "#NA", "<NA>", "-NaN", "-nan", "nil", "NIL", "?"]
_NULLS = frozenset(NULL_VALUES)


def read_table(path: Path, filename: str) -> pa.Table:
    """Read an uploaded file into a normalised Table (detected format, encoding, delimiter, numbers, dates).

    Raises BadInput (4xx) for anything that cannot be read, with a message naming the problem.
    """
    fmt = detect_format(path, filename)
    if fmt == "csv":
        table, delimiter = _read_csv(path, filename)
        return normalize(table, decimal_comma_likely=delimiter == ";")
    if fmt == "parquet":
        return normalize(_read_parquet(path, filename))
    return normalize(_read_excel(path, filename))


def source_format(filename: str) -> str:
    return Path(filename).suffix.lower().lstrip(".")


def _csv_options(dialect: TextDialect, *, quoted_newlines: bool) -> dict[str, Any]:
    return {
        "read_options": pacsv.ReadOptions(encoding=dialect.encoding, block_size=4 << 20),
        "parse_options": pacsv.ParseOptions(delimiter=dialect.delimiter, newlines_in_values=quoted_newlines),
        "convert_options": pacsv.ConvertOptions(null_values=NULL_VALUES, strings_can_be_null=True),
    }


def _read_csv(path: Path, filename: str) -> tuple[pa.Table, str]:
    dialect = sniff_text(path, filename)
    try:
        table = pacsv.read_csv(path, **_csv_options(dialect, quoted_newlines=dialect.quoted_newlines))
    except pa.ArrowInvalid as exc:
        if dialect.quoted_newlines:
            raise _csv_error(exc) from None
        try:  # a quoted value spanning lines past the sniffed sample looks ragged: retry allowing it
            table = pacsv.read_csv(path, **_csv_options(dialect, quoted_newlines=True))
        except pa.ArrowInvalid:
            raise _csv_error(exc) from None
    if table.num_columns < 2:
        raise BadInput(
            "the file has a single column; a dataset needs at least two (features and a target)."
            " If it has more, use one of these delimiters: comma, semicolon, tab or |"
        )
    if table.num_rows == 0:
        raise BadInput("the file has a header row but no data rows")
    return table, dialect.delimiter


def _csv_error(exc: pa.ArrowInvalid) -> BadInput:
    msg = str(exc)
    if "Expected" in msg and "columns" in msg:
        return BadInput(f"ragged rows: not every row has the same number of fields as the header ({msg})")
    if "UTF8" in msg or "utf8" in msg or "decode" in msg.lower():
        return BadInput(f"the file's text encoding could not be read consistently ({msg})")
    return BadInput(f"the CSV file could not be parsed: {msg}")


def _read_parquet(path: Path, filename: str) -> pa.Table:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise BadInput(f"{filename!r} is not a readable Parquet file: {exc}") from None
    index_cols = [n for n in table.column_names if n.startswith("__index_level_")]
    table = table.drop_columns(index_cols).replace_schema_metadata(None)
    columns = []
    for name, col in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if pa.types.is_nested(col.type):
            raise BadInput(f"column {name!r} holds nested values ({col.type}); only flat tables are supported")
        columns.append(col)
    table = pa.table(columns, names=table.column_names)
    if table.num_rows == 0:
        raise BadInput("the Parquet file has no rows")
    return table


def _read_excel(path: Path, filename: str) -> pa.Table:
    if read_head(path, 8).startswith(OLE2) and filename.lower().endswith(".xlsx") and _encrypted(path):
        raise BadInput("the workbook is password-protected; remove the password in Excel and upload it again")
    try:
        workbook = calamine.CalamineWorkbook.from_path(str(path))
        rows = workbook.get_sheet_by_index(0).to_python(skip_empty_area=True)
    except calamine.PasswordError:
        raise BadInput("the workbook is password-protected; remove the password in Excel and upload it again") from None
    except Exception as exc:  # noqa: BLE001 - calamine raises many error types for damaged files
        raise BadInput(f"{filename!r} is not a readable Excel workbook (corrupt or not a workbook): {exc}") from None
    rows = [r for r in rows if any(v != "" for v in r)]
    if not rows:
        raise BadInput("the first sheet of the workbook is empty")
    header, body = rows[0], rows[1:]
    if not body:
        raise BadInput("the first sheet has a header row but no data rows")
    names = [_cell_name(v) for v in header]
    columns = [_excel_column([r[i] if i < len(r) else "" for r in body]) for i in range(len(names))]
    table = pa.table(columns, names=names)
    if table.num_columns < 2:
        raise BadInput("the sheet has a single column; a dataset needs at least two (features and a target)")
    return table


def _encrypted(path: Path) -> bool:
    # Encrypted OOXML is an OLE2 file with an "EncryptedPackage" stream (its name is stored as UTF-16LE).
    with open(path, "rb") as f:
        return "EncryptedPackage".encode("utf-16-le") in f.read(1 << 20)


def _cell_name(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _excel_column(values: list[Any]) -> pa.Array:
    """Calamine gives Python values per cell; keep one Arrow type per column, text when types are mixed."""
    cells = [None if v == "" or (isinstance(v, str) and v.strip() in _NULLS) else v for v in values]
    kinds = {type(v) for v in cells if v is not None}
    if kinds <= {bool}:
        return pa.array(cells, type=pa.bool_())
    if kinds <= {int, float}:
        if all(v is None or float(v).is_integer() for v in cells):
            return pa.array([None if v is None else int(v) for v in cells], type=pa.int64())
        return pa.array(cells, type=pa.float64())
    if kinds <= {datetime, date}:
        return pa.array([v if v is None or isinstance(v, datetime) else datetime(v.year, v.month, v.day)
                         for v in cells], type=pa.timestamp("us"))
    return pa.array([None if v is None else _cell_text(v) for v in cells], type=pa.string())


def _cell_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, time | timedelta | datetime | date):
        return value.isoformat() if not isinstance(value, timedelta) else str(value)
    return str(value)
