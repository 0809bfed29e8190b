"""Response models for datasets: the profile `automl.ingest.profile` writes (one shape, validated strictly),
lists and previews.

The profile models forbid extra fields and give no defaults, so a profile that drifts from this shape fails
validation instead of reaching the UI half-filled. `stats` takes one of five shapes, chosen by what the
column holds (see `ColumnStats`).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from automl.db.models import Dataset

Kind = Literal["numeric", "categorical", "boolean", "datetime", "text", "id", "constant"]
WarningCode = Literal["duplicate_rows", "constant", "id_like", "high_cardinality", "mostly_missing"]
# A stored value as JSON: numbers, text, booleans; dates and times as ISO strings, durations in seconds.
Scalar = str | bool | int | float | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Histogram(_Strict):
    edges: list[float] = Field(description="Bin edges, one more than `counts`; the bins are equally wide.")
    counts: list[int] = Field(description="Rows in each bin (missing and non-finite values left out).")


class Quantiles(_Strict):
    p5: float
    p25: float
    p50: float
    p75: float
    p95: float


class NumericStats(_Strict):
    """Numbers (kind numeric, or an integer id), over the finite values."""

    min: float
    max: float
    mean: float | None = Field(description="null only when the sum overflows a double.")
    std: float | None = Field(description="Sample standard deviation (n - 1); 0 for a single value; null when "
                                          "the squares overflow a double.")
    quantiles: Quantiles = Field(description="Lower-interpolated quantiles.")
    histogram: Histogram


class DateRange(_Strict):
    """Dates, timestamps and times stored as such (kind datetime)."""

    min: str = Field(description="ISO 8601.")
    max: str = Field(description="ISO 8601.")


class TopValue(_Strict):
    value: Scalar
    count: int


class CategoryStats(_Strict):
    """Everything counted by value: categories, booleans, constants, text ids, and text-typed dates or numbers."""

    top_values: list[TopValue] = Field(description="The most frequent values, most frequent first (at most 10).")


class TextStats(_Strict):
    """Free text (kind text): the top values plus lengths in characters."""

    top_values: list[TopValue]
    min_length: int
    max_length: int
    mean_length: float = Field(description="Mean length over the rows (not over the distinct values).")


class NoStats(_Strict):
    """`{}`: a column without a single value (or numbers none of which is finite)."""


ColumnStats = NumericStats | TextStats | CategoryStats | DateRange | NoStats


class ColumnProfile(_Strict):
    name: str
    dtype: str = Field(description="Arrow type of the stored column, e.g. double, int64, string, date32[day].")
    kind: Kind
    n_unique: int = Field(description="Distinct non-missing values.")
    n_missing: int
    missing_pct: float = Field(description="Percent of rows missing, rounded to 2 decimals.")
    samples: list[Scalar] = Field(description="Up to 5 distinct non-missing values, in order of appearance.")
    stats: ColumnStats = Field(
        description="Numbers: min, max, mean, std, quantiles, histogram. Dates: min, max. Counted values: "
                    "top_values (text adds min_length, max_length, mean_length). No value (or no finite number): {}."
    )


class DatasetWarning(_Strict):
    code: WarningCode
    column: str | None = Field(description="The column concerned; null for a whole-dataset warning.")
    message: str


class DatasetProfile(_Strict):
    """The `Dataset.profile` JSON column, exactly as `automl.ingest.profile` writes it."""

    columns: list[ColumnProfile]
    warnings: list[DatasetWarning]


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
        profile = DatasetProfile.model_validate(ds.profile)
        return cls(**DatasetSummary.of(ds).model_dump(), sha256=ds.sha256,
                   columns=profile.columns, warnings=profile.warnings)


class DatasetList(BaseModel):
    items: list[DatasetSummary]
    total: int


class DatasetPreview(BaseModel):
    columns: list[str]
    rows: list[dict[str, Any]]
