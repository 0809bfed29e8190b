"""Record batches out of an uploaded file: CSV/TSV/TXT (streamed), XLSX/XLS (calamine), Parquet (streamed).

Errors that mean "this file cannot be read" become BadInput with a message naming the problem; a CSV column
whose type, guessed from the first block, does not fit a later value raises `Retype` so the caller can read
again with that column's type widened.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import python_calamine as calamine

from automl.errors import BadInput
from automl.ingest.detect import HEAD_BYTES, OLE2, TextDialect, detect_format, read_head, sniff_text
from automl.ingest.growing import GrowingFile, UploadProgress
from automl.ingest.limits import ParseLimits, check_line, check_parquet, check_xlsx

# Markers read as missing, in every column (strings included), as users expect from spreadsheets and R/pandas.
NULL_VALUES = ["", "NA", "N/A", "n/a", "na", "NaN", "nan", "NAN", "null", "NULL", "Null", "None", "none",
               "#N/A", "#NA", "<NA>", "-NaN", "-nan", "nil", "NIL", "?"]
_NULLS = frozenset(NULL_VALUES)


def is_missing_marker(value: Any) -> bool:
    """A string that reads as missing (surrounding spaces ignored): at upload, and at prediction time."""
    return isinstance(value, str) and value.strip() in _NULLS

CSV_BLOCK = 1 << 20  # small blocks keep the streaming reader's memory low; types are guessed from the first
SLICE_BYTES = 8 << 20
SLICEABLE = ("utf-8", "cp1252", "latin-1")  # encodings where a b"\n" byte always ends a line
BATCH_ROWS = 65536
_CONVERSION_ERROR = re.compile(r"In CSV column #(\d+): .*CSV conversion error to (\w+)")
_PASSWORD = "the workbook is password-protected; remove the password in Excel and upload it again"


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


RETRY_QUOTED_NEWLINES = -1  # Retype "columns": read again allowing newlines inside quoted values
RETRY_CP1252 = -2  # ... or read again as cp1252: invalid UTF-8 after an all-ASCII head


class Retype(Exception):
    def __init__(self, index: int, type_: pa.DataType) -> None:
        super().__init__(index)
        self.index, self.type = index, type_


@dataclass
class Source:
    """Where batches come from, and how to read it again more carefully."""

    path: Path
    filename: str
    format: str = ""
    delimiter: str | None = None
    column_types: dict[str, pa.DataType] = field(default_factory=dict)
    quoted_newlines: bool = False
    names: list[str] = field(default_factory=list)
    progress: UploadProgress | None = None  # set while the file is still arriving
    encoding: str | None = None  # overrides the sniffed one after a retry
    ascii_head: bool = False
    limits: ParseLimits = field(default_factory=ParseLimits)

    @classmethod
    def open(cls, path: Path, filename: str, progress: UploadProgress | None = None, *,
             limits: ParseLimits | None = None) -> Source:
        if progress is not None:
            progress.wait_for(HEAD_BYTES)
        return cls(path, filename, detect_format(path, filename), progress=progress, limits=limits or ParseLimits())

    def batches(self) -> Iterator[pa.RecordBatch]:
        if self.format == "csv":
            return self._csv()
        if self.progress is not None:  # workbooks and Parquet are read whole, from their end
            self.progress.wait_complete()
        if self.format == "parquet":
            check_parquet(self.path, self.filename, self.limits)
            return _parquet(self.path, self.filename)
        return iter(_excel(self.path, self.filename, self.limits).to_batches(max_chunksize=BATCH_ROWS))

    def _csv(self) -> Iterator[pa.RecordBatch]:
        dialect = sniff_text(self.path, self.filename)
        if self.encoding is not None:
            dialect = replace(dialect, encoding=self.encoding)
        self.ascii_head = read_head(self.path).isascii()
        self.delimiter = dialect.delimiter
        self.quoted_newlines = self.quoted_newlines or dialect.quoted_newlines
        self.names = []
        stream = GrowingFile(self.path, self.progress) if self.progress is not None else open(self.path, "rb")
        try:
            if self.quoted_newlines or dialect.encoding not in SLICEABLE:
                yield from self._csv_streamed(stream, dialect)
            else:
                yield from self._csv_sliced(stream, dialect)
        except pa.ArrowInvalid as exc:
            raise self._csv_problem(exc) from None
        finally:
            stream.close()

    def _convert_options(self, types: dict[str, pa.DataType]) -> pacsv.ConvertOptions:
        return pacsv.ConvertOptions(null_values=NULL_VALUES, strings_can_be_null=True, column_types=types)

    def _csv_streamed(self, stream: Readable, dialect: TextDialect) -> Iterator[pa.RecordBatch]:
        """One block after another: the only safe way when values may hold newlines or the encoding is wide."""
        reader = pacsv.open_csv(
            stream, read_options=pacsv.ReadOptions(encoding=dialect.encoding, block_size=CSV_BLOCK),
            parse_options=pacsv.ParseOptions(delimiter=dialect.delimiter, newlines_in_values=self.quoted_newlines),
            convert_options=self._convert_options(self.column_types),
        )
        self.names = reader.schema.names
        self._check_text(reader.schema)
        yield from reader

    def _csv_sliced(self, stream: Readable, dialect: TextDialect) -> Iterator[pa.RecordBatch]:
        """Slices of ~8 MiB cut at line ends, each parsed by `read_csv` on all cores (the streaming reader is
        single-threaded); types come from the first slice. A quoted newline met later shows up as ragged rows,
        and the caller reads again block by block."""
        parse = pacsv.ParseOptions(delimiter=dialect.delimiter)
        types: dict[str, pa.DataType] = dict(self.column_types)
        carry = b""
        while True:
            chunk = stream.read(SLICE_BYTES)
            data = carry + chunk
            cut = len(data) if not chunk else data.rfind(b"\n") + 1
            body, carry = data[:cut], data[cut:]
            check_line(len(carry), self.limits)
            if body.strip():
                read = pacsv.ReadOptions(encoding=dialect.encoding, block_size=CSV_BLOCK,
                                         column_names=self.names or None)
                table = pacsv.read_csv(pa.BufferReader(body), read_options=read, parse_options=parse,
                                       convert_options=self._convert_options(types))
                if not self.names:
                    self.names = table.column_names
                    self._check_text(table.schema)
                    types = dict(zip(table.column_names, table.schema.types, strict=True))
                yield from table.to_batches()
            if not chunk:
                return

    def _check_text(self, schema: pa.Schema) -> None:
        """pyarrow types a column holding invalid UTF-8 as binary: the encoding guess was wrong."""
        if any(pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in schema.types):
            raise self._csv_problem(pa.ArrowInvalid("invalid UTF8 data in a column"))

    def _csv_problem(self, exc: pa.ArrowInvalid) -> Exception:
        msg = str(exc)
        if "invalid UTF8" in msg or "decode" in msg.lower():
            if self.ascii_head and self.encoding is None:  # the sample had no accents to tell UTF-8 apart
                return Retype(RETRY_CP1252, pa.null())
            return BadInput(f"the file's text encoding could not be read consistently; save it as UTF-8 ({msg})")
        conversion = _CONVERSION_ERROR.search(msg)
        if conversion and self.names:
            index, was = int(conversion.group(1)), conversion.group(2)
            return Retype(index, pa.float64() if was.startswith("int") else pa.string())
        if "Expected" in msg and "columns" in msg:
            if not self.quoted_newlines:  # a quoted value spanning lines past the sniffed sample looks ragged
                return Retype(RETRY_QUOTED_NEWLINES, pa.null())
            return BadInput(f"ragged rows: not every row has the same number of fields as the header ({msg})")
        return BadInput(f"the CSV file could not be parsed: {msg}")

    def retype(self, problem: Retype) -> None:
        if problem.index == RETRY_QUOTED_NEWLINES:
            self.quoted_newlines = True
        elif problem.index == RETRY_CP1252:
            self.encoding = "cp1252"
        else:
            self.column_types[self.names[problem.index]] = problem.type


def _parquet(path: Path, filename: str) -> Iterator[pa.RecordBatch]:
    try:
        parquet = pq.ParquetFile(path)
        batches = parquet.iter_batches(batch_size=BATCH_ROWS, use_pandas_metadata=True)  # keeps named indexes
        for batch in batches:
            yield _flat_parquet_batch(batch)
    except (pa.ArrowException, OSError) as exc:
        if isinstance(exc, MemoryError):  # the sandbox's limit, reported as such
            raise
        raise BadInput(f"{filename!r} is not a readable Parquet file: {exc}") from None


def _flat_parquet_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    arrays, names = [], []
    for name, col in zip(batch.schema.names, batch.columns, strict=True):
        if name.startswith("__index_level_"):  # a pandas index written as a column
            continue
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if pa.types.is_nested(col.type):
            raise BadInput(f"column {name!r} holds nested values ({col.type}); only flat tables are supported")
        arrays.append(col)
        names.append(name)
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _excel_rows(path: Path, filename: str, limits: ParseLimits, nrows: int | None = None) -> list[list[Any]]:
    """The first sheet's non-empty rows (of its first `nrows`, when given), header first."""
    ole2 = read_head(path, 8).startswith(OLE2)
    if ole2 and filename.lower().endswith(".xlsx") and _encrypted(path):
        raise BadInput(_PASSWORD)
    if not ole2 and filename.lower().endswith(".xlsx"):
        check_xlsx(path, filename, limits)  # declared sizes and dimension, before calamine allocates
    try:
        workbook = calamine.CalamineWorkbook.from_path(str(path))
        rows = workbook.get_sheet_by_index(0).to_python(skip_empty_area=True, nrows=nrows)
    except calamine.PasswordError:
        raise BadInput(_PASSWORD) from None
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - calamine raises many error types for damaged files
        raise BadInput(f"{filename!r} is not a readable Excel workbook (corrupt or not a workbook): {exc}") from None
    return [r for r in rows if any(v != "" for v in r)]


