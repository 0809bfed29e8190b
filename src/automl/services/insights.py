"""Model insights for the model page: computed once on the rows the model's reported figures come from (the
experiment's `summary.evaluation_rows` of its dataset), then cached on the model row.

The rows are the holdout's (never used for training by the bagged fold models), or, for an experiment trained
without a holdout (`summary.evaluation == "out_of_fold"`), a sample of the training rows; the answer says which.
The artifact is loaded as serving loads it (sha256 and HMAC checked first), the dataset's Parquet through its
sha256-checked local copy.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from automl.db import Database
from automl.db.base import utcnow
from automl.db.models import Dataset, Experiment, JobStatus, TrainedModel
from automl.errors import Conflict
from automl.ingest.jsonable import jsonable
from automl.services.datasets import dataset_file
from automl.services.models import get_model, load_for_serving
from automl.storage import Storage

SOURCES = {"holdout": "holdout rows", "out_of_fold": "training rows (no holdout)"}
UNAVAILABLE = "insights unavailable for this model"


def model_insights(db: Database, storage: Storage, model_id: int) -> dict[str, Any]:
    """The cached insights, or computed now and cached (committed before returning). A model whose experiment
    names no evaluation rows (trained before they were recorded) answers `available: false` with the reason.

    The rows are read in one short read, the work (seconds) runs outside any transaction, and the result is
    written in its own short one: no connection held meanwhile, no read snapshot turned writer late."""
    from automl.engine.insights import VERSION

    with db.session(readonly=True) as s:
        model = get_model(s, model_id)
        if model.insights is not None and model.insights.get("version") == VERSION:
            return model.insights
        exp, dataset = model.experiment, model.experiment.dataset  # loaded here, used once the session is closed
        summary = exp.summary or {}
        positions = summary.get("evaluation_rows")
        finished = JobStatus(exp.status).finished
    if not positions:
        why = ("its experiment was trained before the evaluation rows were recorded" if finished
               else "its experiment has not finished yet")
        return {"model_id": model_id, "available": False, "reason": f"{UNAVAILABLE}: {why}"}
    source = str(summary.get("evaluation", "holdout"))
    out = {"model_id": model_id, "available": True, "source": source, "source_label": SOURCES.get(source, source),
           **_compute(storage, model, exp, dataset, [int(p) for p in positions]), "computed_at": utcnow().isoformat()}
    with db.session() as s:
        row = s.get(TrainedModel, model_id)
        if row is not None and row.artifact_sha256 == model.artifact_sha256:  # still the model computed on
            row.insights = out
    return out


def _compute(storage: Storage, model: TrainedModel, exp: Experiment, dataset: Dataset,
             positions: list[int]) -> dict[str, Any]:
    from automl.engine import EngineError
    from automl.engine.insights import compute_insights

    fitted = load_for_serving(storage, model).model
    parquet = pq.ParquetFile(dataset_file(storage, dataset))
    present = set(parquet.schema_arrow.names)
    if exp.target_column not in present:
        raise Conflict(f"{UNAVAILABLE}: dataset {dataset.id} has no column {exp.target_column!r}")
    wanted = [c for c in dict.fromkeys([*map(str, fitted.kinds), exp.target_column]) if c in present]
    frame = _read_rows(parquet, wanted, positions)
    y = frame.pop(exp.target_column).to_numpy()
    try:
        return jsonable(compute_insights(fitted, frame, y, importance=model.feature_importance))  # type: ignore[no-any-return]
    except EngineError as exc:  # no evaluation row has a target the model knows
        raise Conflict(f"{UNAVAILABLE}: {exc}") from None


def _read_rows(parquet: pq.ParquetFile, columns: list[str], positions: list[int]) -> pd.DataFrame:
    """The rows at `positions` (of the file's stored order), reading only the row groups that hold them."""
    sizes = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    rows = np.unique(np.asarray(positions, dtype=np.int64))
    rows = rows[(rows >= 0) & (rows < starts[-1])]
    group_of = np.searchsorted(starts, rows, side="right") - 1
    groups = np.unique(group_of)
    first = np.concatenate([[0], np.cumsum([sizes[g] for g in groups])])[:-1]  # each group's start once read
    index = rows - starts[group_of] + first[np.searchsorted(groups, group_of)]
    table = parquet.read_row_groups(groups.tolist(), columns=columns)
    return table.take(pa.array(index, type=pa.int64())).to_pandas()
