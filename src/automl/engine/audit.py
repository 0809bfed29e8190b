"""Leakage audit: what in a table would make a model look better in validation than it will be in use.

Pure and bounded: the per-column checks run on a sample of at most `MAX_AUDIT_ROWS` rows and are all
counting (`np.bincount` over bin codes), so their cost is a few passes over the sample per column, whatever
the model families; exact duplicate rows are counted on 64-bit row hashes of the whole table, which the
caller may compute batch by batch (`row_hashes`) and pass in.

Each column gets at most one finding, the most specific that holds, in this order (a future leak is
checked before the mapping when the target is a class):
- `target_leak` / `function_of_target`: a one-to-one mapping between the column's values and the target's
  classes, or (numeric target) an exact affine or monotone function (|Pearson| or |Spearman| >= 0.9999);
- `target_leak` / `future_leak`: the column is missing exactly when the target takes one value (or present
  only then): recorded after the outcome;
- `target_leak` / `target_proxy`: the column alone predicts the target almost perfectly: the out-of-fold
  score (5 folds) of its per-value target rate (numbers in up to 100 quantile bins, missing a bin of its
  own; in effect a one-feature histogram tree) reaches AUC >= 0.98 or R^2 >= 0.98;
- `id_like`: the profile's `id` kind, or an integer / string column distinct in >= 99 % of its rows;
- `constant`: a single value; `time_order`: a date column (a time-ordered split may be the honest one).
Plus one `duplicates` finding for exact duplicate rows, with the groups whose features agree and target not.

`kind` is the contract's word (target_leak, id_like, duplicates, time_order, constant); `check` names the
rule that fired. `exclude` lists the columns to drop to act on the finding (empty: nothing to drop).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from automl.engine.kinds import coerce_column, dtype_kind
from automl.engine.leaks import MIN_ROWS, Finding, Target, bins, rounded, target_leak

__all__ = ["Finding", "audit", "audit_sample", "excluded", "row_hashes", "sample_rows"]

MAX_AUDIT_ROWS = 200_000
NEAR_UNIQUE = 0.99
MIN_ID_ROWS = 10  # the profile's rule for an id
_MIX = np.uint64(0x9E3779B97F4A7C15)


def row_hashes(df: pd.DataFrame, *, target: str) -> tuple[np.ndarray, np.ndarray]:
    """(hash of each row's feature values, hash of its target value): uint64 per row, the same for equal
    values in any batch of the same table, so a caller may hash a large table a batch at a time."""
    features = [c for c in df.columns if c != target]
    fh = (pd.util.hash_pandas_object(df[features], index=False).to_numpy(np.uint64) if features
          else np.zeros(len(df), np.uint64))
    th = pd.util.hash_pandas_object(df[target], index=False).to_numpy(np.uint64)
    return fh, th


def sample_rows(n_rows: int, *, max_rows: int = MAX_AUDIT_ROWS, seed: int = 0) -> np.ndarray:
    """Sorted row positions of the sample (all rows when there are at most `max_rows`): file order is kept,
    so a date column's ordering can be read from the sample."""
    if n_rows <= max_rows:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=max_rows, replace=False))


def audit(df: pd.DataFrame, target: str, *, kinds: Mapping[str, str] | None = None,
          max_rows: int = MAX_AUDIT_ROWS, seed: int = 0) -> list[Finding]:
    """The audit of a whole DataFrame (the library entry point): hashes every row, samples the rest."""
    hashes = row_hashes(df, target=target)
    sample = df.iloc[sample_rows(len(df), max_rows=max_rows, seed=seed)]
    return audit_sample(sample, target=target, kinds=kinds, n_rows=len(df), hashes=hashes, seed=seed)


def audit_sample(sample: pd.DataFrame, *, target: str, kinds: Mapping[str, str] | None = None,
                 n_rows: int | None = None, hashes: tuple[np.ndarray, np.ndarray] | None = None,
                 seed: int = 0) -> list[Finding]:
    """Findings for `sample` (rows of a table of `n_rows`, in file order); `kinds` as the profile gives them
    (else read from the dtypes); `hashes` from `row_hashes` over the whole table (else the sample's)."""
    kinds = dict(kinds or {})
    for name in sample.columns:
        kinds.setdefault(name, dtype_kind(sample[name]))
    n_rows = len(sample) if n_rows is None else n_rows
    findings: list[Finding] = []
    dup = _duplicates(*(hashes or row_hashes(sample, target=target)))
    if dup is not None:
        findings.append(dup)
    y = Target.of(sample[target], seed=seed)
    for name in sample.columns:
        if name == target:
            continue
        found = _column_finding(name, sample[name], kinds[name], y, n_rows=n_rows)
        if found is not None:
            findings.append(found)
    order = {"high": 0, "medium": 1, "low": 2}
    return sorted(findings, key=lambda f: order[f.severity])


# --- one column ------------------------------------------------------------------------------------------