def excel_header(path: Path, filename: str, limits: ParseLimits | None = None) -> list[str]:
    """The column names of the first sheet, as `_excel` reads them, without converting its cells."""
    limits = limits or ParseLimits()
    rows = _excel_rows(path, filename, limits, nrows=1000) or _excel_rows(path, filename, limits)
    if not rows:
        raise BadInput("the first sheet of the workbook is empty")
    return [_cell_text(v).strip() for v in rows[0]]


def _excel(path: Path, filename: str, limits: ParseLimits) -> pa.Table:
    rows = _excel_rows(path, filename, limits)
    if not rows:
        raise BadInput("the first sheet of the workbook is empty")
    header, body = rows[0], rows[1:]
    columns = [_excel_column([r[i] if i < len(r) else "" for r in body]) for i in range(len(header))]
    return pa.table(columns, names=[_cell_text(v).strip() for v in header])


def _encrypted(path: Path) -> bool:
    # Encrypted OOXML is an OLE2 file with an "EncryptedPackage" stream (its name is stored as UTF-16LE).
    with open(path, "rb") as f:
        return "EncryptedPackage".encode("utf-16-le") in f.read(1 << 20)


def _excel_column(values: list[Any]) -> pa.Array:
    """Calamine gives Python values per cell; keep one Arrow type per column, text when types are mixed."""
    cells = [None if is_missing_marker(v) else v for v in values]
    kinds = {type(v) for v in cells if v is not None}
    if kinds <= {bool}:
        return pa.array(cells, type=pa.bool_() if kinds else pa.null())
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
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, time | datetime | date):
        return value.isoformat()
    return str(value)
