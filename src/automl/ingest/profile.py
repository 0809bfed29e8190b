"""Per-column profile and dataset warnings, computed with pyarrow.compute on the table (no pandas).

One `dictionary_encode` per column gives the unique count, value counts and per-row codes; the codes of all
columns hashed together count duplicate rows. Columns are profiled in a thread pool (Arrow kernels release
the GIL).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from automl.ingest.jsonable import jsonable
from automl.ingest.kinds import ColumnFacts, infer_kind
from automl.ingest.stats import column_stats

N_SAMPLES = 5
N_DISTINCT_FACTS = 1000
HIGH_CARDINALITY = 50
MOSTLY_MISSING_PCT = 50.0
_MIX = np.uint64(0x9E3779B97F4A7C15)


def profile_table(table: pa.Table) -> dict[str, Any]:
    """`{"columns": [...], "warnings": [...]}` for the Dataset.profile JSON column."""
    workers = min(len(table.column_names), os.cpu_count() or 1) or 1
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda name: _profile_column(name, table[name], table.num_rows),
                                table.column_names))
    columns = [profile for profile, _ in results]
    duplicates = _duplicate_rows([codes for _, codes in results], table.num_rows)
    return {"columns": columns, "warnings": dataset_warnings(columns, duplicates, table.num_rows)}


def _encode(col: pa.ChunkedArray) -> pa.DictionaryArray:
    array = col.combine_chunks()
    if pa.types.is_floating(array.type):  # NaN counts as missing, like a null
        array = pc.if_else(pc.is_nan(array), pa.scalar(None, array.type), array)
    return pc.dictionary_encode(array)


def _profile_column(name: str, col: pa.ChunkedArray, n_rows: int) -> tuple[dict[str, Any], np.ndarray | None]:
    if pa.types.is_null(col.type):
        facts = ColumnFacts(name, col.type, n_rows, 0, 0, pa.array([]), False)
        return _column_json(facts, kind="constant", stats={}, samples=[]), None
    encoded = _encode(col)
    dictionary = encoded.dictionary
    codes = encoded.indices.fill_null(len(dictionary)).to_numpy(zero_copy_only=False)
    n_valid = n_rows - encoded.null_count
    counts = np.bincount(codes, minlength=len(dictionary) + 1)[: len(dictionary)]
    is_string = pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
    facts = ColumnFacts(
        name=name, type=col.type, n_rows=n_rows, n_valid=n_valid, n_unique=len(dictionary),
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


def _duplicate_rows(codes: list[np.ndarray | None], n_rows: int) -> int:
    """Rows equal to an earlier row, via a 64-bit hash of each row's per-column codes."""
    row_hash = np.zeros(n_rows, dtype=np.uint64)
    for c in codes:
        if c is not None:
            row_hash *= _MIX
            row_hash ^= c.astype(np.uint64)
    if n_rows < 2:
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

