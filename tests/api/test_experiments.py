"""Experiments over HTTP without a worker: validation before anything is queued, reads, cancel, the event stream."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from serving_support import upload_csv
from sqlalchemy import func, select

from automl.db.models import Experiment, Job


@pytest.fixture
def dataset_id(client: TestClient) -> int:
    rng = np.random.default_rng(0)
    n = 120
    df = pd.DataFrame({
        "x1": rng.normal(size=n).round(3), "x2": rng.integers(0, 50, n), "city": rng.choice(["a", "b", "c"], n),
        "label": rng.choice(["yes", "no"], n), "price": rng.normal(100, 10, n).round(2),
        "empty": [None] * n, "const": ["k"] * n, "rare": ["a"] * (n - 1) + ["b"],
    })
    return upload_csv(client, df)


def _counts(client: TestClient) -> tuple[int, int]:
    with client.app.state.db.session() as s:
        return s.scalar(select(func.count()).select_from(Experiment)), s.scalar(select(func.count()).select_from(Job))


def test_create_queues_an_experiment_and_reads_it_back(client: TestClient, dataset_id: int) -> None:
    r = client.post("/api/experiments", json={"name": "churn", "dataset_id": dataset_id, "target_column": "label",
                                              "time_budget_s": 30})
    assert r.status_code == 202
    body = r.json()
    assert body["status"] == "queued"
    exp = client.get(f"/api/experiments/{body['id']}").json()
    assert exp["problem_type"] == "binary" and exp["metric"] == "roc_auc"
    assert "label" not in exp["feature_columns"] and {"x1", "city"} <= set(exp["feature_columns"])
    assert exp["progress"]["stage"] == "queued" and exp["leaderboard"] == [] and exp["attempts"] == 0
    assert client.get(f"/api/experiments/{body['id']}/leaderboard").json() == []
    other = client.post("/api/experiments", json={"dataset_id": dataset_id, "target_column": "price",
                                                  "feature_columns": ["x1"], "metric": "mae"}).json()
    listed = client.get("/api/experiments").json()
    assert listed["total"] == 2 and [e["id"] for e in listed["items"]] == [other["id"], body["id"]]
    reg = client.get(f"/api/experiments/{other['id']}").json()
    assert (reg["problem_type"], reg["metric"], reg["feature_columns"]) == ("regression", "mae", ["x1"])
    assert client.get("/api/experiments", params={"dataset_id": dataset_id + 1}).json() == {"items": [], "total": 0}
    assert _counts(client) == (2, 2)


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"dataset_id": 999}, 404, "Dataset 999"),
        ({"target_column": "nope"}, 422, "Unknown target column"),
        ({"feature_columns": ["x1", "ghost"]}, 422, "ghost"),
        ({"feature_columns": ["label"]}, 422, "cannot also be a feature"),
        ({"feature_columns": []}, 422, "No usable feature"),
        ({"target_column": "empty"}, 422, "all missing"),
        ({"target_column": "const"}, 422, "single value"),
        ({"target_column": "rare"}, 422, "at least 2 rows"),
        ({"problem_type": "regression"}, 422, "numeric target"),
        ({"problem_type": "ranking"}, 422, "problem_type"),
        ({"metric": "rmse"}, 422, "does not apply"),
        ({"metric": "banana"}, 422, "banana"),
        ({"time_budget_s": 0}, 422, "time_budget_s"),
    ],
)
def test_bad_requests_are_refused_before_anything_is_queued(
    client: TestClient, dataset_id: int, change: dict, status: int, words: str
) -> None:
    body = {"dataset_id": dataset_id, "target_column": "label", **change}
    r = client.post("/api/experiments", json=body)
    assert r.status_code == status, r.text
    assert words in str(r.json()["detail"])
    assert _counts(client) == (0, 0)


def test_cancel_of_a_queued_experiment_is_immediate_and_idempotent(client: TestClient, dataset_id: int) -> None:
    exp_id = client.post("/api/experiments", json={"dataset_id": dataset_id, "target_column": "label"}).json()["id"]
    r = client.post(f"/api/experiments/{exp_id}/cancel")
    assert r.status_code == 202
    assert r.json()["status"] == "cancelled" and r.json()["finished_at"]
    assert client.post(f"/api/experiments/{exp_id}/cancel").json()["status"] == "cancelled"
    with client.app.state.db.session() as s:
        assert s.scalars(select(Job.status)).all() == ["cancelled"]
    events = client.get(f"/api/experiments/{exp_id}/events")
    assert events.headers["content-type"].startswith("text/event-stream")
    assert "event: status" in events.text and '"cancelled"' in events.text  # the stream ends with the experiment


def test_unknown_experiments_are_404(client: TestClient) -> None:
    for method, path in [("get", "/api/experiments/5"), ("get", "/api/experiments/5/leaderboard"),
                         ("post", "/api/experiments/5/cancel"), ("get", "/api/experiments/5/events")]:
        r = getattr(client, method)(path)
        assert r.status_code == 404 and "Experiment 5" in r.json()["detail"]


def test_a_finished_experiment_cannot_be_cancelled(client: TestClient, dataset_id: int) -> None:
    exp_id = client.post("/api/experiments", json={"dataset_id": dataset_id, "target_column": "label"}).json()["id"]
    with client.app.state.db.session() as s:
        s.get(Experiment, exp_id).status = "completed"
    r = client.post(f"/api/experiments/{exp_id}/cancel")
    assert r.status_code == 409 and "already completed" in r.json()["detail"]
