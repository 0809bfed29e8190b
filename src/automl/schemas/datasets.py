"""Response models for datasets: the profile of each column, dataset warnings, lists and previews."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from automl.db.models import Dataset


class ColumnProfile(BaseModel):
    name: str
    dtype: str = Field(description="Arrow type of the stored column, e.g. double, int64, string, date32[day].")
    kind: str = Field(description="numeric, categorical, boolean, datetime, text, id or constant.")
    n_unique: int
    n_missing: int
    missing_pct: float
    samples: list[Any]
    stats: dict[str, Any] = Field(
        description="numbers: min, max, mean, std, quantiles, histogram; categories: top_values; dates: min, max."
    )


class DatasetWarning(BaseModel):
    code: str = Field(description="duplicate_rows, constant, id_like, high_cardinality or mostly_missing.")
    column: str | None
    message: str


class DatasetSummary(BaseModel):
    id: int
    name: str = Field(description="The uploaded file's name; display only.")
    n_rows: int
    n_cols: int
    size_bytes: int
    source_format: str
    created_at: datetime

    @classmethod
    def of(cls, ds: Dataset) -> DatasetSummary:
        return cls(id=ds.id, name=ds.name, n_rows=ds.n_rows, n_cols=ds.n_cols, size_bytes=ds.size_bytes,
                   source_format=ds.source_format, created_at=ds.created_at)


class DatasetPublic(DatasetSummary):
    sha256: str
    columns: list[ColumnProfile]
    warnings: list[DatasetWarning]

    @classmethod
    def of(cls, ds: Dataset) -> DatasetPublic:
        return cls(**DatasetSummary.of(ds).model_dump(), sha256=ds.sha256,
                   columns=ds.profile.get("columns", []), warnings=ds.profile.get("warnings", []))


class DatasetList(BaseModel):
    items: list[DatasetSummary]
    total: int


class DatasetPreview(BaseModel):
    columns: list[str]
    rows: list[dict[str, Any]]
