"""The datasets API: upload each format, list with paging, detail, preview, delete (and its 409); the profile's
schema."""
from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from automl.config import Settings
from automl.db.models import Dataset, Experiment
from automl.ingest.profile import profile_table
from automl.ingest.stats import QUANTILES
from automl.schemas.datasets import (
    CategoryStats,
    DatasetProfile,
    DateRange,
    NoStats,
    NumericStats,
    Quantiles,
    TextStats,
)

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


def mixed_csv(n: int = 120) -> bytes:
    """Every column kind, missing values, an empty column and an infinity, as a user's CSV would hold them."""
    rng = np.random.default_rng(3)
    df = pd.DataFrame({
        "customer_id": np.arange(n) + 5000,
        "age": rng.integers(18, 80, n).astype(float),
        "income": rng.normal(4000, 900, n).round(2),
        "plan": rng.choice(["basic", "plus", "pro"], n),
        "active": rng.choice(["yes", "no"], n),
        "signup": pd.date_range("2023-03-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        "note": [f"the customer called about invoice {i} and asked for a refund of {rng.integers(9, 99)}"
                 for i in range(n)],
        "country": ["PT"] * n,
        "empty": [""] * n,
    })
    df.loc[::5, "age"] = np.nan
    df.loc[::9, "plan"] = "NA"
    df.loc[3, "income"] = np.inf
    return df.to_csv(index=False).encode()


def test_stored_profile_is_exactly_the_schema(client: TestClient) -> None:
    r = upload(client, "mixed.csv", mixed_csv())
    assert r.status_code == 201, r.text
    with client.app.state.db.session() as s:  # type: ignore[attr-defined]
        stored = s.get(Dataset, r.json()["id"]).profile
    profile = DatasetProfile.model_validate(stored)  # extra="forbid" everywhere, no defaults
    assert profile.model_dump(mode="json") == stored  # nothing missing, nothing added, nothing coerced
    shapes = {c.name: (c.kind, type(c.stats)) for c in profile.columns}
    assert shapes == {
        "customer_id": ("id", NumericStats), "age": ("numeric", NumericStats), "income": ("numeric", NumericStats),
        "plan": ("categorical", CategoryStats), "active": ("boolean", CategoryStats),
        "signup": ("datetime", DateRange), "note": ("text", TextStats), "country": ("constant", CategoryStats),
        "empty": ("constant", NoStats),
    }
    assert list(Quantiles.model_fields) == [f"p{round(q * 100)}" for q in QUANTILES]
    cols = {c.name: c for c in profile.columns}
    assert cols["age"].n_missing == 24 and cols["plan"].n_missing == 14
    assert sum(cols["income"].stats.histogram.counts) == 119  # the infinity is valid but not binned
    assert {w.code for w in profile.warnings} >= {"id_like", "constant"}

    detail = client.get(f"/api/datasets/{r.json()['id']}").json()
    assert {"columns": detail["columns"], "warnings": detail["warnings"]} == stored
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    column = schemas["ColumnProfile"]
    assert column["additionalProperties"] is False
    assert {"name", "dtype", "kind", "n_unique", "n_missing", "missing_pct", "samples", "stats"} == set(
        column["required"])
    assert {"NumericStats", "Histogram", "TopValue", "DateRange", "TextStats", "DatasetWarning"} <= set(schemas)
    assert schemas["ColumnProfile"]["properties"]["kind"]["enum"][0] == "numeric"


def test_profile_shapes_validate_for_durations_times_and_null_columns() -> None:
    table = pa.table({
        "wait": pa.array([dt.timedelta(seconds=s) for s in (1, 2, 3, 5, 8)], pa.duration("us")),
        "at": pa.array([dt.time(1, 2), dt.time(3, 4), None, dt.time(5, 6), dt.time(7, 8)]),
        "nothing": pa.array([None] * 5, pa.null()),
        "all_inf": pa.array([float("inf")] * 4 + [float("-inf")]),
    })
    raw = profile_table(table)
    assert DatasetProfile.model_validate(raw).model_dump(mode="json") == raw
    wait = raw["columns"][0]
    assert wait["samples"][0] == 1.0 and wait["stats"]["max"] == 8.0  # durations in seconds, samples and stats
