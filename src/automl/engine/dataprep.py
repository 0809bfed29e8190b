"""Validate the user's frame, choose the problem type and metric, infer kinds, coerce, encode the target."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import cross_val_score
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from automl.engine.errors import EngineError
from automl.engine.kinds import coerce_frame, column_schema, infer_kind
from automl.engine.task import Metric, resolve_metric, resolve_problem_type

MIN_ROWS = 20
MIN_CLASS_ROWS = 2  # one row for the holdout and one for training; rarer classes cannot be evaluated
DROPPED_KINDS = ("id", "constant")
IMBALANCE_SHARE = 0.1


@dataclass(frozen=True)
class PreparedData:
    X: pd.DataFrame  # coerced, usable features only
    raw: pd.DataFrame  # the same rows as given (for end-to-end timing)
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


def _leak_warnings(X: pd.DataFrame, y: np.ndarray, problem_type: str, seed: int) -> list[str]:
    """A feature that alone predicts the target almost perfectly is suspicious (target leak)."""
    rng = np.random.default_rng(seed)
    take = rng.choice(len(y), min(len(y), 3000), replace=False)
    out = []
    for col in X.columns:
        values = X[col].iloc[take]
        if not pd.api.types.is_numeric_dtype(values):
            codes = pd.factorize(values)[0]
            if len(np.unique(codes)) > 0.5 * len(codes):
                continue
            values = pd.Series(codes, index=values.index)
        feat = values.to_numpy(dtype=float).reshape(-1, 1)
        feat = np.nan_to_num(feat, nan=np.nanmin(feat) - 1 if np.isfinite(feat).any() else 0)
        if problem_type == "regression":
            score = cross_val_score(DecisionTreeRegressor(max_depth=6), feat, y[take], cv=2, scoring="r2").mean()
        else:
            tree = DecisionTreeClassifier(max_depth=6)
            score = cross_val_score(tree, feat, y[take], cv=2, scoring="balanced_accuracy").mean()
        if score > 0.98:
            out.append(f"Possible target leak: column {col!r} alone predicts the target almost perfectly.")
    return out


def prepare(
    df: pd.DataFrame, target: str, *, features: list[str] | None, problem_type: str, metric: str, seed: int
) -> PreparedData:
    if target not in df.columns:
        raise EngineError(f"Target column {target!r} not found in the data.")
    feature_cols = _select_features(df, target, features)
    keep = df[target].notna()
    n_dropped = int((~keep).sum())
    df = df.loc[keep]
    if len(df) < MIN_ROWS:
        raise EngineError(f"Only {len(df)} rows have a target value; at least {MIN_ROWS} are needed.")
    y_raw = df[target]
    if y_raw.nunique() < 2:
        raise EngineError(f"The target {target!r} has a single value; there is nothing to learn.")
    ptype = resolve_problem_type(problem_type, y_raw)
    y, classes = _encode_target(y_raw, ptype)
    kinds_all = {str(c): infer_kind(df[c]) for c in feature_cols}
    kinds = {c: k for c, k in kinds_all.items() if k not in DROPPED_KINDS}
    if not kinds:
        raise EngineError("No usable feature columns: every column is empty, constant or an identifier.")
    raw = df[feature_cols].rename(columns=str).reset_index(drop=True)
    X = coerce_frame(raw, kinds)
    warnings = []
    if n_dropped:
        warnings.append(f"{n_dropped} row(s) with a missing target were dropped.")
    if classes is not None:
        shares = np.bincount(y) / len(y)
        if shares.min() < IMBALANCE_SHARE:
            warnings.append(f"Class imbalance: the rarest class is {shares.min():.1%} of rows.")
    warnings += _leak_warnings(X, y, ptype, seed)
    return PreparedData(
        X=X, raw=raw, y=y, classes=classes, kinds=kinds,
        input_schema=[column_schema(c, X[c], k, dtype=str(raw[c].dtype)) for c, k in kinds.items()],
        problem_type=ptype, metric=resolve_metric(metric, ptype), rows_dropped_missing_target=n_dropped,
        dropped_columns={c: k for c, k in kinds_all.items() if k in DROPPED_KINDS}, warnings=warnings,
    )
