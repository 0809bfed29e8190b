"""Permutation importance on the holdout (original columns) and JSON-ready plot data for the UI."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from automl.engine.task import Metric

MAX_POINTS = 500


def permutation_importance(
    predict_raw: Callable[[pd.DataFrame], np.ndarray], X: pd.DataFrame, y: np.ndarray, metric: Metric, *,
    max_rows: int = 2000, n_repeats: int = 3, seed: int = 0,
) -> list[dict[str, Any]]:
    """Drop in score when one column is shuffled; all shuffled copies are scored in one batch."""
    rng = np.random.default_rng(seed)
    if len(X) > max_rows:
        take = rng.choice(len(X), max_rows, replace=False)
        X, y = X.iloc[take], y[take]
    X = X.reset_index(drop=True)
    n, blocks = len(X), 1 + X.shape[1] * n_repeats
    # block 0 is X itself; block 1 + j * n_repeats + r has column j shuffled (repeat r)
    perms = [[rng.permutation(n) for _ in range(n_repeats)] for _ in X.columns]
    stacked = {}
    for j, col in enumerate(X.columns):
        values = X[col].to_numpy()
        column = np.tile(values, blocks)
        for r, perm in enumerate(perms[j]):
            start = n * (1 + j * n_repeats + r)
            column[start:start + n] = values[perm]
        stacked[col] = column
    pred = predict_raw(pd.DataFrame(stacked).astype(X.dtypes.to_dict()))
    base = metric(y, pred[:n])
    sign = 1.0 if metric.direction == "maximize" else -1.0
    out = []
    for j, col in enumerate(X.columns):
        drops = [sign * (base - metric(y, pred[n * (1 + j * n_repeats + r): n * (2 + j * n_repeats + r)]))
                 for r in range(n_repeats)]
        out.append({"feature": str(col), "importance": round(float(np.mean(drops)), 6)})
    return sorted(out, key=lambda d: d["importance"], reverse=True)


def _thin(*arrays: np.ndarray) -> list[list[float]]:
    n = len(arrays[0])
    idx = np.unique(np.linspace(0, n - 1, min(n, MAX_POINTS)).astype(int)) if n else np.array([], dtype=int)
    return [[round(float(v), 6) for v in a[idx]] for a in arrays]


def plot_data(problem_type: str, y: np.ndarray, pred: np.ndarray, classes: np.ndarray | None) -> dict[str, Any]:
    """y and pred in internal form (encoded classes and probabilities, or regression values)."""
    if problem_type == "regression":
        rng = np.random.default_rng(0)
        idx = rng.choice(len(y), min(len(y), MAX_POINTS), replace=False)
        actual, predicted = y[idx], pred[idx]
        return {
            "residuals": {"predicted": _thin(predicted)[0], "residual": _thin(actual - predicted)[0]},
            "predicted_vs_actual": {"actual": _thin(actual)[0], "predicted": _thin(predicted)[0]},
        }
    labels = np.asarray(classes).tolist()  # Python scalars, as the plots are stored
    cm = skm.confusion_matrix(y, pred.argmax(axis=1), labels=np.arange(len(labels)))
    out: dict[str, Any] = {"confusion_matrix": {"labels": labels, "matrix": cm.tolist()}}
    if problem_type == "binary" and len(np.unique(y)) == 2:
        fpr, tpr, _ = skm.roc_curve(y, pred[:, 1])
        precision, recall, _ = skm.precision_recall_curve(y, pred[:, 1])
        fpr, tpr = _thin(fpr, tpr)
        precision, recall = _thin(precision, recall)
        out["roc"] = {"fpr": fpr, "tpr": tpr, "auc": round(float(skm.roc_auc_score(y, pred[:, 1])), 6)}
        out["pr"] = {"precision": precision, "recall": recall}
    return out
