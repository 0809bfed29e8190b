"""API keys: created once, stored hashed, required on the predict endpoints when configured, revocable."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from serving_support import add_model, fitted, rows
from typer.testing import CliRunner

from automl.config import Settings
from automl.db import Database
from automl.db.models import ApiKey
from automl.main import create_app
from automl.services.apikeys import hash_key
from automl.services.exposure import decide


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[tuple[TestClient, Settings]]:
    settings = Settings(data_dir=tmp_path / "data", api_keys_required=True, _env_file=None)  # type: ignore[call-arg]
    with TestClient(create_app(settings), base_url="http://localhost") as c:
        yield c, settings


@pytest.fixture
def deployed(keyed) -> int:
    client, settings = keyed
    mid = add_model(settings, fitted(), deployed_api=True, deployed_batch=True)
    return mid


def test_401_without_a_key_then_bearer_and_x_api_key_work(keyed, deployed):
    client, _ = keyed
    url = f"/api/v1/predict/{deployed}"
    r = client.post(url, json={"data": rows(1)})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert client.post(url, json={"data": rows(1)}, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.post(f"{url}/batch", files={"file": ("a.csv", b"x0\n1\n")}).status_code == 401

    created = client.post("/api/keys", json={"name": "ci"})
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("aml_") and created.json()["prefix"] == key[:12]
    assert client.post(url, json={"data": rows(1)}, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert client.post(url, json={"data": rows(1)}, headers={"X-API-Key": key}).status_code == 200


def test_key_is_stored_hashed_and_listed_without_the_secret(keyed):
    client, settings = keyed
    key = client.post("/api/keys", json={"name": "reporting"}).json()["key"]
    db = Database(settings.db_url)
    with db.session() as s:
        row = s.query(ApiKey).one()
        assert row.key_hash == hash_key(key) and key not in (row.key_hash, row.prefix)
    db.dispose()
    listed = client.get("/api/keys").json()
    assert listed["total"] == 1
    assert "key" not in listed["items"][0] and listed["items"][0]["name"] == "reporting"
    assert client.post("/api/keys", json={"name": ""}).status_code == 422


def test_revocation_takes_effect_immediately(keyed, deployed):
    client, _ = keyed
    created = client.post("/api/keys", json={"name": "temp"}).json()
    headers = {"X-API-Key": created["key"]}
    url = f"/api/v1/predict/{deployed}"
    assert client.post(url, json={"data": rows(1)}, headers=headers).status_code == 200
    assert client.delete(f"/api/keys/{created['id']}").status_code == 204
    assert client.post(url, json={"data": rows(1)}, headers=headers).status_code == 401
    assert client.get("/api/keys").json()["items"][0]["revoked_at"] is not None
    assert client.delete("/api/keys/9999").status_code == 404


def test_last_used_is_recorded_on_flush(keyed, deployed):
    client, _ = keyed
    created = client.post("/api/keys", json={"name": "used"}).json()
    client.post(f"/api/v1/predict/{deployed}", json={"data": rows(1)}, headers={"X-API-Key": created["key"]})
    client.app.state.serving.flush()
    assert client.get("/api/keys").json()["items"][0]["last_used_at"] is not None


def test_keys_not_required_on_loopback_by_default(client, settings):
    mid = add_model(settings, fitted(), deployed_api=True)
    assert client.post(f"/api/v1/predict/{mid}", json={"data": rows(1)}).status_code == 200


@pytest.mark.parametrize(("setting", "host", "required"), [
    (None, None, False), (None, "127.0.0.1", False), (None, "localhost", False), (None, "::1", False),
    (None, "0.0.0.0", True), (None, "10.1.2.3", True), (False, "0.0.0.0", False), (True, "127.0.0.1", True),
])
def test_default_depends_on_the_bound_host(setting, host, required):
    settings = Settings(api_keys_required=setting, _env_file=None)  # type: ignore[call-arg]
    assert decide(settings, host or "127.0.0.1").keys_required is required


def test_cli_create_list_revoke(tmp_path, monkeypatch, keyed, deployed):
    from automl.cli import app
    from automl.config import get_settings

    client, settings = keyed
    monkeypatch.setenv("AUTOML_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        created = runner.invoke(app, ["apikey", "create", "from-cli"])
        assert created.exit_code == 0, created.output
        key = created.stdout.strip().splitlines()[0]
        assert key.startswith("aml_")
        url = f"/api/v1/predict/{deployed}"
        assert client.post(url, json={"data": rows(1)}, headers={"X-API-Key": key}).status_code == 200
        listed = runner.invoke(app, ["apikey", "list"])
        assert "from-cli" in listed.stdout and key not in listed.stdout
        key_id = listed.stdout.split("\t")[0]
        assert runner.invoke(app, ["apikey", "revoke", key_id]).exit_code == 0
        client.app.state.serving.keys.ttl_s = 0  # another process revoked it: seen once the short cache lapses
        assert client.post(url, json={"data": rows(1)}, headers={"X-API-Key": key}).status_code == 401
        assert runner.invoke(app, ["apikey", "revoke", "999"]).exit_code == 1
    finally:
        get_settings.cache_clear()
