"""Read an uploaded file once, batch by batch, normalise each batch and hand it to a sink (a Parquet file
written on a background thread, or an in-memory table). Memory stays near one row group, not the file."""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from itertools import chain
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from automl.errors import BadInput
from automl.ingest.growing import UploadProgress
from automl.ingest.limits import ParseLimits, check_cells
from automl.ingest.normalize import Plan, Replan
from automl.ingest.sources import Retype, Source

MAX_ATTEMPTS = 12
ROW_GROUP_ROWS = 65536


class Sink(Protocol):
    def put(self, batch: pa.RecordBatch) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


class TableSink:
    def __init__(self) -> None:
        self.batches: list[pa.RecordBatch] = []

    def put(self, batch: pa.RecordBatch) -> None:
        self.batches.append(batch)

    def close(self) -> None:
        pass

    def abort(self) -> None:
        self.batches.clear()


class ParquetSink:
    """Writes row groups of ~ROW_GROUP_ROWS on its own thread while the caller keeps parsing."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self._queue: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="parquet-writer", daemon=True)
        self._thread.start()

    def put(self, batch: pa.RecordBatch) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(batch)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self.dest.unlink(missing_ok=True)

    def _run(self) -> None:
        writer: pq.ParquetWriter | None = None
        pending: list[pa.RecordBatch] = []
        rows = 0
        try:
            while (batch := self._queue.get()) is not None:
                if self._error is not None:
                    continue  # drain so the producer never blocks
                pending.append(batch)
                rows += batch.num_rows
                if rows >= ROW_GROUP_ROWS:
                    writer = _write_group(writer, self.dest, pending)
                    pending, rows = [], 0
            if pending and self._error is None:
                writer = _write_group(writer, self.dest, pending)
        except BaseException as exc:  # noqa: BLE001 - handed to the producer thread
            self._error = exc
            while self._queue.get() is not None:
                pass
        finally:
            if writer is not None:
                writer.close()


def _write_group(writer: pq.ParquetWriter | None, dest: Path, batches: list[pa.RecordBatch]) -> pq.ParquetWriter:
    table = pa.Table.from_batches(batches)
    if writer is None:
        # Uncompressed and without statistics: the cheapest to write and read back (measured); dictionary pages
        # for strings only, where they pay off and let the profiler read codes instead of hashing text.
        strings = [f.name for f in table.schema if pa.types.is_string(f.type)]
        writer = pq.ParquetWriter(dest, table.schema, compression="none", use_dictionary=strings or False,
                                  write_statistics=False)
    writer.write_table(table, row_group_size=len(table))
    return writer


def convert(
    path: Path, filename: str, sink_factory: Callable[[], Sink], *, progress: UploadProgress | None = None,
    limits: ParseLimits | None = None,
) -> tuple[Sink, int, int]:
    """Stream `path` through the normaliser into a new sink; (sink, rows, columns). Reads again, more
    carefully, when a later batch contradicts what the first one suggested. With `progress`, `path` is an
    upload still arriving and is read as it grows. TooLarge past `limits` (rows x columns)."""
    source = Source.open(path, filename, progress, limits=limits)
    keep_text: set[str] = set()
    for _ in range(MAX_ATTEMPTS):
        sink = sink_factory()
        try:
            rows, cols = _pump(source, sink, frozenset(keep_text))
            sink.close()
            return sink, rows, cols
        except Replan as problem:
            keep_text.add(problem.column)
        except Retype as problem:
            source.retype(problem)
        except BaseException:
            sink.abort()
            raise
        sink.abort()
    raise BadInput("the column types of this file could not be settled; check that each column holds one kind "
                   "of value")


def _pump(source: Source, sink: Sink, keep_text: frozenset[str]) -> tuple[int, int]:
    batches = (b for b in source.batches() if b.num_rows)
    first = next(batches, None)
    if first is None:
        raise BadInput("the file has a header row but no data rows")
    check_cells(first.num_rows, first.num_columns, source.limits)  # before a plan is made per column
    plan = Plan.from_batch(first, keep_text=keep_text, decimal_comma_likely=source.delimiter == ";")
    n_cols = len(plan.names) - len(plan.drop)
    if n_cols < 2:
        raise BadInput("the file has a single column; a dataset needs at least two (features and a target). "
                       "If it has more, separate them with a comma, semicolon, tab or |")
    rows = 0
    for batch in chain([first], batches):
        rows += batch.num_rows
        check_cells(rows, n_cols, source.limits)
        sink.put(plan.apply(batch))
    return rows, n_cols


def read_table(path: Path, filename: str) -> pa.Table:
    """Read an uploaded CSV/TSV/TXT, XLSX/XLS or Parquet file into a normalised Table (detected format,
    encoding, delimiter, decimal commas, dates). Raises BadInput (4xx) with a clear message otherwise."""
    sink, _, _ = convert(path, filename, TableSink)
    assert isinstance(sink, TableSink)
    return pa.Table.from_batches(sink.batches)
