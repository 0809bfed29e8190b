"""Leakage audit: what in a table would make a model look better in validation than it will be in use.

Pure and bounded: the per-column checks run on a sample of at most `MAX_AUDIT_ROWS` rows and are all
counting (`np.bincount` over bin codes), so their cost is a few passes over the sample per column, whatever
the model families; exact duplicate rows are counted on 64-bit row hashes of the whole table, which the
caller may compute batch by batch (`row_hashes`) and pass in.

Each column gets at most one finding, the most specific that holds, in this order:
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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from automl.engine.kinds import coerce_column, dtype_kind
from automl.engine.task import detect_problem_type

MAX_AUDIT_ROWS = 200_000
N_FOLDS = 5
MAX_BINS = 100  # quantile bins of a numeric column
MAX_LEVELS = 1000  # distinct values of a categorical column kept; the rarer ones share one bin
MAX_CLASSES = 20  # target classes kept; the rarer ones share one
PROXY_SCORE = 0.98  # AUC or R^2 of the column alone
EXACT = 0.9999  # |correlation| of an exact function
MAPPING_PURITY = 0.999  # share of rows on the one-to-one mapping
FUTURE_GAP = 0.98  # missing-rate difference between one target value and the rest
NEAR_UNIQUE = 0.99
MIN_ROWS = 20  # fewer rows: no per-column scores (too few to cross-validate)
MIN_ID_ROWS = 10  # the profile's rule for an id
_MIX = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class Finding:
    kind: str
    check: str
    columns: tuple[str, ...]
    severity: str  # high, medium, low
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "check": self.check, "columns": list(self.columns)}
        if len(self.columns) == 1:
            out["column"] = self.columns[0]
        return {**out, "severity": self.severity, "message": self.message, "evidence": dict(self.evidence),
                "exclude": list(self.exclude)}


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
    y = _Target.of(sample[target], seed=seed)
    for name in sample.columns:
        if name == target:
            continue
        found = _column_finding(name, sample[name], kinds[name], y, n_rows=n_rows)
        if found is not None:
            findings.append(found)
    order = {"high": 0, "medium": 1, "low": 2}
    return sorted(findings, key=lambda f: order[f.severity])


# --- the target ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Target:
    rows: np.ndarray  # positions of the sample's rows with a target value
    problem: str  # binary, multiclass, regression, or "" (nothing to learn)
    codes: np.ndarray  # classification: class code per row (0..K-1); regression: empty
    classes: list[Any]
    values: np.ndarray  # regression: the target as float; classification: empty
    folds: np.ndarray

    @staticmethod
    def of(raw: pd.Series, *, seed: int) -> _Target:
        present = raw.notna().to_numpy()
        rows = np.flatnonzero(present)
        y = raw.iloc[rows]
        problem = detect_problem_type(y) if y.nunique() >= 2 else ""
        folds = np.random.default_rng(seed).permutation(len(rows)) % N_FOLDS
        if problem == "regression":
            return _Target(rows, problem, np.empty(0, np.int64), [], y.to_numpy(np.float64), folds)
        codes, uniques = pd.factorize(y, sort=False)
        classes = list(uniques)
        if len(classes) > MAX_CLASSES:  # the rarest classes share the last code
            top = np.argsort(-np.bincount(codes), kind="stable")[: MAX_CLASSES - 1]
            remap = np.full(len(classes), MAX_CLASSES - 1)
            remap[top] = np.arange(len(top))
            codes, classes = remap[codes], [classes[i] for i in top] + ["(other)"]
        return _Target(rows, problem, codes.astype(np.int64), classes, np.empty(0), folds)

    @property
    def n(self) -> int:
        return len(self.rows)


# --- one column ------------------------------------------------------------------------------------------

def _column_finding(name: str, raw: pd.Series, kind: str, y: _Target, *, n_rows: int) -> Finding | None:
    if kind == "constant":
        return Finding("constant", "constant", (name,), "low", f"{name!r} has a single value: it carries nothing.",
                       {"n_unique": int(raw.nunique())}, (name,))
    numbers = _numbers(raw, kind)
    if y.problem and y.n >= MIN_ROWS:
        values = raw.iloc[y.rows]
        col_numbers = None if numbers is None else numbers[y.rows]
        codes, n_bins = _bins(values, col_numbers)
        leak = _leak(name, codes, n_bins, col_numbers, y)
        if leak is not None:
            return leak
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


def _bins(values: pd.Series, numbers: np.ndarray | None) -> tuple[np.ndarray, int]:
    """Per-row bin codes 0..n_bins-1; the last bin holds the missing values (present even when empty)."""
    if numbers is not None:
        missing = np.isnan(numbers)
        finite = numbers[~missing]
        distinct = np.unique(finite)
        if len(distinct) <= MAX_BINS:
            codes, n = np.searchsorted(distinct, numbers), len(distinct)
        else:
            edges = np.unique(np.quantile(finite, np.linspace(0, 1, MAX_BINS + 1)[1:-1]))
            codes, n = np.searchsorted(edges, numbers, side="right"), len(edges) + 1
        codes[missing] = n
        return codes.astype(np.int64), n + 1
    codes, uniques = pd.factorize(values, sort=False)
    n = len(uniques)
    if n > MAX_LEVELS:
        top = np.argsort(-np.bincount(codes[codes >= 0], minlength=n), kind="stable")[: MAX_LEVELS - 1]
        remap = np.full(n, MAX_LEVELS - 1)
        remap[top] = np.arange(len(top))
        codes, n = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1), MAX_LEVELS
    return np.where(codes < 0, n, codes).astype(np.int64), n + 1


def _leak(name: str, codes: np.ndarray, n_bins: int, numbers: np.ndarray | None, y: _Target) -> Finding | None:
    if y.problem == "regression":
        return _regression_leak(name, codes, n_bins, numbers, y)
    k = len(y.classes)
    cells = np.bincount((y.folds * n_bins + codes) * k + y.codes, minlength=N_FOLDS * n_bins * k)
    cells = cells.reshape(N_FOLDS, n_bins, k).astype(np.float64)
    table = cells.sum(axis=0)  # bins x classes
    mapping = _one_to_one(table)
    if mapping >= MAPPING_PURITY:
        return _finding("function_of_target", name, f"{name!r} and the target determine each other: each value "
                        "of the column goes with one class and each class with one value.",
                        {"mapping_share": mapping, "n_values": int((table.sum(1) > 0).sum())})
    future = _missing_by_class(table, y)
    if future is not None:
        return _finding("future_leak", name, future.pop("message"), future)
    auc = _oof_auc(cells, y)
    evidence = {"cv_auc": auc, "mi_ratio": _mi_ratio(table), "n_bins": int((table.sum(1) > 0).sum())}
    if auc >= PROXY_SCORE:
        return _finding("target_proxy", name, f"{name!r} alone predicts the target almost perfectly "
                        f"(cross-validated AUC {auc:.3f}); it is probably derived from the outcome.", evidence)
    return None


def _finding(check: str, name: str, message: str, evidence: dict[str, Any]) -> Finding:
    return Finding("target_leak", check, (name,), "high", message, _rounded(evidence), (name,))


def _one_to_one(table: np.ndarray) -> float:
    """The smaller of the two shares of rows on the column->class and class->column majority mappings."""
    n = table.sum()
    return float(min(table.max(axis=1).sum(), table.max(axis=0).sum()) / n) if n else 0.0


def _missing_by_class(table: np.ndarray, y: _Target) -> dict[str, Any] | None:
    missing, totals = table[-1], table.sum(axis=0)
    n_missing, n = missing.sum(), totals.sum()
    if n_missing == 0 or n_missing == n:
        return None
    inside = missing / np.maximum(totals, 1)
    outside = (n_missing - missing) / np.maximum(n - totals, 1)
    gap = np.abs(inside - outside)
    c = int(np.argmax(gap))
    if gap[c] < FUTURE_GAP or totals[c] == 0:
        return None
    when = "only when" if inside[c] > outside[c] else "except when"
    return {"message": f"the column is missing {when} the target is {y.classes[c]!r}: it is recorded after the "
                       "outcome (future information).",
            "target_value": _plain(y.classes[c]), "missing_share_at_value": float(inside[c]),
            "missing_share_otherwise": float(outside[c])}


def _oof_auc(cells: np.ndarray, y: _Target) -> float:
    """Macro one-vs-rest AUC of the out-of-fold per-bin class rates, from the fold x bin x class counts:
    each (fold, bin) cell predicts one rate for all its rows, so the AUC is a weighted one over cells."""
    k = cells.shape[2]
    counts = cells.sum(axis=2)  # fold x bin
    prior = cells.sum(axis=(0, 1)) / cells.sum()
    out = cells.sum(axis=0)[None] - cells  # the other folds' counts per bin
    rate = (out + prior) / (out.sum(axis=2, keepdims=True) + 1.0)  # smoothed toward the prior by one row
    classes = [1] if k == 2 else range(k)
    aucs = [_weighted_auc(rate[..., c].ravel(), cells[..., c].ravel(), (counts - cells[..., c]).ravel())
            for c in classes if 0 < cells[..., c].sum() < cells.sum()]
    return float(np.mean(aucs)) if aucs else 0.5


def _weighted_auc(score: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> float:
    values, group = np.unique(score, return_inverse=True)
    p = np.bincount(group, weights=pos, minlength=len(values))
    q = np.bincount(group, weights=neg, minlength=len(values))
    below = np.cumsum(q) - q
    total = p.sum() * q.sum()
    return float((p * (below + 0.5 * q)).sum() / total) if total else 0.5


def _mi_ratio(table: np.ndarray) -> float:
    """Mutual information of the column's bins and the target over the target's entropy (in-sample)."""
    p = table / table.sum()
    pb, pc = p.sum(axis=1, keepdims=True), p.sum(axis=0, keepdims=True)
    nz = p > 0
    mi = float((p[nz] * np.log(p[nz] / (pb @ pc)[nz])).sum())
    h = float(-(pc[pc > 0] * np.log(pc[pc > 0])).sum())
    return mi / h if h > 0 else 0.0


def _regression_leak(name: str, codes: np.ndarray, n_bins: int, numbers: np.ndarray | None,
                     y: _Target) -> Finding | None:
    t = y.values
    if numbers is not None:
        ok = ~np.isnan(numbers)
        if ok.sum() >= MIN_ROWS and np.ptp(numbers[ok]) > 0:
            x, v = pd.Series(numbers[ok]), pd.Series(t[ok])
            pearson, spearman = float(x.corr(v)), float(x.rank().corr(v.rank()))
            if max(abs(pearson), abs(spearman)) >= EXACT:
                how = "an affine" if abs(pearson) >= EXACT else "a monotone"
                return _finding("function_of_target", name, f"{name!r} is {how} function of the target "
                                f"(Pearson {pearson:.5f}, Spearman {spearman:.5f}).",
                                {"pearson": pearson, "spearman": spearman})
    future = _missing_at_value(name, codes == n_bins - 1, t)
    if future is not None:
        return future
    r2 = _oof_r2(codes, n_bins, y)
    if r2 >= PROXY_SCORE:
        return _finding("target_proxy", name, f"{name!r} alone predicts the target almost perfectly "
                        f"(cross-validated R² {r2:.3f}); it is probably derived from the outcome.",
                        {"cv_r2": r2, "n_bins": int(len(np.unique(codes)))})
    return None


def _missing_at_value(name: str, missing: np.ndarray, t: np.ndarray) -> Finding | None:
    if not 0 < missing.sum() < len(missing):
        return None
    values, counts = np.unique(t[missing], return_counts=True)
    at = t == values[np.argmax(counts)]
    inside, outside = missing[at].mean(), missing[~at].mean() if (~at).any() else 0.0
    if abs(inside - outside) < FUTURE_GAP:
        return None
    when = "only when" if inside > outside else "except when"
    return _finding("future_leak", name, f"the column is missing {when} the target is "
                    f"{_plain(values[np.argmax(counts)])!r}: it is recorded after the outcome (future information).",
                    {"target_value": _plain(values[np.argmax(counts)]), "missing_share_at_value": float(inside),
                     "missing_share_otherwise": float(outside)})


def _oof_r2(codes: np.ndarray, n_bins: int, y: _Target) -> float:
    """R^2 of the out-of-fold per-bin target means, from per (fold, bin) sums."""
    t = y.values
    key = y.folds * n_bins + codes
    size = N_FOLDS * n_bins
    count = np.bincount(key, minlength=size).reshape(N_FOLDS, n_bins).astype(np.float64)
    s1 = np.bincount(key, weights=t, minlength=size).reshape(N_FOLDS, n_bins)
    s2 = np.bincount(key, weights=t * t, minlength=size).reshape(N_FOLDS, n_bins)
    prior = t.mean()
    out_c, out_s = count.sum(0)[None] - count, s1.sum(0)[None] - s1
    mean = (out_s + prior) / (out_c + 1.0)
    sse = float((s2 - 2 * mean * s1 + count * mean * mean).sum())
    sst = float(((t - prior) ** 2).sum())
    return 1.0 - sse / sst if sst > 0 else 0.0


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
                   "order.", _rounded({"n_unique": n_unique, "unique_share": share, "monotonic": monotonic,
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
                   "validate on the latest rows (a time-ordered split), not a random one.", _rounded(evidence), ())


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
                   "the copies or keep each group in one fold.", _rounded(evidence), ())


# --- helpers ---------------------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def _rounded(evidence: Mapping[str, Any]) -> dict[str, Any]:
    return {k: round(float(v), 4) if isinstance(v, float | np.floating) else _plain(v) for k, v in evidence.items()}


def excluded(findings: Sequence[Finding]) -> list[str]:
    """Every column some finding says to drop, in the order found."""
    return list(dict.fromkeys(c for f in findings for c in f.exclude))
