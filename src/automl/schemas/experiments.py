"""Request and response models for experiments and their leaderboards."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, StrictBool

from automl.schemas.base import Id, RequestBody


class ExperimentCreate(RequestBody):
    name: str | None = Field(None, max_length=255, description="Defaults to '<target> on <dataset>'.")
    dataset_id: Id
    target_column: str = Field(min_length=1)
    feature_columns: list[str] | None = Field(None, description="Defaults to all other usable columns.")
    problem_type: str = Field("auto", description="auto, classification, binary, multiclass or regression.")
    metric: str = Field("auto", description="auto or a metric name (roc_auc, log_loss, rmse, ...).")
    time_budget_s: float = Field(60.0, ge=2, le=7 * 24 * 3600, description="Whole experiment's wall time.")
    allow_id_target: StrictBool = Field(
        False, description="Train on a target whose profile kind is `id` (unique per row: row numbers, keys); "
                           "refused (422) unless true, and the experiment's summary then warns.")


class Queued(BaseModel):
    id: int
    status: str


class Progress(BaseModel):
    stage: str = "queued"
    fraction: float = 0.0
    message: str = ""


class LeaderboardRow(BaseModel):
    model_id: int
    rank: int | None  # None until the experiment ranks its models (ranked_models puts those last)
    algorithm: str
    cv_score: float | None
    metrics: dict[str, Any]
    fit_seconds: float
    predict_ms_per_row: float | None
    is_ensemble: bool
    deployed_api: bool
    deployed_batch: bool


class ExperimentSummary(BaseModel):
    id: int
    name: str
    dataset_id: int
    target_column: str
    feature_columns: list[str]
    problem_type: str
    metric: str
    time_budget_s: float
    status: str
    progress: Progress
    attempts: int
    error: str | None
    summary: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cancel_requested: bool = False


class ExperimentPublic(ExperimentSummary):
    leaderboard: list[LeaderboardRow]


class ExperimentList(BaseModel):
    items: list[ExperimentSummary]
    total: int
