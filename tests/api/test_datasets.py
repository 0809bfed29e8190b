"""The datasets API: upload each format, list with paging, detail, preview, delete (and its 409)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from automl.config import Settings
from automl.db.models import Dataset, Experiment

DATA = Path(__file__).parents[1] / "data"


def frame(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "id": np.arange(n), "x": rng.normal(size=n).round(3), "color": rng.choice(["red", "blue"], n),
        "day": pd.date_range("2024-01-01", periods=n).strftime("%Y-%m-%d"), "y": rng.integers(0, 2, n),
    })


def upload(client: TestClient, name: str, content: bytes):
    return client.post("/api/datasets/upload", files={"file": (name, content, "application/octet-stream")})


def stored_files(settings: Settings) -> set[str]:
    return {p.name for p in settings.data_dir.rglob("*") if p.is_file() and not p.name.startswith("automl.db")}


def test_upload_csv_returns_profile_and_keeps_only_parquet(client: TestClient, settings: Settings) -> None:
    r = upload(client, "my data.csv", frame().to_csv(index=False).encode())
    assert r.status_code == 201, r.text
    ds = r.json()
    assert ds["name"] == "my data.csv" and ds["n_rows"] == 60 and ds["n_cols"] == 5
    assert ds["source_format"] == "csv" and ds["size_bytes"] > 0 and len(ds["sha256"]) == 64
    kinds = {c["name"]: c["kind"] for c in ds["columns"]}
    assert kinds == {"id": "id", "x": "numeric", "color": "categorical", "day": "datetime", "y": "boolean"}
    assert {"code", "column", "message"} <= set(ds["warnings"][0])
    files = stored_files(settings)
    assert len(files) == 1 and files.pop().endswith(".parquet")  # stored under a generated id, raw upload gone
    with client.app.state.db.session() as s:  # type: ignore[attr-defined]
        row = s.get(Dataset, ds["id"])
        assert row is not None and row.profile["columns"][0]["name"] == "id"
        assert pq.read_metadata(settings.datasets_dir / f"{row.storage_key}.parquet").num_rows == 60


def test_upload_xlsx_xls_parquet_tsv(client: TestClient) -> None:
    df = frame()
    buf = io.BytesIO()
    df.to_excel(buf, index=False)
    assert upload(client, "a.xlsx", buf.getvalue()).json()["n_rows"] == 60
    assert upload(client, "b.xls", (DATA / "small.xls").read_bytes()).json()["n_rows"] == 3
    buf = io.BytesIO()
    df.to_parquet(buf)
    assert upload(client, "c.parquet", buf.getvalue()).json()["source_format"] == "parquet"
    r = upload(client, "d.tsv", df.to_csv(index=False, sep="\t").encode("utf-8-sig"))
    assert r.status_code == 201 and r.json()["n_cols"] == 5


def test_list_paging_detail_preview(client: TestClient) -> None:
    ids = [upload(client, f"f{i}.csv", frame().to_csv(index=False).encode()).json()["id"] for i in range(3)]
    r = client.get("/api/datasets?limit=2&offset=0")
    body = r.json()
    assert body["total"] == 3 and [d["id"] for d in body["items"]] == ids[::-1][:2]
    assert "columns" not in body["items"][0]
    assert [d["id"] for d in client.get("/api/datasets?limit=2&offset=2").json()["items"]] == ids[:1]
    assert client.get("/api/datasets?limit=0").status_code == 422
    detail = client.get(f"/api/datasets/{ids[0]}").json()
    assert detail["id"] == ids[0] and len(detail["columns"]) == 5
    prev = client.get(f"/api/datasets/{ids[0]}/preview?rows=5").json()
    assert prev["columns"] == ["id", "x", "color", "day", "y"]
    assert len(prev["rows"]) == 5 and prev["rows"][0]["id"] == 0 and prev["rows"][0]["day"].startswith("2024-01-01")
    assert client.get("/api/datasets/999").status_code == 404
    assert client.get("/api/datasets/999/preview").json() == {"detail": "dataset 999 not found"}


def test_delete_removes_rows_and_files_but_not_while_an_experiment_runs(
    client: TestClient, settings: Settings
) -> None:
    ds = upload(client, "f.csv", frame().to_csv(index=False).encode()).json()
    db = client.app.state.db  # type: ignore[attr-defined]
    with db.session() as s:
        exp = Experiment(name="e", dataset_id=ds["id"], target_column="y", feature_columns=["x"],
                         problem_type="auto", metric="auto", time_budget_s=10, status="running")
        s.add(exp)
    r = client.delete(f"/api/datasets/{ds['id']}")
    assert r.status_code == 409 and "running" in r.json()["detail"]
    assert len(stored_files(settings)) == 1
    with db.session() as s:
        s.get(Experiment, exp.id).status = "completed"  # type: ignore[union-attr]
    assert client.delete(f"/api/datasets/{ds['id']}").status_code == 204
    assert client.get(f"/api/datasets/{ds['id']}").status_code == 404
    assert stored_files(settings) == set()
    with db.session() as s:
        assert s.get(Experiment, exp.id) is None
    assert client.delete(f"/api/datasets/{ds['id']}").status_code == 404


def test_preview_of_a_dataset_whose_file_vanished_is_a_404(client: TestClient, settings: Settings) -> None:
    ds = upload(client, "d.csv", frame().to_csv(index=False).encode()).json()
    for p in settings.datasets_dir.glob("*.parquet"):
        p.unlink()
    r = client.get(f"/api/datasets/{ds['id']}/preview?rows=5")
    assert r.status_code == 404 and "missing" in r.json()["detail"]
