"""Issue 13, rows 8 and 9: every JSON error is valid JSON (NaN and Infinity are refused, never echoed raw),
and ids out of range are a 404 (path) or a 422 (body, query), never a 500 (OverflowError)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from automl.config import Settings
from automl.main import create_app

BIG = 2**63
HEADERS = {"Content-Type": "application/json"}


def _strict_json(text: str) -> object:
    """Parse as a strict JSON reader would (no NaN, no Infinity)."""
    def refuse(token: str) -> None:
        raise AssertionError(f"not JSON: {token} in {text[:200]}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_time_budget_is_a_422_in_valid_json(client: TestClient, value: str) -> None:
    body = '{"dataset_id": 1, "target_column": "y", "time_budget_s": ' + value + '}'
    r = client.post("/api/experiments", content=body, headers=HEADERS)
    assert r.status_code == 422, r.text
    detail = _strict_json(r.text)["detail"]  # type: ignore[index]
    assert any(e["loc"][-1] == "time_budget_s" for e in detail)


@pytest.mark.parametrize(("path", "body"), [
    ("/api/models/1/deploy", '{"api": NaN}'),
    ("/api/models/1/undeploy", '{"batch": Infinity}'),
    ("/api/keys", '{"name": NaN}'),
    ("/api/tokens", '{"name": "t", "scopes": ["read"], "expires_in_days": Infinity}'),
    ("/api/experiments", '{"dataset_id": NaN, "target_column": "y"}'),
    ("/api/experiments", '[NaN, {"a": -Infinity}]'),
])
def test_non_finite_inputs_anywhere_are_a_422_in_valid_json(client: TestClient, path: str, body: str) -> None:
    r = client.post(path, content=body, headers=HEADERS)
    assert r.status_code == 422, r.text
    _strict_json(r.text)


def test_the_password_is_still_never_echoed(client: TestClient) -> None:
    r = client.post("/api/users", json={"username": "a", "password": "Pw7!xq", "role": "admin"})
    assert r.status_code in (403, 422)
    assert "Pw7!xq" not in r.text


@pytest.mark.parametrize("path", [
    f"/api/datasets/{BIG}", f"/api/datasets/{BIG}/preview", f"/api/experiments/{BIG}",
    f"/api/experiments/{BIG}/leaderboard", f"/api/experiments/{BIG}/events", f"/api/models/{BIG}",
    f"/api/models/{BIG}/card", f"/api/models/{BIG}/batch-predictions", f"/api/batch-predictions/{BIG}",
    f"/api/models/{2**31}", f"/api/datasets/{-BIG}", "/api/datasets/0",
])
def test_ids_out_of_range_in_a_path_are_404(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404, r.text
    _strict_json(r.text)


@pytest.mark.parametrize(("method", "path"), [
    ("DELETE", f"/api/datasets/{BIG}"), ("POST", f"/api/experiments/{BIG}/cancel"),
    ("POST", f"/api/models/{BIG}/deploy"), ("DELETE", f"/api/keys/{BIG}"), ("DELETE", f"/api/tokens/{BIG}"),
    ("POST", f"/api/v1/predict/{BIG}"), ("DELETE", f"/api/batch-predictions/{BIG}"),
])
def test_ids_out_of_range_on_writes_are_404(client: TestClient, method: str, path: str) -> None:
    r = client.request(method, path, json={"data": [{}]} if "predict" in path else None)
    assert r.status_code == 404, r.text


@pytest.mark.parametrize(("path", "body"), [
    ("/api/experiments", {"dataset_id": BIG, "target_column": "y"}),
    ("/api/tokens", {"name": "t", "scopes": ["predict"], "model_ids": [BIG]}),
])
def test_ids_out_of_range_in_a_body_are_422(client: TestClient, path: str, body: dict[str, object]) -> None:
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("path", [f"/api/experiments?dataset_id={BIG}", f"/api/models?experiment_id={BIG}"])
def test_ids_out_of_range_in_a_query_are_422(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 422, r.text


@pytest.mark.postgres
def test_ids_past_postgres_integer_are_404_and_422_there(pg_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=pg_url, _env_file=None)  # type: ignore[call-arg]
    with TestClient(create_app(settings), base_url="http://localhost") as c:
        for big in (2**31, BIG):
            assert c.get(f"/api/datasets/{big}").status_code == 404
            assert c.get(f"/api/models/{big}").status_code == 404
            assert c.post("/api/experiments", json={"dataset_id": big, "target_column": "y"}).status_code == 422
            assert c.get(f"/api/experiments?dataset_id={big}").status_code == 422
        assert c.get(f"/api/datasets/{2**31 - 1}").status_code == 404  # the largest id: asked, not there
