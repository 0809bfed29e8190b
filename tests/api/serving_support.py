"""Real trained models for the serving tests, stored as the experiment runner would store them.

A LightGBM (classifier) or Ridge (regression) pipeline is fitted on a small synthetic table and wrapped in
the engine's `FittedModel`, saved with `automl.engine.save_model`, and recorded as Dataset / Experiment /
TrainedModel rows in the test database. Nothing is faked: predictions come from the fitted pipeline.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from automl.config import Settings
from automl.db import Database
from automl.db.models import Dataset, Experiment, TrainedModel
from automl.engine import FittedModel, artifact_hmac, save_model, signing_key
from automl.engine.kinds import coerce_frame
from automl.files import new_key
from automl.jobs.worker import Worker
from automl.storage import Storage

NUMERIC = ["x0", "x1", "x2", "x3"]
KINDS = {**dict.fromkeys(NUMERIC, "numeric"), "city": "categorical"}
CITIES = ["north", "south", "east", "west"]


def table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 4)).round(4), columns=NUMERIC)
    df["city"] = rng.choice(CITIES, n)
    df["note"] = np.where(rng.random(n) < 0.1, "=1+2", "ok")
    logit = df.x0 - df.x1 + (df.city == "south") * 1.5
    df["label"] = np.where(logit + rng.normal(scale=0.5, size=n) > 0, "yes", "no")
    df["amount"] = 3 * df.x0 - 2 * df.x2 + (df.city == "east") * 4 + rng.normal(scale=0.1, size=n)
    df.loc[::13, "x3"] = np.nan
    return df


def schema() -> list[dict[str, Any]]:
    return [{"name": c, "kind": k, "dtype": "float64" if k == "numeric" else "object",
             "categories": CITIES if k == "categorical" else None, "required": True} for c, k in KINDS.items()]


def fitted(kind: str = "binary") -> FittedModel:
    df = table()
    X = coerce_frame(df, KINDS)
    pre = ColumnTransformer([
        ("num", SimpleImputer(strategy="median"), NUMERIC),
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="__missing__"),
                              OneHotEncoder(handle_unknown="ignore")), ["city"]),
    ])
    if kind == "binary":
        classes = np.array(["no", "yes"], dtype=object)
        y = (df["label"] == "yes").astype(int).to_numpy()
        pipe = make_pipeline(pre, LGBMClassifier(n_estimators=30, num_leaves=8, verbose=-1, n_jobs=1))
        pipe.fit(X, y)
        return FittedModel(algorithm="lightgbm", problem_type="binary", classes=classes, kinds=KINDS,
                           input_schema=schema(), members=[(pipe, 1.0)])
    pipe = make_pipeline(pre, Ridge())
    pipe.fit(X, df["amount"].to_numpy())
    return FittedModel(algorithm="ridge", problem_type="regression", classes=None, kinds=KINDS,
                       input_schema=schema(), members=[(pipe, 1.0)])


def add_model(settings: Settings, model: FittedModel, *, deployed_api: bool = False,
              deployed_batch: bool = False) -> int:
    """Rows for a dataset, an experiment and its trained model; the artifact saved under storage."""
    storage = Storage(settings.data_dir)
    key = new_key()
    path = storage.artifact(key)
    sha = save_model(model, path)
    db = Database(settings.db_url)
    regression = model.problem_type == "regression"
    with db.session() as s:
        ds = Dataset(name="synth.csv", storage_key=new_key(), source_format="csv", size_bytes=1, sha256="0" * 64,
                     n_rows=400, n_cols=7, profile={"columns": [], "warnings": []})
        exp = Experiment(name="serve", dataset=ds, target_column="amount" if regression else "label",
                         feature_columns=list(KINDS), problem_type=model.problem_type,
                         metric="rmse" if regression else "roc_auc", time_budget_s=10, status="completed")
        tm = TrainedModel(experiment=exp, candidate_key=f"{model.algorithm}-{key[:6]}", algorithm=model.algorithm,
                          cv_score=0.9, metrics={"roc_auc": 0.9}, input_schema=schema(),
                          classes=None if regression else ["no", "yes"], artifact_key=key, artifact_sha256=sha,
                          artifact_hmac=artifact_hmac(signing_key(storage.root), sha, key),
                          artifact_size=path.stat().st_size, deployed_api=deployed_api, deployed_batch=deployed_batch)
        s.add(tm)
        s.flush()
        model_id = tm.id
    db.dispose()
    return model_id


def rows(n: int = 3, seed: int = 1) -> list[dict[str, Any]]:
    df = table(n, seed=seed).drop(columns=["label", "amount"])
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
            for r in df.to_dict(orient="records")]


def run_queued_jobs(settings: Settings) -> None:
    """The real worker, in this process, until the queue is empty (`automl worker --burst`)."""
    Worker(settings, concurrency=1, poll_s=0.1).run(burst=True)


def upload_csv(client: Any, df: pd.DataFrame) -> int:
    """Upload `df` as data.csv through the API; its dataset id."""
    r = client.post("/api/datasets/upload", files={"file": ("data.csv", df.to_csv(index=False).encode(), "text/csv")})
    assert r.status_code == 201, r.text
    return r.json()["id"]
