"""Validate the user's frame, settle the problem type and metric, take the kinds, coerce, encode the target.

The kinds are the caller's (the platform passes the dataset profile's); without them the pandas dtypes are
read literally (`kinds.dtype_kind`). The problem type and metric are resolved here only when asked for
(`auto`, `classification`); a concrete value is validated against the target and kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from automl.engine.errors import EngineError
from automl.engine.kinds import KINDS, coerce_frame, column_schema, dtype_kind, fit_kinds
from automl.engine.task import Metric, resolve_metric, resolve_problem_type

MIN_ROWS = 20
MIN_CLASS_ROWS = 2  # one row for the holdout and one for training; rarer classes cannot be evaluated
DROPPED_KINDS = ("id", "constant")
IMBALANCE_SHARE = 0.1


@dataclass(frozen=True)
class PreparedData:
    X: pd.DataFrame  # coerced, usable features only
    raw: pd.DataFrame  # the same rows as given (for end-to-end timing)
    positions: np.ndarray  # of these rows in the frame given to fit (rows with a missing target are not here)
    y: np.ndarray  # encoded classes 0..K-1, or floats
    classes: np.ndarray | None
    kinds: dict[str, str]
    input_schema: list[dict[str, Any]]
    problem_type: str
    metric: Metric
    rows_dropped_missing_target: int
    dropped_columns: dict[str, str]
    warnings: list[str] = field(default_factory=list)


def _encode_target(y: pd.Series, problem_type: str) -> tuple[np.ndarray, np.ndarray | None]:
    if problem_type == "regression":
        values = pd.to_numeric(y, errors="coerce")
        if values.isna().any():
            raise EngineError("The target has non-numeric values; regression needs numbers.")
        return values.to_numpy(dtype=float), None
    values = y.to_numpy()
    try:
        classes, codes = np.unique(values, return_inverse=True)
    except TypeError:  # mixed types: compare as text
        classes, codes = np.unique(values.astype(str), return_inverse=True)
    counts = np.bincount(codes)
    rare = [str(c) for c, n in zip(classes, counts, strict=True) if n < MIN_CLASS_ROWS]
    if rare:
        raise EngineError(
            f"Target class(es) {', '.join(rare[:5])} have fewer than {MIN_CLASS_ROWS} rows; "
            "each class needs at least 2 rows (remove or merge the rare classes)."
        )
    return codes.astype(int), classes


def _select_features(df: pd.DataFrame, target: str, features: list[str] | None) -> list[str]:
    if features is None:
        return [c for c in df.columns if c != target]
    missing = [c for c in features if c not in df.columns]
    if missing:
        raise EngineError(f"Feature column(s) not found: {', '.join(map(str, missing[:10]))}.")
    return [c for c in features if c != target]


def _single_feature_score(codes: np.ndarray, y: np.ndarray, *, classification: bool, half: np.ndarray) -> float:
    """Fit a lookup table (bin -> target mean or class shares) on one half, score it on the other.

    R² for regression, balanced accuracy for classification; numpy only, so it costs milliseconds.
    """
    n_bins = int(codes.max()) + 1
    a, b = half, ~half
    if not classification:
        sums = np.bincount(codes[a], weights=y[a], minlength=n_bins)
        counts = np.bincount(codes[a], minlength=n_bins)
        means = np.where(counts > 0, sums / np.maximum(counts, 1), y[a].mean())
        resid = y[b] - means[codes[b]]
        total = np.sum((y[b] - y[b].mean()) ** 2)
        return 1 - float(np.sum(resid**2) / total) if total > 0 else 0.0
    n_classes = int(y.max()) + 1
    table = np.zeros((n_bins, n_classes))
    np.add.at(table, (codes[a], y[a]), 1.0)
    pred = table.argmax(axis=1)[codes[b]]
    recalls = [np.mean(pred[y[b] == k] == k) for k in range(n_classes) if np.any(y[b] == k)]
    return float(np.mean(recalls))


def _leak_warnings(X: pd.DataFrame, y: np.ndarray, problem_type: str, seed: int) -> list[str]:
    """A feature that alone predicts the target almost perfectly is suspicious (target leak)."""
    rng = np.random.default_rng(seed)
    take = rng.choice(len(y), min(len(y), 5000), replace=False)
    half = rng.random(len(take)) < 0.5
    out = []
    for col in X.columns:
        values = X[col].iloc[take]
        if pd.api.types.is_numeric_dtype(values):
            # quantile bins of ~10 rows (10 to 200 bins), missing values in a bin of their own
            n_bins = int(np.clip(values.notna().sum() // 10, 10, 200))
            codes = pd.qcut(values.rank(method="first"), q=min(n_bins, values.notna().sum() or 1), labels=False)
            codes = codes.fillna(-1).to_numpy(dtype=int) + 1
        else:
            codes = pd.factorize(values.astype(str))[0] + 1
            if len(np.unique(codes)) > 0.5 * len(codes):  # near-unique text says nothing here
                continue
        score = _single_feature_score(codes, y[take], classification=problem_type != "regression", half=half)
        if problem_type == "regression" and pd.api.types.is_numeric_dtype(values):
            score = max(score, abs(values.corr(pd.Series(y[take], index=values.index), method="spearman")))
        if score > 0.98:
            out.append(f"Possible target leak: column {col!r} alone predicts the target almost perfectly.")
    return out


def _feature_kinds(df: pd.DataFrame, feature_cols: list[str], kinds: dict[str, str] | None) -> dict[str, str]:
    """Each feature's kind: the given one, else (no kinds given, or a column they leave out) its dtype's."""
    given = {str(c): k for c, k in (kinds or {}).items()}
    unknown = sorted({k for k in given.values() if k not in KINDS})
    if unknown:
        raise EngineError(f"Unknown column kind(s) {', '.join(map(repr, unknown))}; use one of {', '.join(KINDS)}.")
    return {str(c): given.get(str(c)) or dtype_kind(df[c]) for c in feature_cols}


def prepare(
    df: pd.DataFrame, target: str, *, features: list[str] | None, problem_type: str, metric: str, seed: int,
    kinds: dict[str, str] | None = None,
) -> PreparedData:
    if target not in df.columns:
        raise EngineError(f"Target column {target!r} not found in the data.")
    feature_cols = _select_features(df, target, features)
    keep = df[target].notna()
    positions = np.flatnonzero(keep.to_numpy())
    n_dropped = int((~keep).sum())
    df = df.loc[keep]
    if len(df) < MIN_ROWS:
        raise EngineError(f"Only {len(df)} rows have a target value; at least {MIN_ROWS} are needed.")
    y_raw = df[target]
    if y_raw.nunique() < 2:
        raise EngineError(f"The target {target!r} has a single value; there is nothing to learn.")
    # auto / classification: decided here; binary / multiclass / regression (what the platform stores): checked
    ptype = resolve_problem_type(problem_type, y_raw)
    y, classes = _encode_target(y_raw, ptype)
    kinds_all = _feature_kinds(df, feature_cols, kinds)
    used = {c: k for c, k in kinds_all.items() if k not in DROPPED_KINDS}
    if not used:
        raise EngineError("No usable feature columns: every column is empty, constant or an identifier.")
    raw = df[feature_cols].rename(columns=str).reset_index(drop=True)
    used = fit_kinds(raw, used)  # boolean columns learn their levels from the training values
    X = coerce_frame(raw, used)
    warnings = []
    if n_dropped:
        warnings.append(f"{n_dropped} row(s) with a missing target were dropped.")
    if classes is not None:
        shares = np.bincount(y) / len(y)
        if shares.min() < IMBALANCE_SHARE:
            warnings.append(f"Class imbalance: the rarest class is {shares.min():.1%} of rows.")
    warnings += _leak_warnings(X, y, ptype, seed)
    return PreparedData(
        X=X, raw=raw, positions=positions, y=y, classes=classes, kinds=used,
        input_schema=[column_schema(c, X[c], k, raw=raw[c]) for c, k in used.items()],
        problem_type=ptype, metric=resolve_metric(metric, ptype), rows_dropped_missing_target=n_dropped,
        dropped_columns={c: k for c, k in kinds_all.items() if k in DROPPED_KINDS}, warnings=warnings,
    )
