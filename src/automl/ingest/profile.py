"""Per-column profile and dataset warnings, computed with pyarrow.compute on the table (no pandas).

One `dictionary_encode` per column gives the unique count, value counts and per-row codes; the codes of all
columns hashed together count duplicate rows. Columns are profiled in a thread pool (Arrow kernels release
the GIL). A Parquet file is opened once and read in batches of columns, the next read while one is profiled.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from automl.ingest.jsonable import jsonable
from automl.ingest.kinds import ColumnFacts, infer_kind
from automl.ingest.stats import column_stats

N_SAMPLES = 5
N_DISTINCT_FACTS = 1000
HIGH_CARDINALITY = 50
MOSTLY_MISSING_PCT = 50.0
BATCH_BYTES = 16 << 20
BATCH_COLUMNS = 4096
_MIX = np.uint64(0x9E3779B97F4A7C15)


def profile_table(table: pa.Table) -> dict[str, Any]:
    """`{"columns": [...], "warnings": [...]}` for the Dataset.profile JSON column."""
    return _profile(table.num_rows, [[(name, table[name]) for name in table.column_names]])


def column_kinds(data: Any) -> dict[str, str]:
    """Each column's kind as the dataset profile gives it, for a pyarrow Table or a pandas DataFrame: the one
    kind inference, so that a library user's `AutoML.fit(df, target, kinds=column_kinds(df))` sees the
    columns as the platform does. For the platform's kinds exactly, read the file with `read_table` first."""
    table = data if isinstance(data, pa.Table) else _from_pandas(data)
    return {c["name"]: c["kind"] for c in profile_table(table)["columns"]}


