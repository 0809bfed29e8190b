"""Model insights on rows the model was evaluated on: partial dependence, calibration, lift/gain, a threshold table
(binary) and a SHAP summary. Pure functions of a FittedModel, the raw rows (as the user gave them) and their targets.

Everything predicts through the model's own serving path (`predict_proba` / `predict`, the verified fast path when
compiled), on bounded batches: partial dependence stacks one copy of a row sample per grid value and predicts
each feature's copies at once.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from automl.engine.errors import EngineError
from automl.engine.model import FittedModel

VERSION = 1  # of the insights' shape: cached insights of another version are computed again
PD_FEATURES = 6  # partial dependence for this many of the most important columns
PD_GRID = 20  # quantiles of a numeric column, or its most frequent levels
PD_ROWS = 200  # rows averaged over at each grid value
CALIBRATION_BINS = 10
LIFT_STEPS = 20  # cumulative shares 5 %, 10 %, ..., 100 %
THRESHOLDS = np.round(np.arange(1, 100) / 100, 2)  # 0.01 .. 0.99
SHAP_ROWS = 500  # rows explained for the SHAP summary
SHAP_POINTS = 200  # (value, contribution) points kept per column
GRID_KINDS = ("numeric", "categorical", "boolean")  # datetime and text columns get no partial dependence


def compute_insights(
    model: FittedModel, X: pd.DataFrame, y: Any, *, importance: list[dict[str, Any]] | None = None, seed: int = 0,
) -> dict[str, Any]:
    """All insights for `model` on the raw rows `X` with targets `y` (labels as in `model.classes_`, or values).

    `importance` is the model's stored permutation importance (best first): it picks the partial-dependence
    columns. Rows whose target is missing or not one of the model's classes are left out."""
    start = time.perf_counter()
    X, codes = _usable(model, X.reset_index(drop=True), y)
    if len(X) == 0:
        raise EngineError("no evaluation row has a target the model knows")
    pred = _predict(model, X)
    binary = model.problem_type == "binary"
    out: dict[str, Any] = {
        "version": VERSION, "problem_type": model.problem_type, "n_rows": int(len(X)), "outputs": output_names(model),
        "positive_class": _label(model.classes_[1]) if binary and model.classes_ is not None else None,
        "partial_dependence": partial_dependence(model, X, features=top_features(model, importance), seed=seed),
        "calibration": calibration(model, pred, codes) if model.classes_ is not None else None,
        "lift": lift(pred[:, 1] if binary else pred, codes, binary=binary)
        if binary or model.classes_ is None else None,
        "thresholds": threshold_table(pred[:, 1], codes) if binary else None,
        "shap": shap_summary(model, X, seed=seed),
    }
    out["seconds"] = round(time.perf_counter() - start, 3)
    return out


def output_names(model: FittedModel) -> list[str]:
    """What a predicted average is of (as text: JSON keys): P(positive class) for binary, P(each class), or the
    regression value."""
    if model.classes_ is None:
        return ["prediction"]
    classes = [str(_label(c)) for c in model.classes_]
    return classes[1:] if model.problem_type == "binary" else classes


