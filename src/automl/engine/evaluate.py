"""Turn a finished candidate into a ModelResult: holdout metrics, timing, plots, importance."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from automl.engine.explain import permutation_importance, plot_data
from automl.engine.model import FittedModel
from automl.engine.results import ModelResult
from automl.engine.task import Metric, holdout_metrics

TIMING_ROWS = 500
MIN_REQUIRED_ROWS = 50


@dataclass(frozen=True)
class Holdout:
    X: pd.DataFrame  # coerced
    X_raw: pd.DataFrame  # as the user gave it, to time predict end to end
    y: np.ndarray
    metric: Metric
    problem_type: str
    classes: np.ndarray | None
    seed: int


def time_predict(model: FittedModel, holdout: Holdout) -> float:
    """End-to-end ms per row (coercion included) on a batch of TIMING_ROWS rows."""
    reps = -(-TIMING_ROWS // max(len(holdout.X_raw), 1))
    batch = pd.concat([holdout.X_raw] * reps, ignore_index=True).iloc[:TIMING_ROWS]
    start = time.perf_counter()
    model.predict(batch)
    return round((time.perf_counter() - start) * 1000 / max(len(batch), 1), 4)


def importance_rows(ms_per_row: float, n_features: int, *, seconds: float, n_repeats: int) -> int:
    """How many holdout rows permutation importance can use within `seconds`."""
    per_row = max(ms_per_row, 1e-3) / 1000 * (1 + n_features * n_repeats)
    return int(min(2000, seconds / per_row))


def importance(
    model: FittedModel, holdout: Holdout, *, seconds: float, ms_per_row: float, required: bool = False
) -> list[dict[str, Any]]:
    """Bounded by `seconds`; a `required` one (rank 1, ensemble) still runs on a small sample when short."""
    n_repeats = 3 if seconds > 3 else (2 if seconds > 1 else 1)
    rows = importance_rows(ms_per_row, holdout.X.shape[1], seconds=seconds, n_repeats=n_repeats)
    rows = max(rows, MIN_REQUIRED_ROWS) if required else rows
    if rows < MIN_REQUIRED_ROWS:
        return []
    return permutation_importance(
        model.predict_raw, holdout.X, holdout.y, holdout.metric, max_rows=rows, n_repeats=n_repeats, seed=holdout.seed
    )


def model_result(
    *, key: str, algorithm: str, params: dict[str, Any], cv_score: float, fit_seconds: float, model: FittedModel,
    holdout: Holdout, pred: np.ndarray, is_ensemble: bool, importance_seconds: float, importance_required: bool,
) -> ModelResult:
    """`pred` is the model's holdout prediction in internal form (already computed by the caller)."""
    ms = time_predict(model, holdout)
    feats = (
        importance(model, holdout, seconds=importance_seconds, ms_per_row=ms, required=importance_required)
        if importance_required or importance_seconds > 0 else []
    )
    return ModelResult(
        key=key, algorithm=algorithm, params=dict(params), cv_score=round(float(cv_score), 6),
        metrics=holdout_metrics(holdout.problem_type, holdout.y, pred), fit_seconds=round(fit_seconds, 3),
        predict_ms_per_row=ms, feature_importance=feats,
        plots=plot_data(holdout.problem_type, holdout.y, pred, holdout.classes), is_ensemble=is_ensemble, model=model,
    )