def _from_pandas(df: Any) -> pa.Table:
    """A DataFrame as Arrow columns; an object column Arrow cannot type (mixed values) as text."""
    arrays = []
    for name in df.columns:
        values = df[name]
        try:
            arrays.append(pa.array(values, from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays.append(pa.array([None if v is None or v != v else str(v) for v in values], pa.string()))
    return pa.Table.from_arrays(arrays, names=[str(n) for n in df.columns])


def profile_parquet(path: Path) -> dict[str, Any]:
    """The same, reading the Parquet file once, a batch of columns at a time (memory: about BATCH_BYTES of
    decoded columns, or one column when it is larger, not the table)."""
    # ParquetFile.read, not pq.read_table: the dataset machinery behind the latter costs seconds on first use;
    # strings come back dictionary-encoded as stored, which spares decoding and hashing them. The file and
    # its footer are opened once: reopening per column made a wide file's profile quadratic in its columns.
    meta = pq.read_metadata(path)
    schema = meta.schema.to_arrow_schema()
    strings = [f.name for f in schema if pa.types.is_string(f.type)]
    parquet = pq.ParquetFile(path, metadata=meta, read_dictionary=strings or None)

    def batches() -> Iterator[list[tuple[str, pa.ChunkedArray]]]:
        # the next batch is read (on Arrow's threads) while this one is profiled: at most two batches in memory
        with ThreadPoolExecutor(1, thread_name_prefix="profile-read") as reader:
            ahead: tuple[list[str], Future[pa.Table]] | None = None
            for names in column_batches(meta, schema.names, min_columns=_workers()):
                read = reader.submit(parquet.read, columns=names)
                if ahead is not None:
                    yield _columns_of(*ahead)
                ahead = (names, read)
            if ahead is not None:
                yield _columns_of(*ahead)

    return _profile(meta.num_rows, batches())


def _columns_of(names: list[str], read: Future[pa.Table]) -> list[tuple[str, pa.ChunkedArray]]:
    table = read.result()
    return [(name, table[name]) for name in names]


def column_batches(meta: pq.FileMetaData, names: list[str], *, min_columns: int = 1) -> Iterator[list[str]]:
    """`names` in order, cut into batches of at most BATCH_COLUMNS columns and about BATCH_BYTES uncompressed,
    or `min_columns` columns when they are larger (so that each profiling thread has a column)."""
    sizes = _column_sizes(meta, len(names))
    batch: list[str] = []
    total = 0
    for name, size in zip(names, sizes, strict=True):
        if len(batch) >= BATCH_COLUMNS or (len(batch) >= min_columns and total + size > BATCH_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(name)
        total += size
    if batch:
        yield batch


def _column_sizes(meta: pq.FileMetaData, n_fields: int) -> list[int]:
    """Each top-level column's uncompressed size over all row groups (the mean when columns are nested)."""
    sizes = [0] * meta.num_columns
    for r in range(meta.num_row_groups):
        group = meta.row_group(r)
        for i in range(meta.num_columns):
            sizes[i] += group.column(i).total_uncompressed_size
    if meta.num_columns == n_fields:
        return sizes
    return [sum(sizes) // max(1, n_fields)] * n_fields


def _profile(n_rows: int, batches: Iterable[list[tuple[str, pa.ChunkedArray]]]) -> dict[str, Any]:
    workers = _workers()
    row_hash = np.zeros(n_rows, dtype=np.uint64)
    columns = []
    with ThreadPoolExecutor(workers) as pool:
        for batch in batches:  # one batch in memory at a time: Executor.map submits all it is given
            # a task profiles a slice of columns: one future per column costs as much as a narrow column
            step = max(1, len(batch) // (4 * workers))
            slices = (batch[i:i + step] for i in range(0, len(batch), step))
            for profile, codes in chain.from_iterable(pool.map(lambda part: _profile_columns(part, n_rows), slices)):
                columns.append(profile)
                if codes is not None:  # fold each column's codes into a per-row hash, then let them go
                    row_hash *= _MIX
                    np.bitwise_xor(row_hash, codes, out=row_hash, dtype=np.uint64, casting="unsafe")
    duplicates = _duplicates(row_hash)
    return {"columns": columns, "warnings": dataset_warnings(columns, duplicates, n_rows)}


def _workers() -> int:
    return max(1, os.cpu_count() or 1)


def _profile_columns(
    part: list[tuple[str, pa.ChunkedArray]], n_rows: int,
) -> list[tuple[dict[str, Any], np.ndarray | None]]:
    return [_profile_column(name, col, n_rows) for name, col in part]


def _encode(col: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """(distinct non-null values, per-row codes with missing = len(distinct), count of each distinct value)."""
    if pa.types.is_dictionary(col.type):  # read as dictionary from Parquet: no hashing needed
        col = col.unify_dictionaries()
        dictionary = col.chunk(0).dictionary if col.num_chunks else pa.array([], col.type.value_type)
        indices = pa.chunked_array([c.indices for c in col.chunks], col.type.index_type).combine_chunks()
    else:
        array = col.combine_chunks()
        if pa.types.is_floating(array.type) and pc.any(pc.is_nan(array)).as_py():  # NaN counts as missing
            array = pc.if_else(pc.is_nan(array), pa.scalar(None, array.type), array)
        encoded = pc.dictionary_encode(array)
        dictionary, indices = encoded.dictionary, encoded.indices
    codes = indices.fill_null(len(dictionary)).to_numpy(zero_copy_only=False)
    counts = np.bincount(codes, minlength=len(dictionary) + 1)[: len(dictionary)]
    used = np.flatnonzero(counts)
    if len(used) < len(dictionary):  # a Parquet dictionary may list values no row uses
        dictionary, counts = dictionary.take(pa.array(used)), counts[used]
    return dictionary, codes, counts


def _profile_column(name: str, col: pa.ChunkedArray, n_rows: int) -> tuple[dict[str, Any], np.ndarray | None]:
    value_type = col.type.value_type if pa.types.is_dictionary(col.type) else col.type
    if pa.types.is_null(value_type):
        facts = ColumnFacts(name, value_type, n_rows, 0, 0, pa.array([]), False)
        return _column_json(facts, kind="constant", stats={}, samples=[]), None
    dictionary, codes, counts = _encode(col)
    n_valid = int(counts.sum())
    is_string = pa.types.is_string(value_type) or pa.types.is_large_string(value_type)
    facts = ColumnFacts(
        name=name, type=value_type, n_rows=n_rows, n_valid=n_valid, n_unique=len(dictionary),
        distinct=dictionary.slice(0, N_DISTINCT_FACTS),
        monotonic=n_valid == n_rows and _strictly_monotonic(col),
        mean_length=_mean(pc.utf8_length(dictionary)) if is_string else 0.0,
        space_share=_mean(pc.match_substring(dictionary, " ")) if is_string else 0.0,
    )
    kind = infer_kind(facts)
    stats = column_stats(dictionary, counts, kind=kind, n_valid=n_valid)
    samples = [jsonable(v) for v in dictionary.slice(0, N_SAMPLES).to_pylist()]
    return _column_json(facts, kind=kind, stats=stats, samples=samples), codes


def _column_json(f: ColumnFacts, *, kind: str, stats: dict[str, Any], samples: list[Any]) -> dict[str, Any]:
    n_missing = f.n_rows - f.n_valid
    return {
        "name": f.name, "dtype": str(f.type), "kind": kind, "n_unique": f.n_unique, "n_missing": n_missing,
        "missing_pct": round(100.0 * n_missing / f.n_rows, 2) if f.n_rows else 0.0,
        "samples": samples, "stats": stats,
    }


def _mean(values: pa.Array) -> float:
    if len(values) == 0:
        return 0.0
    return float(pc.mean(pc.cast(values, pa.float64())).as_py() or 0.0)


def _strictly_monotonic(col: pa.ChunkedArray) -> bool:
    if len(col) < 2 or not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
        return False
    head, tail = col.slice(0, len(col) - 1), col.slice(1)
    return bool(pc.all(pc.greater(tail, head)).as_py() or pc.all(pc.less(tail, head)).as_py())


def _duplicates(row_hash: np.ndarray) -> int:
    """Rows equal to an earlier row, counted on a 64-bit hash of each row's per-column codes."""
    if len(row_hash) < 2:
        return 0
    row_hash.sort()
    return int(np.count_nonzero(row_hash[1:] == row_hash[:-1]))


def dataset_warnings(columns: list[dict[str, Any]], duplicates: int, n_rows: int) -> list[dict[str, Any]]:
    warnings: list[dict[str, Any]] = []
    if duplicates:
        pct = 100.0 * duplicates / n_rows
        warnings.append({"code": "duplicate_rows", "column": None,
                         "message": f"{duplicates} rows ({pct:.1f}%) duplicate an earlier row"})
    for c in columns:
        name, kind = c["name"], c["kind"]
        if kind == "constant":
            warnings.append({"code": "constant", "column": name,
                             "message": f"column {name!r} has a single value; it carries no information"})
        elif kind == "id":
            warnings.append({"code": "id_like", "column": name,
                             "message": f"column {name!r} looks like an identifier (unique per row)"})
        elif kind in ("categorical", "text") and c["n_unique"] > HIGH_CARDINALITY and (
            c["n_unique"] >= 0.2 * (n_rows - c["n_missing"]) or c["n_unique"] > 1000
        ):
            warnings.append({"code": "high_cardinality", "column": name,
                             "message": f"column {name!r} has {c['n_unique']} distinct values"})
        if c["missing_pct"] >= MOSTLY_MISSING_PCT and kind != "constant":
            warnings.append({"code": "mostly_missing", "column": name,
                             "message": f"column {name!r} is {c['missing_pct']:.0f}% missing"})
    return warnings