def _usable(model: FittedModel, X: pd.DataFrame, y: Any) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows with a usable target and the target in internal form (class codes, or float values)."""
    values = pd.Series(np.asarray(y, dtype=object) if model.classes_ is not None else y).reset_index(drop=True)
    if model.classes_ is None:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        keep = ~np.isnan(numbers)
        return X[keep].reset_index(drop=True), numbers[keep]
    codes = pd.Index(list(model.classes_)).get_indexer(values)
    if (codes < 0).any():  # e.g. classes learned as numbers, targets read back as text: compare as text
        codes = pd.Index([str(c) for c in model.classes_]).get_indexer(values.astype(str))
    keep = (codes >= 0) & values.notna().to_numpy()
    return X[keep].reset_index(drop=True), codes[keep]


def _predict(model: FittedModel, X: pd.DataFrame) -> np.ndarray:
    """(n, K) class probabilities or (n,) regression values."""
    if model.classes_ is None:
        return np.asarray(model.predict(X), dtype=float)
    return model.predict_proba(X).to_numpy(dtype=float)


def _label(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _num(value: Any, digits: int = 6) -> float | None:
    value = float(value)
    return None if not np.isfinite(value) else round(value, digits)


def top_features(model: FittedModel, importance: list[dict[str, Any]] | None) -> list[str]:
    """The most important columns first (the stored importance may be missing or partial), then the others."""
    ranked = list(dict.fromkeys([str(d["feature"]) for d in importance or []] + list(model.kinds)))
    return [f for f in ranked if str(model.kinds.get(f)) in GRID_KINDS][:PD_FEATURES]


def _grid(values: pd.Series, kind: str) -> list[Any]:
    if kind == "numeric":
        numbers = pd.to_numeric(values, errors="coerce").dropna()
        if numbers.empty:
            return []
        return [float(v) for v in np.unique(np.quantile(numbers, np.linspace(0.0, 1.0, PD_GRID)))]
    return [_label(v) for v in values.dropna().value_counts().index[:PD_GRID]]


def partial_dependence(
    model: FittedModel, X: pd.DataFrame, *, features: list[str], seed: int = 0
) -> list[dict[str, Any]]:
    """Per feature: the model's average output over a row sample with the feature set to each grid value."""
    rows = X if len(X) <= PD_ROWS else X.sample(PD_ROWS, random_state=seed)
    rows = rows.reset_index(drop=True)
    names = output_names(model)
    out = []
    for feature in features:
        kind = str(model.kinds[feature])
        grid = _grid(X[feature], kind)
        if len(grid) < 2:
            continue
        copies = pd.concat([rows] * len(grid), ignore_index=True)
        column = np.repeat(np.asarray(grid, dtype=float if kind == "numeric" else object), len(rows))
        copies[feature] = column if kind == "numeric" else pd.Series(column, dtype=object)
        pred = _predict(model, copies)
        means = pred.reshape(len(grid), len(rows), *pred.shape[1:]).mean(axis=1)
        if model.problem_type == "binary":
            means = means[:, 1:]
        means = means.reshape(len(grid), -1)
        out.append({
            "feature": feature, "kind": "numeric" if kind == "numeric" else "categorical",
            "grid": [_num(g) for g in grid] if kind == "numeric" else [str(g) for g in grid],
            "average": {name: [_num(v) for v in means[:, i]] for i, name in enumerate(names)},
        })
    return out


def calibration(model: FittedModel, proba: np.ndarray, codes: np.ndarray) -> dict[str, Any]:
    """Reliability bins: binary on P(positive class), multiclass on the top class (was it right?)."""
    if model.problem_type == "binary":
        p, hit, on = proba[:, 1], codes == 1, f"P({_label(model.classes_[1])})"  # type: ignore[index]
    else:
        p, hit, on = proba.max(axis=1), proba.argmax(axis=1) == codes, "top class"
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, CALIBRATION_BINS - 1)
    bins = []
    for b in range(CALIBRATION_BINS):
        mask = which == b
        if mask.any():
            bins.append({"lower": _num(edges[b]), "upper": _num(edges[b + 1]), "predicted": _num(p[mask].mean()),
                         "observed": _num(hit[mask].mean()), "count": int(mask.sum())})
    return {"on": on, "bins": bins, "brier": _num(np.mean((p - hit) ** 2))}


def lift(score: np.ndarray, actual: np.ndarray, *, binary: bool) -> dict[str, Any]:
    """Cumulative lift and gain over the rows ranked by `score` (P(positive), or the predicted value), highest
    first: at each share, the actual rate (binary) or mean (regression) of the top rows against all rows',
    and the share of all positives (or of the target's total, when no value is negative) they hold."""
    order = np.argsort(-score, kind="stable")
    score, actual = score[order], actual[order].astype(float)
    n = len(actual)
    overall, total = actual.mean(), actual.sum()
    gains = total > 0 and (binary or actual.min() >= 0)
    steps = []
    for share in np.arange(1, LIFT_STEPS + 1) / LIFT_STEPS:
        k = max(1, int(round(share * n)))
        top = actual[:k]
        steps.append({
            "share": _num(share), "rows": k, "predicted_mean": _num(score[:k].mean()),
            "actual_mean": _num(top.mean()), "lift": _num(top.mean() / overall) if overall else None,
            "gain": _num(top.sum() / total) if gains else None,
        })
    return {"by": "P(positive)" if binary else "predicted value", "overall_mean": _num(overall), "steps": steps}


