"""A file's rows in record batches, read by the upload's reader, for work that consumes rows instead of
storing a dataset (batch scoring): the same file parses the same way for training and for scoring.

`read_batches(path, filename, numeric=...)` streams the file through `Source` (detected format, encoding,
delimiter, the missing markers) and the upload's header rules (`Plan`: trimmed, unique, non-blank names).
Columns named in `numeric` come out as float64, numbers read as the upload reads them (decimal commas and
thousand separators as the file writes them, see `normalize.number_convention`); anything in them that is
not a number is missing. CSV columns not in `numeric` stay the text in the file; Parquet and Excel
columns keep the types the upload gives them. `column_names` reads only the header, to check a file
before work is queued for it; `stage` writes what `read_batches` reads into a Parquet file (run both in the
parsing sandbox for a file from a client: automl.ingest.sandbox).
"""
from __future__ import annotations

from collections.abc import Collection, Iterator
from itertools import chain
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from automl.errors import BadInput
from automl.ingest.detect import detect_format, sniff_text
from automl.ingest.limits import ParseLimits, check_cells, check_parquet
from automl.ingest.normalize import Plan, parse_numbers, settle_number_convention
from automl.ingest.sources import Retype, Source, excel_header

MAX_ATTEMPTS = 12
_UNSETTLED = "unsettled"


def column_names(path: Path, filename: str, limits: ParseLimits | None = None) -> list[str]:
    """The file's column names as the upload names them (trimmed), reading only its header.
    BadInput / UnsupportedMedia / TooLarge for a file the upload could not read."""
    limits = limits or ParseLimits()
    fmt = detect_format(path, filename)
    if fmt == "csv":
        names = sniff_text(path, filename).header
    elif fmt == "parquet":
        check_parquet(path, filename, limits)
        try:
            names = [n for n in pq.read_schema(path).names if not n.startswith("__index_level_")]
        except (pa.ArrowException, OSError) as exc:
            raise BadInput(f"{filename!r} is not a readable Parquet file: {exc}") from None
    else:
        names = excel_header(path, filename, limits)
    return [str(n).strip() for n in names]


def stage(path: Path, filename: str, dest: Path, *, numeric: Collection[str] = (),
          limits: ParseLimits | None = None) -> int:
    """`read_batches` into the Parquet file `dest` (rows); TooLarge past `limits`. `dest` is read back with
    `read_batches(dest, "x.parquet", numeric=numeric)` as the same rows."""
    limits = limits or ParseLimits()
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for batch in read_batches(path, filename, numeric=numeric, limits=limits):
            rows += batch.num_rows
            check_cells(rows, batch.num_columns, limits)
            if writer is None:
                schema = batch.schema
                writer = pq.ParquetWriter(dest, schema, compression="none")
            elif batch.schema != schema:  # a later batch typed a column differently (e.g. all-null so far)
                batch = pa.Table.from_batches([batch]).cast(schema).to_batches()[0]
            writer.write_batch(batch)
    finally:
        if writer is not None:
            writer.close()
    return rows


def read_batches(path: Path, filename: str, *, numeric: Collection[str] = (),
                 limits: ParseLimits | None = None) -> Iterator[pa.RecordBatch]:
    """The file's rows, batch by batch (see the module's docstring); no batch is empty. Raises BadInput /
    UnsupportedMedia, naming the problem, for anything the upload would refuse. When the reader has to
    start over (another encoding, quoted newlines met late), the rows already handed out are skipped."""
    source = Source.open(path, filename, limits=limits)
    if source.format == "csv":  # every column as text; `numeric` ones are parsed below, as the upload parses
        source.column_types = {name: pa.string() for name in sniff_text(path, filename).header}
    numbers = _Numbers(frozenset(numeric))
    done = 0
    for _ in range(MAX_ATTEMPTS):
        try:
            for batch in _skip(_normalised(source, numbers), done):
                done += batch.num_rows
                yield batch
            return
        except Retype as problem:
            source.retype(problem)
        except (pa.ArrowException, UnicodeError) as exc:  # what ingest_file also reports as unreadable
            raise BadInput(f"the file could not be read: {exc}") from None
    raise BadInput("the file could not be read consistently; save it as UTF-8 CSV and try again")


class _Numbers:
    """Text -> float64 for the wanted columns; each column's decimal convention settled by the first batch
    that needs it (a plain float64 cast reads most batches) and kept for the rest of the file."""

    def __init__(self, wanted: frozenset[str]) -> None:
        self.wanted = wanted
        self.decimal_comma_likely = False  # set once the delimiter is known: ';' files favour 1,5
        self.convention: dict[str, str | None] = {}

    def __call__(self, name: str, col: pa.Array) -> pa.Array:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            if self.convention.get(name, _UNSETTLED) == _UNSETTLED:
                try:
                    return col.cast(pa.float64())
                except pa.ArrowInvalid:
                    self.convention[name] = settle_number_convention(
                        col, decimal_comma_likely=self.decimal_comma_likely)
            return parse_numbers(col, self.convention[name])
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_boolean(col.type) \
                or pa.types.is_decimal(col.type) or pa.types.is_null(col.type):
            return col.cast(pa.float64())
        return pa.nulls(len(col), pa.float64())  # dates, times, bytes: not numbers, as the engine reads them


def _normalised(source: Source, numbers: _Numbers) -> Iterator[pa.RecordBatch]:
    batches = (b for b in source.batches() if b.num_rows)
    first = next(batches, None)
    if first is None:
        return
    numbers.decimal_comma_likely = source.delimiter == ";"  # as the upload's Plan decides
    names = frozenset(str(n).strip() for n in first.schema.names)
    plan = Plan.from_batch(first, keep_text=names)  # the upload's header rules; no value converted here
    text = source.format == "csv"
    for batch in chain([first], batches):
        batch = plan.apply(batch)
        arrays = []
        for name, col in zip(batch.schema.names, batch.columns, strict=True):
            if name in numbers.wanted:
                col = numbers(name, col)
            elif text and not pa.types.is_string(col.type):  # a header the sniffer split otherwise
                col = col.cast(pa.string())
            arrays.append(col)
        yield pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _skip(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        if rows >= batch.num_rows:
            rows -= batch.num_rows
            continue
        yield batch.slice(rows) if rows else batch
        rows = 0
