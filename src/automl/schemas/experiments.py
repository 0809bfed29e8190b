"""Request and response models for experiments and their leaderboards."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

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
    holdout: Literal["auto", "none"] | Annotated[float, Field(gt=0, lt=0.5, strict=True)] = Field(
        "auto", description="The share of labelled rows held out for the reported figures, a number in (0, 0.5); "
                            "`none`: every row trains and the figures are out-of-fold (the leaderboard says so); "
                            "`auto`: none under 1,000 labelled rows, else 0.2.")


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
    cv_std: float | None = Field(description="Standard deviation (ddof=1) of the CV metric over the folds.")
    cv_folds: list[float | None] = Field(description="The CV metric on each fold's validation rows.")
    metrics: dict[str, Any]
    evaluation: Literal["holdout", "out_of_fold"] = Field(
        description="Where `metrics` come from: the held-out rows, or out-of-fold predictions (no holdout).")
    fit_seconds: float
    predict_ms_per_row: float | None
    is_ensemble: bool
    simplest: bool = Field(description="The simplest model within one standard error of the best (cv_std / "
                                       "sqrt(folds)): the cheapest to serve; true on exactly one row.")
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
