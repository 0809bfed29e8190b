"""The target-leak checks of one column (engine.audit's per-column part): each is counting over bin codes.

A column is cut into bins (its values, or up to MAX_BINS quantile bins of a numeric one; missing values a bin
of their own); one `np.bincount` over (fold, bin, class) gives every table the checks need: the one-to-one
mapping, the missing rate per class, the out-of-fold per-bin target rate and its AUC (computed over the
(fold, bin) cells, not the rows) or R^2. The score is that of a one-feature histogram tree, cross-validated.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from automl.engine.task import detect_problem_type

N_FOLDS = 5
MAX_BINS = 100  # quantile bins of a numeric column
MAX_LEVELS = 1000  # distinct values of a categorical column kept; the rarer ones share one bin
MAX_CLASSES = 20  # target classes kept; the rarer ones share one
PROXY_SCORE = 0.98  # AUC or R^2 of the column alone
EXACT = 0.9999  # |correlation| of an exact function
MAPPING_PURITY = 0.999  # share of rows on the one-to-one mapping
FUTURE_GAP = 0.98  # missing-rate difference between one target value and the rest
MIN_ROWS = 20  # fewer rows: no per-column scores (too few to cross-validate)


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


# --- the target -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    rows: np.ndarray  # positions of the sample's rows with a target value
    problem: str  # binary, multiclass, regression, or "" (nothing to learn)
    codes: np.ndarray  # classification: class code per row (0..K-1); regression: empty
    classes: list[Any]
    values: np.ndarray  # regression: the target as float; classification: empty
    folds: np.ndarray

    @staticmethod
    def of(raw: pd.Series, *, seed: int) -> Target:
        present = raw.notna().to_numpy()
        rows = np.flatnonzero(present)
        y = raw.iloc[rows]
        problem = detect_problem_type(y) if y.nunique() >= 2 else ""
        folds = np.random.default_rng(seed).permutation(len(rows)) % N_FOLDS
        if problem == "regression":
            return Target(rows, problem, np.empty(0, np.int64), [], y.to_numpy(np.float64), folds)
        codes, uniques = pd.factorize(y, sort=False)
        classes = list(uniques)
        if len(classes) > MAX_CLASSES:  # the rarest classes share the last code
            top = np.argsort(-np.bincount(codes), kind="stable")[: MAX_CLASSES - 1]
            remap = np.full(len(classes), MAX_CLASSES - 1)
            remap[top] = np.arange(len(top))
            codes, classes = remap[codes], [classes[i] for i in top] + ["(other)"]
        return Target(rows, problem, codes.astype(np.int64), classes, np.empty(0), folds)

    @property
    def n(self) -> int:
        return len(self.rows)


def bins(values: pd.Series, numbers: np.ndarray | None) -> tuple[np.ndarray, int]:
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


def target_leak(name: str, codes: np.ndarray, n_bins: int, numbers: np.ndarray | None, y: Target) -> Finding | None:
    if y.problem == "regression":
        return _regression_leak(name, codes, n_bins, numbers, y)
    k = len(y.classes)
    cells = np.bincount((y.folds * n_bins + codes) * k + y.codes, minlength=N_FOLDS * n_bins * k)
    cells = cells.reshape(N_FOLDS, n_bins, k).astype(np.float64)
    table = cells.sum(axis=0)  # bins x classes
    future = _missing_by_class(table, y)  # first: "missing" as one of the mapped values says more
    if future is not None:
        return _finding("future_leak", name, future.pop("message"), future)
    mapping = _one_to_one(table)
    if mapping >= MAPPING_PURITY:
        return _finding("function_of_target", name, f"{name!r} and the target determine each other: each value "
                        "of the column goes with one class and each class with one value.",
                        {"mapping_share": mapping, "n_values": int((table.sum(1) > 0).sum())})
    auc = _oof_auc(cells, y)
    evidence = {"cv_auc": auc, "mi_ratio": _mi_ratio(table), "n_bins": int((table.sum(1) > 0).sum())}
    if auc >= PROXY_SCORE:
        return _finding("target_proxy", name, f"{name!r} alone predicts the target almost perfectly "
                        f"(cross-validated AUC {auc:.3f}); it is probably derived from the outcome.", evidence)
    return None


def _finding(check: str, name: str, message: str, evidence: dict[str, Any]) -> Finding:
    return Finding("target_leak", check, (name,), "high", message, rounded(evidence), (name,))


def _one_to_one(table: np.ndarray) -> float:
    """The smaller of the two shares of rows on the column->class and class->column majority mappings."""
    n = table.sum()
    return float(min(table.max(axis=1).sum(), table.max(axis=0).sum()) / n) if n else 0.0


def _missing_by_class(table: np.ndarray, y: Target) -> dict[str, Any] | None:
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
            "target_value": plain(y.classes[c]), "missing_share_at_value": float(inside[c]),
            "missing_share_otherwise": float(outside[c])}


def _oof_auc(cells: np.ndarray, y: Target) -> float:
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
                     y: Target) -> Finding | None:
    t = y.values
    pearson = 0.0
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
    if max(r2, pearson * pearson) >= PROXY_SCORE:
        return _finding("target_proxy", name, f"{name!r} alone predicts the target almost perfectly "
                        f"(cross-validated R² {r2:.3f}, linear R² {pearson * pearson:.3f}); it is probably "
                        "derived from the outcome.",
                        {"cv_r2": r2, "linear_r2": pearson * pearson, "n_bins": int(len(np.unique(codes)))})
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
                    f"{plain(values[np.argmax(counts)])!r}: it is recorded after the outcome (future information).",
                    {"target_value": plain(values[np.argmax(counts)]), "missing_share_at_value": float(inside),
                     "missing_share_otherwise": float(outside)})


def _oof_r2(codes: np.ndarray, n_bins: int, y: Target) -> float:
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


# --- helpers ---------------------------------------------------------------------------------------------

def plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def rounded(evidence: Mapping[str, Any]) -> dict[str, Any]:
    return {k: round(float(v), 4) if isinstance(v, float | np.floating) else plain(v) for k, v in evidence.items()}


