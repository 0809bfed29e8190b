"""Column statistics from a column's distinct values and their counts (exact, and cheap: no second pass)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from automl.ingest.jsonable import jsonable

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
TOP_VALUES = 10
HISTOGRAM_BINS = 20


def column_stats(dictionary: pa.Array, counts: np.ndarray, *, kind: str, n_valid: int) -> dict[str, Any]:
    if n_valid == 0:
        return {}
    t = dictionary.type
    if kind == "datetime" and pa.types.is_temporal(t):
        lo_hi = pc.min_max(dictionary).as_py()
        return {"min": jsonable(lo_hi["min"]), "max": jsonable(lo_hi["max"])}
    numeric_type = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
    if kind in ("numeric", "id") and (numeric_type or pa.types.is_duration(t)):
        return numeric_stats(dictionary, counts, n_valid=n_valid)
    stats: dict[str, Any] = {"top_values": top_values(dictionary, counts)}
    if kind == "text" and (pa.types.is_string(t) or pa.types.is_large_string(t)):
        lengths = pc.utf8_length(dictionary)
        lo_hi = pc.min_max(lengths).as_py()
        stats.update(min_length=lo_hi["min"], max_length=lo_hi["max"],
                     mean_length=round(float((lengths.to_numpy() * counts).sum() / n_valid), 2))
    return stats


def top_values(dictionary: pa.Array, counts: np.ndarray, k: int = TOP_VALUES) -> list[dict[str, Any]]:
    if len(counts) > k:
        idx = np.argpartition(-counts, k)[:k]
        idx = idx[np.argsort(-counts[idx], kind="stable")]
    else:
        idx = np.argsort(-counts, kind="stable")
    values = dictionary.take(pa.array(idx)).to_pylist()
    return [{"value": jsonable(v), "count": int(counts[i])} for v, i in zip(values, idx, strict=True)]


def numeric_stats(dictionary: pa.Array, counts: np.ndarray, *, n_valid: int) -> dict[str, Any]:
    """Exact moments and quantiles: each distinct value weighted by its count. Durations are in seconds, as
    the samples are; infinities are left out (`{}` when nothing finite is left)."""
    values = _as_float(dictionary)
    finite = np.isfinite(values)
    values, counts = values[finite], counts[finite]
    n_valid = int(counts.sum())
    if n_valid == 0:
        return {}
    order = np.argsort(values)
    values, weights = values[order], counts[order].astype(np.float64)
    # elementwise products, not np.dot: BLAS threads cost milliseconds on arrays this small
    mean = float((values * weights).sum() / n_valid)
    var = float((((values - mean) ** 2) * weights).sum() / (n_valid - 1)) if n_valid > 1 else 0.0
    cum = np.cumsum(weights)
    # the quantile at q is the value at 0-based rank q*(n-1) (lower interpolation)
    ranks = np.floor(np.asarray(QUANTILES) * (n_valid - 1))
    qvals = values[np.searchsorted(cum, ranks + 1, side="left")]
    hist_counts, edges = np.histogram(values, bins=HISTOGRAM_BINS, weights=weights)
    return {
        "min": jsonable(float(values[0])), "max": jsonable(float(values[-1])),
        "mean": jsonable(mean), "std": jsonable(var**0.5),
        "quantiles": {f"p{round(q * 100)}": jsonable(float(v)) for q, v in zip(QUANTILES, qvals, strict=True)},
        "histogram": {"edges": [jsonable(float(e)) for e in edges], "counts": [int(c) for c in hist_counts]},
    }


_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def _as_float(dictionary: pa.Array) -> np.ndarray:
    t = dictionary.type
    if pa.types.is_duration(t):
        return dictionary.cast(pa.int64()).to_numpy(zero_copy_only=False).astype(np.float64) * _SECONDS[t.unit]
    return dictionary.cast(pa.float64()).to_numpy(zero_copy_only=False)
