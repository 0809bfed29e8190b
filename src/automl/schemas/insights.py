"""The model insights' response (GET /api/models/{id}/insights); the parts' shapes are docs/ui.md's."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class InsightsPublic(BaseModel):
    model_id: int
    available: bool = Field(description="False for a model whose experiment recorded no evaluation rows.")
    reason: str | None = Field(None, description="Why the insights are unavailable.")
    source: str | None = Field(None, description="`holdout`, or `out_of_fold` (training rows: no holdout).")
    source_label: str | None = None
    version: int | None = None
    problem_type: str | None = None
    n_rows: int | None = Field(None, description="Evaluation rows the insights are computed on.")
    outputs: list[str] | None = Field(None, description="What partial dependence averages: P(class) or the value.")
    positive_class: Any = Field(None, description="Binary models: the second of `classes`.")
    partial_dependence: list[dict[str, Any]] | None = None
    calibration: dict[str, Any] | None = None
    lift: dict[str, Any] | None = None
    thresholds: dict[str, Any] | None = Field(None, description="Binary models: figures per threshold 0.01..0.99.")
    shap: dict[str, Any] | None = None
    seconds: float | None = Field(None, description="How long computing them took.")
    computed_at: str | None = None
