"""Stored rows shaped like the ones the ingest, jobs and serving code write, for rendering pages directly."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from automl.db import Database
from automl.db.models import BatchPrediction, Dataset, Experiment, Job, TrainedModel
from automl.ingest.profile import profile_table
from automl.schemas.datasets import DatasetProfile

XSS_COLUMN = "<script>window.__xss=1</script>"
XSS_VALUE = '<img src=x onerror="window.__xss=2">'
XSS_NAME = 'x<b>ss<i>"quoted".csv'


N_ROWS = 300


def profile(*, hostile: bool = False, x0_missing: bool = False) -> dict[str, Any]:
    """The profile the ingest code writes for a small customers table (so the pages see the real shape);
    `x0_missing`: the numeric column holds no value at all, so it has no sample."""
    rng = np.random.default_rng(0)
    city = XSS_COLUMN if hostile else "city"
    first_city = XSS_VALUE if hostile else "north"
    x0 = rng.normal(size=N_ROWS).round(2)
    table = pa.table({
        "x0": pa.array(x0, mask=np.ones(N_ROWS, bool) if x0_missing else np.arange(N_ROWS) % 100 == 0),
        city: rng.choice([first_city, "south", "east"], N_ROWS, p=[0.4, 0.33, 0.27]),
        "label": rng.choice(["yes", "no"], N_ROWS),
    })
    written = profile_table(table)
    DatasetProfile.model_validate(written)
    return written


def dataset(db: Database, *, hostile: bool = False, x0_missing: bool = False) -> int:
    with db.session() as s:
        ds = Dataset(name=XSS_NAME if hostile else "customers.csv", storage_key=uuid.uuid4().hex,
                     source_format="csv", size_bytes=12345, sha256="0" * 64, n_rows=N_ROWS, n_cols=3,
                     profile=profile(hostile=hostile, x0_missing=x0_missing))
        s.add(ds)
        s.flush()
        return ds.id


def experiment(db: Database, dataset_id: int, *, status: str = "completed", n_models: int = 2,
               hostile: bool = False) -> tuple[int, list[int]]:
    city = XSS_COLUMN if hostile else "city"
    now = datetime.now(UTC)
    with db.session() as s:
        exp = Experiment(name="label · customers.csv", dataset_id=dataset_id, target_column="label",
                         feature_columns=["x0", city], problem_type="binary", metric="roc_auc",
                         time_budget_s=10, status=status,
                         started_at=now, finished_at=now if status == "completed" else None)
        exp.job = Job(kind="experiment", payload={}, status=status,  # the experiment's progress lives on its job
                      progress={"stage": "search", "fraction": 0.5, "message": "trial 3"})
        s.add(exp)
        s.flush()
        ids = []
        for i in range(n_models):
            m = TrainedModel(
                experiment_id=exp.id, candidate_key=f"m{i}", algorithm=["lightgbm", "logistic_regression"][i % 2],
                rank=i + 1, cv_score=0.9 - 0.05 * i, metrics={"roc_auc": 0.88 - 0.05 * i, "accuracy": 0.8},
                fit_seconds=1.5, predict_ms_per_row=0.02, artifact_key=uuid.uuid4().hex, artifact_sha256="a" * 64,
                artifact_size=2048, classes=["no", "yes"],
                feature_importance=[{"feature": "x0", "importance": 0.2}, {"feature": city, "importance": 0.05}],
                plots={"roc": {"fpr": [0, 0.2, 1], "tpr": [0, 0.7, 1], "auc": 0.85},
                       "pr": {"precision": [1, 0.8, 0.5], "recall": [0, 0.6, 1]},
                       "confusion_matrix": {"labels": ["no", XSS_VALUE if hostile else "yes"],
                                            "matrix": [[40, 10], [8, 42]]}},
                input_schema=[
                    {"name": "x0", "kind": "numeric", "dtype": "float64", "categories": None, "required": False},
                    {"name": city, "kind": "categorical", "dtype": "object",
                     "categories": [XSS_VALUE if hostile else "north", "south", "east"], "required": False},
                ],
            )
            s.add(m)
            s.flush()
            ids.append(m.id)
        return exp.id, ids


def batch(db: Database, model_id: int, *, status: str = "completed", name: str = "to_score.csv") -> int:
    with db.session() as s:
        job = BatchPrediction(model_id=model_id, input_name=name, input_key=uuid.uuid4().hex, status=status,
                              n_rows=50 if status == "completed" else None)
        s.add(job)
        s.flush()
        return job.id
