"""Serving on PostgreSQL: deploy, predict, counts flushed, keys, a batch job through the queue."""
from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from serving_support import add_model, fitted, rows, run_queued_jobs, table

from automl.config import Settings
from automl.main import create_app

pytestmark = pytest.mark.postgres


def test_serving_on_postgres(pg_url: str, tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data", database_url=pg_url, api_keys_required=True,  # type: ignore[call-arg]
                        _env_file=None)
    model = fitted()
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        mid = add_model(settings, model)
        key = client.post("/api/keys", json={"name": "pg"}).json()["key"]
        headers = {"Authorization": f"Bearer {key}"}
        assert client.post(f"/api/v1/predict/{mid}", json={"data": rows(1)}, headers=headers).status_code == 403
        assert client.post(f"/api/models/{mid}/deploy", json={}).status_code == 200
        out = client.post(f"/api/v1/predict/{mid}", json={"data": rows(4)}, headers=headers)
        assert out.status_code == 200 and out.json()["predictions"] == list(model.predict(pd.DataFrame(rows(4))))
        assert client.post(f"/api/v1/predict/{mid}", json={"data": rows(1)}).status_code == 401
        client.app.state.serving.flush()

        df = table(40).drop(columns=["label", "amount"])
        r = client.post(f"/api/v1/predict/{mid}/batch", files={"file": ("pg.csv", df.to_csv(index=False).encode())},
                        headers=headers)
        assert r.status_code == 202, r.text
        run_queued_jobs(settings)
        status = client.get(f"/api/batch-predictions/{r.json()['id']}").json()
        assert status["status"] == "completed", status
        scored = pd.read_csv(io.BytesIO(client.get(f"/api/batch-predictions/{status['id']}/download").content))
        assert list(scored["prediction"]) == list(model.predict(df))
        assert client.get(f"/api/models/{mid}").json()["n_predictions"] == 4 + 40
