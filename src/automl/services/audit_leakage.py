"""The leakage audit of a stored dataset for one target (engine.audit does the counting; this reads the data).

The stored Parquet is read once, a batch of rows at a time: each batch is hashed (exact duplicate rows, whole
table) and gives up its share of the audit's sample (at most engine.audit.MAX_AUDIT_ROWS rows, positions
fixed by the seed), so memory is one batch plus the sample. Column kinds are the dataset profile's (one home
for the id rule). Results are kept per (dataset, Parquet sha256, target) in a small in-process cache: the form asks
for the audit when the target is picked, and the experiment records the same audit when it is created.
"""
from __future__ import annotations

import copy
import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from automl.db.models import Dataset
from automl.engine.audit import audit_sample, excluded, row_hashes, sample_rows
from automl.errors import Conflict, Unprocessable
from automl.services import datasets
from automl.storage import Storage

log = logging.getLogger(__name__)
BATCH_ROWS = 1 << 18
CACHE_SIZE = 32
_cache: OrderedDict[tuple[int, str, str], dict[str, Any]] = OrderedDict()
_lock = threading.Lock()


def audit_dataset(storage: Storage, dataset: Dataset, target: str) -> dict[str, Any]:
    """`{dataset_id, target, n_rows, sampled_rows, seconds, findings: [...]}`; 422 for an unknown target."""
    kinds = {c["name"]: c.get("kind", "categorical") for c in (dataset.profile or {}).get("columns", [])}
    if target not in kinds:
        names = ", ".join(list(kinds)[:30])
        raise Unprocessable(f"Unknown target column {target!r}; the dataset's columns are: {names}.")
    key = (dataset.id, dataset.parquet_sha256 or "", target)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return copy.deepcopy(_cache[key])
    result = {"dataset_id": dataset.id, "target": target, **_audit_file(storage, dataset, target, kinds)}
    with _lock:
        _cache[key] = result
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return copy.deepcopy(result)


def _audit_file(storage: Storage, dataset: Dataset, target: str, kinds: dict[str, str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    path = datasets.dataset_file(storage, dataset)  # the profile's and preview's reader: sha256 checked
    try:
        result = audit_parquet(path, target, kinds)
    except (OSError, pa.ArrowException):
        raise Conflict(f"Dataset {dataset.id}'s stored file cannot be read; upload the data again.") from None
    return {**result, "seconds": round(time.perf_counter() - t0, 3)}


def audit_parquet(path: Path, target: str, kinds: dict[str, str]) -> dict[str, Any]:
    """The audit of a local Parquet file: `{n_rows, sampled_rows, findings, exclude}` (bench/audit.py times it)."""
    parquet = pq.ParquetFile(path)
    n_rows = parquet.metadata.num_rows
    keep = sample_rows(n_rows)
    features, targets, parts = [], [], []
    start = 0
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=list(kinds)):
        frame = batch.to_pandas()
        fh, th = row_hashes(frame, target=target)
        features.append(fh)
        targets.append(th)
        lo, hi = np.searchsorted(keep, [start, start + len(frame)])
        parts.append(frame.iloc[keep[lo:hi] - start])
        start += len(frame)
    sample = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(kinds))
    hashes = (np.concatenate(features), np.concatenate(targets)) if features else None
    findings = audit_sample(sample, target=target, kinds=kinds, n_rows=n_rows, hashes=hashes)
    return {"n_rows": n_rows, "sampled_rows": len(sample), "findings": [f.as_dict() for f in findings],
            "exclude": excluded(findings)}


def experiment_record(storage: Storage, dataset: Dataset, target: str, features: list[str]) -> dict[str, Any]:
    """What an experiment keeps of the audit at creation: the findings, the columns they name that the user
    left out (excluded) and those kept as features anyway, each of the latter also as a warning line."""
    try:
        result = audit_dataset(storage, dataset, target)
    except Exception as exc:  # noqa: BLE001 - the audit advises; a failure of it must not refuse the experiment
        log.exception("dataset %s: the leakage audit for %r failed", dataset.id, target)
        return {"findings": [], "excluded": [], "kept": [], "error": f"the audit failed: {type(exc).__name__}"}
    chosen = set(features)
    flagged = result["exclude"]
    return {
        "findings": result["findings"], "n_rows": result["n_rows"], "sampled_rows": result["sampled_rows"],
        "excluded": [c for c in flagged if c not in chosen], "kept": [c for c in flagged if c in chosen],
    }


def warnings_for(record: dict[str, Any]) -> list[str]:
    """One line per finding whose columns were kept as features, and for the row-level findings."""
    kept = set(record.get("kept", []))
    lines = []
    for f in record.get("findings", []):
        if f["exclude"] and not kept.intersection(f["exclude"]):
            continue
        if f["kind"] in ("time_order", "constant"):
            continue
        where = f"{', '.join(map(repr, f['columns']))}: " if f["columns"] else ""
        lines.append(f"Leakage audit ({f['kind']}/{f['check']}): {where}{f['message']}")
    return lines
