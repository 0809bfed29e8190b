from pathlib import Path

from fastapi.testclient import TestClient

from automl.config import Settings


def test_healthz_answers_once_database_is_migrated(client: TestClient, settings: Settings) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert Path(settings.data_dir, "automl.db").exists()
