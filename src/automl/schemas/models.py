"""Request and response models for trained models, predictions, batch predictions and API keys."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, StrictBool, StrictFloat

from automl.schemas.base import RequestBody


class DeployRequest(RequestBody):
    api: StrictBool | None = Field(None, description="Serve REST predictions (POST /api/v1/predict/{id}).")
    batch: StrictBool | None = Field(None, description="Accept batch scoring files. Omit both to mean both.")
    threshold: StrictFloat | None = Field(
        None, gt=0, lt=1, description="Binary models only: predict the positive class (the second of `classes`) "
        "when its probability is at least this; null resets to the most probable class; omit to keep it.")


class InputColumn(BaseModel):
    name: str
    kind: str
    dtype: str | None = None
    categories: list[Any] | None = None
    levels: list[str] | None = None  # a boolean column trained on words: the words (the first reads false)
    required: bool = True


class ModelPublic(BaseModel):
    id: int
    experiment_id: int
    experiment_name: str
    dataset_id: int
    target_column: str
    problem_type: str
    metric: str
    algorithm: str
    candidate_key: str
    params: dict[str, Any]
    is_ensemble: bool
    rank: int | None
    cv_score: float | None
    cv_std: float | None = None  # standard deviation (ddof=1) of the CV metric over the folds
    metrics: dict[str, Any]
    fit_seconds: float
    predict_ms_per_row: float | None
    feature_importance: list[Any]
    plots: dict[str, Any]
    input_schema: list[InputColumn]
    classes: list[Any] | None
    deployed_api: bool
    deployed_batch: bool
    deployed_at: datetime | None
    threshold: float | None = None
    n_predictions: int
    artifact_sha256: str
    artifact_size: int
    created_at: datetime


class ModelList(BaseModel):
    items: list[ModelPublic]
    total: int


class PredictRequest(BaseModel):
    """Documentation only: the route parses the body itself (orjson) to keep the per-request cost tiny."""

    data: list[dict[str, Any]] = Field(description="Rows as {column: value}; extra columns are ignored.")
    return_probabilities: StrictBool = Field(False, description="Per-row {class: probability}, classifiers only.")
    explain: StrictBool = Field(False, description="Per-row exact SHAP contributions of each input column "
                                "(docs/serving.md, Explanations).")


class RowExplanation(BaseModel):
    base: float = Field(description="The expected output; base + sum(contributions) is the row's output.")
    contributions: dict[str, float] = Field(description="{input column: contribution}, every input column.")
    class_: Any = Field(None, alias="class", description="Classifiers: the label explained, the row's prediction.")


class PredictResponse(BaseModel):
    model_id: int
    predictions: list[Any]
    probabilities: list[dict[str, float]] | None = None
    explanations: list[RowExplanation] | None = None
    explanation_space: str | None = Field(None, description='"prediction" (regression) or "probability" (the '
                                          "explained class's probability)")


class BatchQueued(BaseModel):
    id: int
    status: str


class BatchPublic(BaseModel):
    id: int
    model_id: int
    status: str
    n_rows: int | None
    error: str | None
    input_name: str
    created_at: datetime
    finished_at: datetime | None


class BatchList(BaseModel):
    items: list[BatchPublic]
    total: int


class KeyCreate(RequestBody):
    name: str = Field(min_length=1, max_length=255)


class KeyPublic(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(BaseModel):
    id: int
    name: str
    prefix: str
    key: str = Field(description="The secret: shown once, stored only as a hash.")
    created_at: datetime


class KeyList(BaseModel):
    items: list[KeyPublic]
    total: int