def _column_finding(name: str, raw: pd.Series, kind: str, y: Target, *, n_rows: int) -> Finding | None:
    numbers = _numbers(raw, kind)
    if y.problem and y.n >= MIN_ROWS:
        values = raw.iloc[y.rows]
        col_numbers = None if numbers is None else numbers[y.rows]
        codes, n_bins = bins(values, col_numbers)
        leak = target_leak(name, codes, n_bins, col_numbers, y)
        if leak is not None:
            return leak
    if kind == "constant":  # after the leak checks: a single value present for one class only is a leak
        return Finding("constant", "constant", (name,), "low", f"{name!r} has a single value: it carries nothing.",
                       {"n_unique": int(raw.nunique())}, (name,))
    ident = _id_like(name, raw, kind, numbers, n_rows=n_rows)
    if ident is not None:
        return ident
    if kind == "datetime" and numbers is not None:
        return _time_order(name, raw, numbers)
    return None


def _numbers(raw: pd.Series, kind: str) -> np.ndarray | None:
    """The column as float64 (dates as nanoseconds), missing as NaN; None for one that is not numbers."""
    if kind == "datetime":
        stamps = coerce_column(raw, "datetime").to_numpy("datetime64[ns]")
        out = stamps.astype(np.int64).astype(np.float64)
        out[np.isnat(stamps)] = np.nan
        return out
    if kind == "numeric" or (kind == "id" and pd.api.types.is_numeric_dtype(raw)):
        if pd.api.types.is_bool_dtype(raw):
            return None
        return coerce_column(raw, "numeric").to_numpy(np.float64)
    return None



def _id_like(name: str, raw: pd.Series, kind: str, numbers: np.ndarray | None, *, n_rows: int) -> Finding | None:
    valid = raw.dropna()
    if len(valid) < MIN_ID_ROWS or kind in ("datetime", "text", "boolean"):
        return None
    n_unique = int(valid.nunique())
    share = n_unique / len(valid)
    if numbers is not None:
        finite = numbers[~np.isnan(numbers)]
        keyish = bool(len(finite)) and bool(np.all(finite == np.round(finite)))
        diffs = np.diff(numbers)
        monotonic = len(finite) == len(numbers) and bool(np.all(diffs > 0) or np.all(diffs < 0))
    else:
        keyish, monotonic = pd.api.types.is_object_dtype(raw) or pd.api.types.is_string_dtype(raw), False
    if kind != "id" and not (keyish and share >= NEAR_UNIQUE):
        return None
    how = "increases row by row" if monotonic else "is distinct in almost every row" if share < 1 else \
        "is distinct in every row"
    return Finding("id_like", "id_like", (name,), "medium",
                   f"{name!r} looks like an identifier ({how}): a model can only memorise it, or learn the row "
                   "order.", rounded({"n_unique": n_unique, "unique_share": share, "monotonic": monotonic,
                                       "n_rows": n_rows}), (name,))


def _time_order(name: str, raw: pd.Series, numbers: np.ndarray) -> Finding | None:
    ok = ~np.isnan(numbers)
    if ok.sum() < 2:
        return None
    stamps = numbers[ok]
    steps = np.diff(stamps)
    first, last = pd.Timestamp(int(stamps.min())), pd.Timestamp(int(stamps.max()))
    evidence = {"min": first.isoformat(), "max": last.isoformat(), "span_days": (last - first).days,
                "n_unique": int(len(np.unique(stamps))),
                "sorted_share": float((steps >= 0).mean()) if len(steps) else 1.0,
                "missing_share": float(1 - ok.mean())}
    return Finding("time_order", "time_column", (name,), "low",
                   f"{name!r} dates the rows ({first.date()} to {last.date()}): if the model will score later rows, "
                   "validate on the latest rows (a time-ordered split), not a random one.", rounded(evidence), ())


# --- duplicates ------------------------------------------------------------------------------------------

def _duplicates(features: np.ndarray, target: np.ndarray) -> Finding | None:
    n = len(features)
    if n < 2:
        return None
    rows = features * _MIX ^ target
    unique_rows, first = np.unique(rows, return_index=True)
    n_dup = n - len(unique_rows)
    if n_dup == 0:
        return None
    _, per_features = np.unique(features[first], return_counts=True)
    conflicting = int((per_features > 1).sum())  # feature values seen with more than one target value
    share = n_dup / n
    severity = "high" if share >= 0.1 else "medium" if share >= 0.01 else "low"
    evidence = {"n_rows": n, "n_duplicates": n_dup, "share": share, "n_distinct_rows": len(unique_rows),
                "n_conflicting_groups": conflicting}
    return Finding("duplicates", "duplicate_rows", (), severity,
                   f"{n_dup} rows ({100 * share:.1f} %) repeat an earlier row exactly: in a random split a copy "
                   "lands in both training and validation folds, so scores look better than they are; remove "
                   "the copies or keep each group in one fold.", rounded(evidence), ())


def excluded(findings: Sequence[Finding]) -> list[str]:
    """Every column some finding says to drop, in the order found."""
    return list(dict.fromkeys(c for f in findings for c in f.exclude))
