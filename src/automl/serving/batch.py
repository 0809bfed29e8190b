"""Score a file in chunks with bounded memory: Arrow reads, model predicts, Arrow writes CSV.

CSV input is streamed with `pyarrow.csv.open_csv`; the model's numeric columns are parsed as float64
(fast path) and every other column is kept as text, so pass-through columns come out as they went in.
If a numeric column holds text, the file is re-read with every column as text and the pipeline's own
coercion turns the bad cells into missing values. Parquet is streamed by record batch; Excel is small
by nature (at most ~1M rows) and read whole.
"""
from __future__ import annotations

import csv
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from automl.serving.csvsafe import neutralise_table
from automl.serving.predict import outputs

try:  # the markers ingest reads as missing, so that scoring sees what training saw
    from automl.ingest.sources import NULL_VALUES
except ImportError:  # pragma: no cover - ingest without the list: pyarrow's defaults
    NULL_VALUES = list(pacsv.ConvertOptions().null_values)
CHUNK_ROWS = 100_000
MAX_WORKERS = 4  # scoring threads; more than the cores only adds contention
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
SUFFIXES = (*CSV_SUFFIXES, ".parquet", ".xlsx", ".xls")


class BatchInputError(ValueError):
    """The file cannot be scored as it is (unreadable, missing columns); the message says why."""


def file_suffix(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    if suffix not in SUFFIXES:
        raise BatchInputError(f"unsupported file type {suffix or '(none)'!r}; use one of {', '.join(SUFFIXES)}")
    return suffix


def _sniff_csv(path: Path) -> tuple[list[str], str]:
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        head = f.read(64 * 1024)
    if not head.strip():
        raise BatchInputError("the file is empty")
    first = head.splitlines()[0]
    delimiter = max(",;\t|", key=first.count) if any(d in first for d in ",;\t|") else ","
    names = next(csv.reader([first], delimiter=delimiter))
    return names, delimiter


def read_columns(path: Path, filename: str) -> list[str] | None:
    """The file's column names, read cheaply (to check a submission before queueing it); None for Excel."""
    suffix = file_suffix(filename)
    try:
        if suffix in CSV_SUFFIXES:
            return _sniff_csv(path)[0]
        if suffix == ".parquet":
            return list(pq.read_schema(path).names)
    except (OSError, pa.ArrowException) as exc:
        raise BatchInputError(f"cannot read {filename}: {exc}") from None
    return None  # Excel: checked when the job reads it


def missing_columns(schema: Sequence[dict[str, Any]], names: Sequence[str]) -> list[str]:
    present = set(names)
    return [c["name"] for c in schema if c.get("required", True) and c["name"] not in present]


def _csv_chunks(path: Path, schema: Sequence[dict[str, Any]], *, typed: bool) -> Iterator[pa.RecordBatch]:
    names, delimiter = _sniff_csv(path)
    numeric = {c["name"] for c in schema if c.get("kind") == "numeric"} if typed else set()
    types = {n: (pa.float64() if n in numeric else pa.string()) for n in names}
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=8 << 20),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=False),
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True, null_values=NULL_VALUES),
    )
    yield from reader


def _excel_chunks(path: Path) -> Iterator[pa.RecordBatch]:
    import pandas as pd

    df = pd.read_excel(path, engine="calamine", dtype=object)
    df.columns = [str(c) for c in df.columns]
    yield from pa.Table.from_pandas(df, preserve_index=False).to_batches()


def _ingest_chunks(path: Path, filename: str) -> Iterator[pa.RecordBatch]:
    """The ingest reader (encoding detection, every dialect it knows); reads the file whole."""
    from automl.errors import DomainError
    from automl.ingest import read_table

    try:
        table = read_table(path, filename)
    except DomainError as exc:
        raise BatchInputError(str(exc.detail)) from None
    yield from table.to_batches(max_chunksize=CHUNK_ROWS)


def _batches(
    path: Path, filename: str, schema: Sequence[dict[str, Any]], *, typed: bool | None
) -> Iterator[pa.RecordBatch]:
    """typed=True: numeric model columns as float64; False: all text; None: the ingest reader."""
    suffix = file_suffix(filename)
    if typed is None:
        return _ingest_chunks(path, filename)
    if suffix in CSV_SUFFIXES:
        return _csv_chunks(path, schema, typed=typed)
    if suffix == ".parquet":
        return pq.ParquetFile(path).iter_batches(batch_size=CHUNK_ROWS)
    return _excel_chunks(path)