def threshold_table(p: np.ndarray, codes: np.ndarray) -> dict[str, Any]:
    """For each threshold t in 0.01..0.99 (positive iff P(positive) >= t): the confusion counts and the figures
    the UI prices a cost with. Precision is null where nothing is predicted positive."""
    positive = codes == 1
    predicted = p[None, :] >= THRESHOLDS[:, None]  # (thresholds, rows)
    tp = (predicted & positive).sum(axis=1)
    fp = (predicted & ~positive).sum(axis=1)
    fn = positive.sum() - tp
    tn = (~positive).sum() - fp
    n = len(p)
    precision = [None if tp_ + fp_ == 0 else _num(tp_ / (tp_ + fp_)) for tp_, fp_ in zip(tp, fp, strict=True)]
    recall = [_num(tp_ / (tp_ + fn_)) if tp_ + fn_ else None for tp_, fn_ in zip(tp, fn, strict=True)]
    f1 = [_num(2 * tp_ / (2 * tp_ + fp_ + fn_)) if tp_ + fp_ + fn_ else None
          for tp_, fp_, fn_ in zip(tp, fp, fn, strict=True)]
    return {
        "threshold": [float(t) for t in THRESHOLDS], "precision": precision, "recall": recall, "f1": f1,
        "accuracy": [_num((a + b) / n) for a, b in zip(tp, tn, strict=True)],
        "positive_rate": [_num((a + b) / n) for a, b in zip(tp, fp, strict=True)],
        "tp": tp.tolist(), "fp": fp.tolist(), "fn": fn.tolist(), "tn": tn.tolist(),
    }


def shap_summary(model: FittedModel, X: pd.DataFrame, *, seed: int = 0) -> dict[str, Any] | None:
    """Per input column, most influential first: mean |SHAP value| over up to SHAP_ROWS rows and up to
    SHAP_POINTS (column value, contribution) points for a dot plot; None for a model that cannot explain.
    Binary models explain P(positive class) on every row, multiclass ones each row's most probable class."""
    explain = getattr(model, "explain", None)
    if explain is None:
        return None
    rows = (X if len(X) <= SHAP_ROWS else X.sample(SHAP_ROWS, random_state=seed)).reset_index(drop=True)
    binary = model.problem_type == "binary" and model.classes_ is not None
    explanation = explain(rows, classes=[model.classes_[1]] * len(rows) if binary else None)  # type: ignore[index]
    values = np.asarray(explanation.values, dtype=float)
    pick = np.sort(np.random.default_rng(seed).choice(len(rows), min(len(rows), SHAP_POINTS), replace=False))
    columns = []
    for j, name in enumerate(explanation.columns):
        numeric = str(model.kinds.get(name)) == "numeric"
        shown = rows[name].iloc[pick] if name in rows else pd.Series([None] * len(pick))
        shown = pd.to_numeric(shown, errors="coerce") if numeric else shown
        columns.append({
            "feature": str(name), "kind": "numeric" if numeric else "categorical",
            "mean_abs": _num(np.abs(values[:, j]).mean()),
            "points": [[_point(v, numeric), _num(c)] for v, c in zip(shown, values[pick, j], strict=True)],
        })
    columns.sort(key=lambda c: -(c["mean_abs"] or 0.0))
    explained = "prediction" if model.classes_ is None else (
        f"P({_label(model.classes_[1])})" if binary else "P(most probable class)")
    return {"space": str(explanation.space), "explained": explained, "n_rows": len(rows),
            "base": _num(np.mean(explanation.base)), "columns": columns}


def _point(value: Any, numeric: bool) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return _num(value) if numeric else str(value)
