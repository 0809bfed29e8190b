"""The leakage audit's response (GET /api/datasets/{id}/audit?target=...): what engine.audit.Finding writes."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

FindingKind = Literal["target_leak", "id_like", "duplicates", "time_order", "constant"]
Check = Literal["target_proxy", "function_of_target", "future_leak", "id_like", "duplicate_rows", "time_column",
                "constant"]


class LeakageFinding(BaseModel):
    kind: FindingKind = Field(description="The contract's kind of finding.")
    check: Check = Field(description="The rule that fired (target_leak: target_proxy, function_of_target or "
                                     "future_leak; duplicates: duplicate_rows; time_order: time_column).")
    columns: list[str] = Field(description="The columns the finding is about (none for duplicate rows).")
    column: str | None = Field(None, description="The column, when the finding names exactly one.")
    severity: Literal["high", "medium", "low"]
    message: str
    evidence: dict[str, Any] = Field(description="The numbers behind the finding (scores, shares, counts).")
    exclude: list[str] = Field(description="Columns to leave out of feature_columns to act on it (may be empty).")


class LeakageAudit(BaseModel):
    dataset_id: int
    target: str
    n_rows: int
    sampled_rows: int = Field(description="Rows the per-column checks ran on (duplicates count every row).")
    seconds: float = Field(description="Time the audit took when it was computed (a cached answer repeats it).")
    findings: list[LeakageFinding] = Field(description="Most severe first; empty when nothing was found.")
    exclude: list[str] = Field(description="Every column some finding says to leave out.")
