"""The predict endpoint: deploy gate, validation errors, cache lifecycle, counting, metrics."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from serving_support import add_model, fitted, rows

from automl.config import Settings


@pytest.fixture(scope="module")
def classifier():
    return fitted("binary")


@pytest.fixture
def model_id(client: TestClient, settings: Settings, classifier) -> int:
    return add_model(settings, classifier)


def deploy(client: TestClient, model_id: int, **body: bool) -> dict:
    r = client.post(f"/api/models/{model_id}/deploy", json=body or {"api": True})
    assert r.status_code == 200, r.text
    return r.json()


def test_403_until_deployed_then_predictions_from_the_model(client, model_id, classifier):
    data = rows(5)
    r = client.post(f"/api/v1/predict/{model_id}", json={"data": data})
    assert r.status_code == 403
    assert "not deployed" in r.json()["detail"]

    body = deploy(client, model_id)
    assert body["deployed_api"] is True and body["deployed_batch"] is False and body["deployed_at"]

    r = client.post(f"/api/v1/predict/{model_id}", json={"data": data, "return_probabilities": True})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model_id"] == model_id
    expected = classifier.predict(pd.DataFrame(data))
    assert out["predictions"] == list(expected)
    proba = classifier.predict_proba(pd.DataFrame(data))
    assert len(out["probabilities"]) == 5
    for got, want in zip(out["probabilities"], proba.to_dict(orient="records"), strict=True):
        assert set(got) == {"no", "yes"}
        assert abs(sum(got.values()) - 1) < 1e-9
        assert got == pytest.approx(want)


def test_a_whole_held_out_set_in_one_request_and_413_beyond_the_limit(client, model_id, monkeypatch):
    from automl.services import predictions

    deploy(client, model_id)
    data = rows(20_000)
    out = client.post(f"/api/v1/predict/{model_id}", json={"data": data, "return_probabilities": True})
    assert out.status_code == 200 and len(out.json()["probabilities"]) == 20_000
    monkeypatch.setattr(predictions, "MAX_ROWS_PER_REQUEST", 19_999)
    r = client.post(f"/api/v1/predict/{model_id}", json={"data": data})
    assert r.status_code == 413 and "batch" in r.json()["detail"]


def test_probabilities_only_when_asked(client, model_id):
    deploy(client, model_id)
    out = client.post(f"/api/v1/predict/{model_id}", json={"data": rows(1)}).json()
    assert "probabilities" not in out or out["probabilities"] is None


def test_404_for_an_unknown_model(client):
    r = client.post("/api/v1/predict/987654", json={"data": rows(1)})
    assert r.status_code == 404
    assert "987654" in r.json()["detail"]


def test_422_names_missing_columns_and_wrong_types(client, model_id):
    deploy(client, model_id)
    data = rows(2)
    del data[0]["x0"]
    data[1]["x1"] = "abc"
    r = client.post(f"/api/v1/predict/{model_id}", json={"data": data})
    assert r.status_code == 422
    problems = r.json()["detail"]
    assert {p["column"] for p in problems} == {"x0", "x1"}
    assert any("missing column 'x0'" in p["msg"] for p in problems)
    assert any("x1" in p["msg"] and "number" in p["msg"] for p in problems)


@pytest.mark.parametrize("body", [{"rows": []}, {"data": []}, {"data": [1, 2]}, [], {"data": [{"x0": {"a": 1}}]}])
def test_422_for_malformed_bodies(client, model_id, body):
    deploy(client, model_id)
    r = client.post(f"/api/v1/predict/{model_id}", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]


def test_invalid_json_is_422(client, model_id):
    deploy(client, model_id)
    r = client.post(f"/api/v1/predict/{model_id}", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_nulls_unseen_categories_and_extra_columns_are_predicted(client, model_id, classifier):
    deploy(client, model_id)
    data = [
        {"x0": None, "x1": None, "x2": None, "x3": None, "city": None},
        {"x0": "1.5", "x1": -2, "x2": 0, "x3": 1e-3, "city": "atlantis", "unused": [1, 2]},
    ]
    r = client.post(f"/api/v1/predict/{model_id}", json={"data": data, "return_probabilities": True})
    assert r.status_code == 200, r.text
    frame = pd.DataFrame({"x0": [np.nan, 1.5], "x1": [np.nan, -2.0], "x2": [np.nan, 0.0], "x3": [np.nan, 1e-3],
                          "city": [None, "atlantis"]})
    assert r.json()["predictions"] == list(classifier.predict(frame))


def test_regression_model(client, settings):
    reg = fitted("regression")
    mid = add_model(settings, reg)
    deploy(client, mid)
    data = rows(4)
    out = client.post(f"/api/v1/predict/{mid}", json={"data": data, "return_probabilities": True}).json()
    assert out["predictions"] == pytest.approx(list(reg.predict(pd.DataFrame(data))))
    assert out.get("probabilities") is None


def test_cache_is_warmed_on_deploy_and_dropped_on_undeploy(client, model_id):
    runtime = client.app.state.serving
    assert model_id not in runtime.cache
    deploy(client, model_id)
    assert model_id in runtime.cache  # loaded and warmed at deploy time
    r = client.post(f"/api/models/{model_id}/undeploy", json={"api": True})
    assert r.status_code == 200 and r.json()["deployed_api"] is False
    assert model_id not in runtime.cache
    assert client.post(f"/api/v1/predict/{model_id}", json={"data": rows(1)}).status_code == 403


def test_undeploy_from_another_process_is_noticed(client, settings, model_id):
    from automl.db import Database
    from automl.db.models import TrainedModel

    runtime = client.app.state.serving
    deploy(client, model_id)
    db = Database(settings.db_url)
    with db.session() as s:  # as `automl model undeploy` would, from its own process
        s.get(TrainedModel, model_id).deployed_api = False
    db.dispose()
    runtime.cache.get(model_id).loaded_at -= 60  # past the freshness window
    runtime.refresh()
    assert model_id not in runtime.cache
    assert client.post(f"/api/v1/predict/{model_id}", json={"data": rows(1)}).status_code == 403


def test_deploy_checks_the_artifact_sha256(client, settings, model_id):
    from automl.db import Database
    from automl.db.models import TrainedModel
    from automl.storage import Storage

    db = Database(settings.db_url)
    with db.session() as s:
        key = s.get(TrainedModel, model_id).artifact_key
    db.dispose()
    path = Storage(settings.data_dir).artifact(key)
    path.write_bytes(path.read_bytes() + b"tampered")
    for body in ({"api": True}, {"batch": True}):
        r = client.post(f"/api/models/{model_id}/deploy", json=body)
        assert r.status_code == 409
        assert "sha256" in r.json()["detail"]
    model = client.get(f"/api/models/{model_id}").json()
    assert model["deployed_api"] is False and model["deployed_batch"] is False


def test_deploy_unknown_model_is_404(client):
    assert client.post("/api/models/424242/deploy", json={}).status_code == 404
    assert client.post("/api/models/424242/undeploy").status_code == 404


def test_predictions_are_counted_in_memory_and_flushed(client, model_id):
    deploy(client, model_id)
    for _ in range(3):
        assert client.post(f"/api/v1/predict/{model_id}", json={"data": rows(2)}).status_code == 200
    assert client.get(f"/api/models/{model_id}").json()["n_predictions"] == 6  # pending counts included
    client.app.state.serving.flush()
    assert client.app.state.serving.pending(model_id) == 0
    assert client.get(f"/api/models/{model_id}").json()["n_predictions"] == 6


def test_flusher_thread_writes_counts(settings, classifier):
    from automl.main import create_app

    with TestClient(create_app(settings), base_url="http://localhost") as c:
        mid = add_model(settings, classifier)
        c.app.state.serving.flush_every_s = 0.05
        deploy(c, mid)
        c.post(f"/api/v1/predict/{mid}", json={"data": rows(3)})
        deadline = time.time() + 5
        while c.app.state.serving.pending(mid) and time.time() < deadline:
            time.sleep(0.05)
        assert c.app.state.serving.pending(mid) == 0


def test_metrics_per_model(client, model_id):
    deploy(client, model_id)
    client.post(f"/api/v1/predict/{model_id}", json={"data": rows(2)})
    client.post(f"/api/v1/predict/{model_id}", json={"data": [{}]})
    text = client.get("/metrics").text
    assert "# TYPE automl_predict_requests_total counter" in text
    assert f'automl_predict_requests_total{{model_id="{model_id}",status="200"}}' in text
    assert f'automl_predict_errors_total{{code="422",model_id="{model_id}"}}' in text
    assert 'automl_http_request_duration_seconds_bucket{le="0.001",method="POST",route="/api/v1/predict/{model_id}"}' \
        in text
    assert "automl_model_cache_models" in text


def test_model_list_and_detail(client, model_id):
    deploy(client, model_id, batch=True)
    detail = client.get(f"/api/models/{model_id}").json()
    for key in ("experiment_name", "target_column", "input_schema", "classes", "rank", "artifact_sha256", "plots"):
        assert key in detail
    assert detail["input_schema"][0]["name"] == "x0"
    listed = client.get("/api/models?deployed=true").json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == model_id
    assert client.get("/api/models?deployed=false").json()["total"] == 0
    assert client.get("/api/models/777").status_code == 404


def test_deployed_models_are_preloaded_after_a_restart(settings, classifier):
    from automl.db.migrate import upgrade
    from automl.main import create_app

    settings.ensure_dirs()
    upgrade(settings.db_url)
    mid = add_model(settings, classifier, deployed_api=True)
    other = add_model(settings, classifier)
    with TestClient(create_app(settings), base_url="http://localhost") as c:
        deadline = time.time() + 10
        while mid not in c.app.state.serving.cache and time.time() < deadline:
            time.sleep(0.05)
        assert mid in c.app.state.serving.cache and other not in c.app.state.serving.cache


def test_cli_deploy_and_undeploy(client, settings, model_id, monkeypatch):
    from typer.testing import CliRunner

    from automl.cli import app
    from automl.config import get_settings

    monkeypatch.setenv("AUTOML_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = runner.invoke(app, ["model", "deploy", str(model_id), "--batch"])
        assert out.exit_code == 0 and "api=off batch=on" in out.stdout, out.output
        out = runner.invoke(app, ["model", "deploy", str(model_id)])
        assert out.exit_code == 0 and "api=on batch=on" in out.stdout, out.output
        assert client.post(f"/api/v1/predict/{model_id}", json={"data": rows(1)}).status_code == 200
        out = runner.invoke(app, ["model", "undeploy", str(model_id), "--api"])
        assert out.exit_code == 0 and "api=off batch=on" in out.stdout, out.output
        assert runner.invoke(app, ["model", "deploy", "4040"]).exit_code == 1
    finally:
        get_settings.cache_clear()
