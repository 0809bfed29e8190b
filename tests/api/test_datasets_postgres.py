"""The datasets API on PostgreSQL: the profile round-trips through JSONB, delete locks the row and cascades."""
from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from automl.config import Settings
from automl.db.models import Experiment
from automl.main import create_app

pytestmark = pytest.mark.postgres

CSV = b"id;price;city;day\n" + b"".join(
    f"{i};{i},5;{'Porto' if i % 2 else 'Recife'};2024-01-{i % 28 + 1:02d}\n".encode() for i in range(40)
)


def test_upload_detail_delete_on_postgres(pg_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=pg_url, _env_file=None)  # type: ignore[call-arg]
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        ds = client.post("/api/datasets/upload", files={"file": ("p.csv", CSV)}).json()
        detail = client.get(f"/api/datasets/{ds['id']}").json()
        assert {c["name"]: c["kind"] for c in detail["columns"]} == {
            "id": "id", "price": "numeric", "city": "categorical", "day": "datetime"}
        assert client.get("/api/datasets").json()["total"] == 1
        with client.app.state.db.session() as s:  # type: ignore[attr-defined]
            s.add(Experiment(name="e", dataset_id=ds["id"], target_column="price", feature_columns=["city"],
                             problem_type="auto", metric="auto", time_budget_s=5, status="queued"))
        assert client.delete(f"/api/datasets/{ds['id']}").status_code == 409
        with client.app.state.db.session() as s:  # type: ignore[attr-defined]
            for e in s.query(Experiment).all():
                e.status = "failed"
        assert client.delete(f"/api/datasets/{ds['id']}").status_code == 204
        assert client.get("/api/datasets").json() == {"items": [], "total": 0}
        assert not any(settings.datasets_dir.iterdir())
