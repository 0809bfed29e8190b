"""The local store through the API: the default keeps today's layout and checks the Parquet's sha256 on read;
AUTOML_STORAGE_URL naming another folder (a shared mount) takes the durable files out of the data dir."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from fastapi.testclient import TestClient
from s3tools import stored_locally

from automl.config import Settings
from automl.db import Database
from automl.db.models import Dataset
from automl.main import create_app

CSV = pd.DataFrame({"x": range(40), "label": ["a", "b"] * 20}).to_csv(index=False).encode()


def _upload(client: TestClient) -> int:
    r = client.post("/api/datasets/upload", files={"file": ("d.csv", CSV, "text/csv")})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_default_layout_and_a_damaged_parquet_refused(client: TestClient, settings: Settings) -> None:
    ds_id = _upload(client)
    db = Database(settings.db_url)
    with db.session() as s:
        row = s.get(Dataset, ds_id)
        key, sha = row.storage_key, row.parquet_sha256
    db.dispose()
    parquet = settings.data_dir / "datasets" / f"{key}.parquet"
    assert parquet.exists() and sha is not None and len(sha) == 64
    assert client.get(f"/api/datasets/{ds_id}/preview").status_code == 200
    data = bytearray(parquet.read_bytes())
    data[len(data) // 2] ^= 0xFF
    parquet.write_bytes(bytes(data))
    r = client.get(f"/api/datasets/{ds_id}/preview")
    assert r.status_code == 409 and "sha256" in r.json()["detail"], r.text
    assert client.delete(f"/api/datasets/{ds_id}").status_code == 204
    assert not parquet.exists()


def test_a_store_folder_outside_the_data_dir(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    settings = Settings(data_dir=tmp_path / "data", storage_url=f"file://{shared}", _env_file=None)  # type: ignore[call-arg]
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        ds_id = _upload(client)
        assert [p.parent.name for p in shared.rglob("*.parquet")] == ["datasets"]
        assert stored_locally(settings) == []
        assert client.get(f"/api/datasets/{ds_id}/preview").status_code == 200
        assert client.delete(f"/api/datasets/{ds_id}").status_code == 204
        assert not list(shared.rglob("*.parquet"))
