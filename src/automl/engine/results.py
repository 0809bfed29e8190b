"""The result types handed to the platform (DB rows, UI, CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from automl.engine.model import FittedModel


@dataclass
class ModelResult:
    key: str
    algorithm: str
    params: dict[str, Any]
    cv_score: float
    metrics: dict[str, float]
    fit_seconds: float
    predict_ms_per_row: float
    feature_importance: list[dict[str, Any]]
    plots: dict[str, Any]
    is_ensemble: bool
    model: FittedModel = field(repr=False)
    cv_std: float | None = None  # sample standard deviation of the metric over the CV folds
    cv_fold_scores: list[float] = field(default_factory=list)  # the metric on each fold's validation rows


@dataclass
class FitResult:
    problem_type: str
    metric: str
    metric_direction: str
    leaderboard: list[ModelResult]
    best: ModelResult
    summary: dict[str, Any]
    classes: list[Any] | None
