"""Per-row explanations as serving returns them: JSON rows for the predict route, top-k reason columns for batch.

The model's own `explain` (engine/shapley.py) does the work on the regular pipelines (the compiled fast path
has no SHAP); the labels explained are the ones the response returns, passed in by the caller.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from automl.engine import EngineError
from automl.ingest.jsonable import jsonable

MAX_TOP_K = 10


class ExplainError(ValueError):
    """The model cannot explain these rows; the message says why."""


def _explain(model: Any, frame: pd.DataFrame, labels: Sequence[Any] | None) -> Any:
    explain = getattr(model, "explain", None)
    if explain is None:
        raise ExplainError("this model cannot explain its predictions")
    try:
        return explain(frame, classes=labels)
    except EngineError as exc:
        raise ExplainError(f"this model cannot explain its predictions: {exc}") from None


def explain_rows(model: Any, frame: pd.DataFrame, labels: Sequence[Any] | None) -> tuple[list[dict[str, Any]], str]:
    """One `{"base", "contributions": {column: value}, "class"}` per row (`class` for classifiers: the label
    explained, `labels[i]`), and the space they are in ("prediction" or "probability")."""
    e = _explain(model, frame, labels)
    explained = None if e.explained is None else jsonable(e.explained)
    rows: list[dict[str, Any]] = []
    for i, (base, values) in enumerate(zip(e.base.tolist(), e.values.tolist(), strict=True)):
        row: dict[str, Any] = {"base": base, "contributions": dict(zip(e.columns, values, strict=True))}
        if explained is not None:
            row["class"] = explained[i]
        rows.append(row)
    return rows, e.space


def add_reasons(table: pa.Table, model: Any, frame: pd.DataFrame, labels: Sequence[Any] | None, k: int) -> pa.Table:
    """`reason_1`, `reason_1_contribution`, ... `reason_k`, `reason_k_contribution` appended: each row's columns
    by |contribution|, largest first (empty past the model's column count)."""
    e = _explain(model, frame, labels)
    order = np.argsort(-np.abs(e.values), axis=1, kind="stable")
    names = np.asarray(e.columns, dtype=object)
    for i in range(k):
        if i < len(e.columns):
            column = order[:, i]
            table = table.append_column(f"reason_{i + 1}", pa.array(names[column].tolist(), type=pa.string()))
            table = table.append_column(f"reason_{i + 1}_contribution",
                                        pa.array(np.take_along_axis(e.values, column[:, None], axis=1)[:, 0]))
        else:
            table = table.append_column(f"reason_{i + 1}", pa.nulls(len(frame), type=pa.string()))
            table = table.append_column(f"reason_{i + 1}_contribution", pa.nulls(len(frame), type=pa.float64()))
    return table
