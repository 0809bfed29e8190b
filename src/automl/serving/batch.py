"""Score a file in chunks with bounded memory: ingest's reader reads, the model predicts, Arrow writes CSV.

The file is read by the upload's own reader (`automl.ingest.stream`), so it parses for scoring exactly as it
did for training: detected encoding and delimiter, decimal commas and thousand separators, the same missing
markers, Excel through calamine, Parquet by record batch. The model's numeric columns arrive as float64
(anything in them that is not a number is missing, as the pipeline's own coercion would make it); every
other CSV column is the text in the file, so pass-through columns come out as they went in.
"""
from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from automl.errors import DomainError
from automl.ingest import sandbox
from automl.ingest.limits import ParseLimits
from automl.ingest.stream import column_names, read_batches, stage
from automl.serving.csvsafe import neutralise_table
from automl.serving.explain import ExplainError, add_reasons
from automl.serving.predict import outputs

__all__ = ["BatchInputError", "check_columns", "missing_columns", "score_file", "score_table"]

CHUNK_ROWS = 100_000
MAX_WORKERS = 4  # scoring threads; more than the cores only adds contention


class BatchInputError(ValueError):
    """The file cannot be scored as it is (unreadable, missing columns); the message says why."""


def missing_columns(schema: Sequence[dict[str, Any]], names: Sequence[str]) -> list[str]:
    present = set(names)
    return [c["name"] for c in schema if c.get("required", True) and c["name"] not in present]


def check_columns(schema: Sequence[dict[str, Any]], path: Path, *, filename: str,
                  limits: ParseLimits | None = None) -> None:
    """Refuse, before it is queued, a file the upload's reader cannot open or that lacks a required column;
    only the header is read, in the parsing sandbox (a workbook is opened whole to read its first row)."""
    limits = limits or ParseLimits()
    try:
        names = sandbox.run(column_names, path, filename, limits, limits=limits)
    except DomainError as exc:
        raise BatchInputError(str(exc.detail)) from None
    if missing := missing_columns(schema, names):
        raise BatchInputError(f"missing columns: {', '.join(missing)}")


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


def score_table(model: Any, table: pa.Table, *, columns: Sequence[str], classifier: bool,
                threshold: float | None = None, explain_top_k: int = 0) -> pa.Table:
    """The input columns, then `prediction`, then `proba_<class>` per class, then with `explain_top_k` the
    row's k largest contributions (`reason_i`, `reason_i_contribution`, serving.explain); formulas neutralised.
    A binary model's `threshold` decides its labels (see serving.predict.outputs)."""
    frame = table.select([c for c in columns if c in table.column_names]).to_pandas()
    labels, proba = outputs(model, frame, probabilities=classifier, threshold=threshold)
    if labels.dtype.kind == "f":
        out = table.append_column("prediction", pa.array(labels, from_pandas=True))
    else:
        out = table.append_column("prediction", pa.array(labels.tolist()))
    if proba is not None:
        values = proba.to_numpy(dtype="float64")
        for i, cls in enumerate(proba.columns):
            out = out.append_column(f"proba_{cls}", pa.array(values[:, i]))
    if explain_top_k:
        try:
            out = add_reasons(out, model, frame, labels.tolist() if classifier else None, explain_top_k)
        except ExplainError as exc:  # fails the job with its reason, as bad input does
            raise BatchInputError(str(exc)) from None
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
    limits: ParseLimits | None = None,
    threshold: float | None = None,
    explain_top_k: int = 0,
) -> int:
    """Score `src` into the CSV `dest`; returns the number of rows. Raises BatchInputError for bad input.

    The client's file is first read in the parsing sandbox into a Parquet file next to `dest` (numeric
    columns as float64, the rest as the reader gives them), which is then scored: a hostile file costs its
    job, never the worker."""
    limits = limits or ParseLimits()
    staged = dest.with_name(dest.name + ".staged.parquet")
    numeric = [c["name"] for c in schema if c.get("kind") == "numeric"]
    try:
        sandbox.run(stage, src, filename, staged, numeric=numeric, limits=limits)
        return _score(model, schema, staged, dest, filename=staged.name, classifier=classifier,
                      chunk_rows=chunk_rows, on_chunk=on_chunk, threshold=threshold, explain_top_k=explain_top_k)
    except DomainError as exc:  # the reader's BadInput: what the upload would have said about this file
        raise BatchInputError(f"cannot read {filename}: {exc.detail}") from None
    finally:
        staged.unlink(missing_ok=True)


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
    threshold: float | None = None,
    explain_top_k: int = 0,
) -> int:
    """Chunks are scored on a small thread pool (predict releases the GIL) while the main thread reads the
    next chunk and writes finished ones in order; at most `workers + 1` chunks are in memory."""
    columns = [c["name"] for c in schema]
    numeric = [c["name"] for c in schema if c.get("kind") == "numeric"]
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
            for i, table in enumerate(_regroup(read_batches(src, filename, numeric=numeric), chunk_rows)):
                if i == 0 and (missing := missing_columns(schema, table.column_names)):
                    raise BatchInputError(f"missing columns: {', '.join(missing)}")
                pending.append((table.num_rows, pool.submit(score_table, model, table, columns=columns,
                                                            classifier=classifier, threshold=threshold,
                                                            explain_top_k=explain_top_k)))
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