def _regroup(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """Record batches of any size -> tables of about `rows` rows."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield pa.Table.from_batches(pending)
            pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def score_table(model: Any, table: pa.Table, *, columns: Sequence[str], classifier: bool) -> pa.Table:
    """The input columns, then `prediction`, then `proba_<class>` per class; formulas neutralised."""
    frame = table.select([c for c in columns if c in table.column_names]).to_pandas()
    labels, proba = outputs(model, frame, probabilities=classifier)
    if labels.dtype.kind == "f":
        out = table.append_column("prediction", pa.array(labels, from_pandas=True))
    else:
        out = table.append_column("prediction", pa.array(labels.tolist()))
    if proba is not None:
        values = proba.to_numpy(dtype="float64")
        for i, cls in enumerate(proba.columns):
            out = out.append_column(f"proba_{cls}", pa.array(values[:, i]))
    return neutralise_table(out)


def score_file(
    model: Any,
    schema: Sequence[dict[str, Any]],
    src: Path,
    dest: Path,
    *,
    filename: str,
    classifier: bool,
    chunk_rows: int = CHUNK_ROWS,
    on_chunk: Callable[[int], None] | None = None,
) -> int:
    """Score `src` into the CSV `dest`; returns the number of rows. Raises BatchInputError for bad input."""
    def run(typed: bool | None) -> int:
        return _score(model, schema, src, dest, filename=filename, classifier=classifier,
                      chunk_rows=chunk_rows, on_chunk=on_chunk, typed=typed)

    # numeric columns typed (fast); then, if one holds text, all text (the pipeline coerces bad cells to
    # missing); then, for another encoding or an odd dialect, the ingest reader, which detects them
    try:
        return run(True)
    except pa.ArrowInvalid as exc:
        message = str(exc).lower()
        as_text = "conversion error" in message and "utf8" not in message
    if as_text:
        try:
            return run(False)
        except pa.ArrowInvalid:
            pass
    try:
        return run(None)
    except pa.ArrowInvalid as exc:
        raise BatchInputError(f"cannot read {filename}: {exc}") from None


def _score(
    model: Any,
    schema: Sequence[dict[str, Any]],
    src: Path,
    dest: Path,
    *,
    filename: str,
    classifier: bool,
    chunk_rows: int,
    on_chunk: Callable[[int], None] | None,
    typed: bool,
) -> int:
    """Chunks are scored on a small thread pool (predict releases the GIL) while the main thread reads the
    next chunk and writes finished ones in order; at most `workers + 1` chunks are in memory."""
    columns = [c["name"] for c in schema]
    workers = max(1, min(os.cpu_count() or 1, MAX_WORKERS))
    n_rows = 0
    writer: pacsv.CSVWriter | None = None
    schema_out: pa.Schema | None = None
    pending: deque[tuple[int, Future[pa.Table]]] = deque()

    def write_oldest() -> None:
        nonlocal writer, schema_out, n_rows
        rows, future = pending.popleft()
        out = future.result()
        if writer is None or schema_out is None:
            schema_out = out.schema
            writer = pacsv.CSVWriter(dest, schema_out)
        writer.write_table(out if out.schema == schema_out else out.cast(schema_out))
        n_rows += rows
        if on_chunk is not None:
            on_chunk(n_rows)

    with ThreadPoolExecutor(workers, thread_name_prefix="score") as pool:
        try:
            for i, table in enumerate(_regroup(_batches(src, filename, schema, typed=typed), chunk_rows)):
                if i == 0 and (missing := missing_columns(schema, table.column_names)):
                    raise BatchInputError(f"missing columns: {', '.join(missing)}")
                pending.append((table.num_rows, pool.submit(score_table, model, table, columns=columns,
                                                            classifier=classifier)))
                if len(pending) > workers:
                    write_oldest()
            while pending:
                write_oldest()
        finally:
            for _, future in pending:
                future.cancel()
            if writer is not None:
                writer.close()
    if writer is None:
        raise BatchInputError("the file has no rows to score")
    return n_rows
