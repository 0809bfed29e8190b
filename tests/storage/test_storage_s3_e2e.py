"""The whole platform on an object store (a real S3 API: moto's server on loopback): upload a CSV through the API,
train a tiny experiment in the real worker, deploy, predict, batch-score, download, delete; nothing is kept under
the data dir's store areas, and an object tampered with in the bucket is refused by its sha256."""
from __future__ import annotations

import io
import shutil
import zipfile

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from s3tools import S3, bucket_of, stored_locally

from automl.config import Settings
from automl.jobs.worker import Worker
from automl.main import create_app
from automl.services.janitor import sweep
from automl.storage import Storage


def _frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).round(3)
    city = rng.choice(["north", "south"], n)
    y = np.where(x[:, 0] - x[:, 1] + (city == "south") > 0, "yes", "no")
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "city": city, "label": y})


def _run_jobs(settings: Settings) -> None:
    shutil.rmtree(settings.data_dir / "cache", ignore_errors=True)  # the worker downloads from the bucket
    Worker(settings, concurrency=1, poll_s=0.1).run(burst=True)


@pytest.fixture
def client(s3_settings: Settings):
    with TestClient(create_app(s3_settings), base_url="http://localhost") as c:
        yield c


def test_upload_train_deploy_predict_batch_download_delete_on_s3(client: TestClient, s3: S3,
                                                                  s3_settings: Settings) -> None:
    bucket, prefix = bucket_of(s3_settings)
    df = _frame()
    r = client.post("/api/datasets/upload", files={"file": ("train.csv", df.to_csv(index=False).encode(), "text/csv")})
    assert r.status_code == 201, r.text
    ds_id = r.json()["id"]
    assert [k.split("/")[1] for k in s3.keys(bucket, prefix)] == ["datasets"]
    shutil.rmtree(s3_settings.data_dir / "cache")  # the preview reads the object back from the bucket
    preview = client.get(f"/api/datasets/{ds_id}/preview", params={"rows": 3}).json()
    assert preview["columns"] == list(df.columns) and len(preview["rows"]) == 3

    r = client.post("/api/experiments", json={"name": "s3", "dataset_id": ds_id, "target_column": "label",
                                              "time_budget_s": 6})
    assert r.status_code == 202, r.text
    exp_id = r.json()["id"]
    _run_jobs(s3_settings)
    exp = client.get(f"/api/experiments/{exp_id}").json()
    assert exp["status"] == "completed", exp["error"]
    models = client.get("/api/models", params={"experiment_id": exp_id}).json()["items"]
    assert models
    best = min(models, key=lambda m: m["rank"])
    artifacts = [k for k in s3.keys(bucket, f"{prefix}/artifacts/")]
    assert len(artifacts) == len(models)

    shutil.rmtree(s3_settings.data_dir / "cache")  # deploy downloads the artifact, checked, then HMAC, then load
    assert client.post(f"/api/models/{best['id']}/deploy").status_code == 200
    rows = df.drop(columns=["label"]).head(5).to_dict(orient="records")
    r = client.post(f"/api/v1/predict/{best['id']}", json={"data": rows})
    assert r.status_code == 200 and len(r.json()["predictions"]) == 5, r.text

    test = _frame(50, seed=1).drop(columns=["label"])
    r = client.post(f"/api/v1/predict/{best['id']}/batch", files={"file": ("new.csv", test.to_csv(index=False))})
    assert r.status_code == 202, r.text
    batch_id = r.json()["id"]
    assert any("/predictions/" in k and ".input." in k for k in s3.keys(bucket, prefix))
    _run_jobs(s3_settings)
    assert client.get(f"/api/batch-predictions/{batch_id}").json()["status"] == "completed"
    with client.stream("GET", f"/api/batch-predictions/{batch_id}/download") as resp:
        assert resp.status_code == 200 and "new-predictions.csv" in resp.headers["content-disposition"]
        body = b"".join(resp.iter_bytes())
    out = pd.read_csv(io.BytesIO(body))
    assert len(out) == 50 and "prediction" in out.columns
    predictions = [k for k in s3.keys(bucket, prefix) if "/predictions/" in k]
    assert len(predictions) == 1 and ".input." not in predictions[0]  # the input went once scored

    r = client.get(f"/api/models/{best['id']}/download")
    assert r.status_code == 200
    assert set(zipfile.ZipFile(io.BytesIO(r.content)).namelist()) == {"model.joblib", "model_card.json"}

    assert stored_locally(s3_settings) == []  # everything durable is in the bucket
    assert client.delete(f"/api/datasets/{ds_id}").status_code == 204
    assert s3.keys(bucket, prefix) == []


def test_tampered_objects_in_the_bucket_are_refused(client: TestClient, s3: S3, s3_settings: Settings) -> None:
    bucket, prefix = bucket_of(s3_settings)
    df = _frame()
    r = client.post("/api/datasets/upload", files={"file": ("train.csv", df.to_csv(index=False).encode(), "text/csv")})
    ds_id = r.json()["id"]
    r = client.post("/api/experiments", json={"name": "s3", "dataset_id": ds_id, "target_column": "label",
                                              "time_budget_s": 4})
    _run_jobs(s3_settings)
    assert client.get(f"/api/experiments/{r.json()['id']}").json()["status"] == "completed"
    model = client.get("/api/models").json()["items"][0]
    s3c = s3.client()

    def tamper(area: str) -> None:  # every object of the area: which key is the listed model's is not the point
        keys = s3.keys(bucket, f"{prefix}/{area}/")
        assert keys
        for key in keys:
            body = bytearray(s3c.get_object(Bucket=bucket, Key=key)["Body"].read())
            body[len(body) // 2] ^= 0xFF
            s3c.put_object(Bucket=bucket, Key=key, Body=bytes(body))
        shutil.rmtree(s3_settings.data_dir / "cache", ignore_errors=True)

    tamper("artifacts")
    for path in (f"/api/models/{model['id']}/deploy", f"/api/models/{model['id']}/download"):
        call = client.post if path.endswith("deploy") else client.get
        r = call(path)
        assert r.status_code == 409 and "sha256" in r.json()["detail"], r.text
    assert client.get(f"/api/models/{model['id']}").json()["deployed_api"] is False
    assert not list((s3_settings.data_dir / "cache").rglob("*.joblib"))  # nothing unverified cached

    tamper("datasets")
    r = client.get(f"/api/datasets/{ds_id}/preview")
    assert r.status_code == 409 and "sha256" in r.json()["detail"], r.text
    r = client.post("/api/experiments", json={"name": "again", "dataset_id": ds_id, "target_column": "label",
                                              "time_budget_s": 4})
    assert r.status_code == 409, r.text  # the target check reads the dataset: refused before anything is queued


def test_the_janitor_sweeps_orphans_in_the_bucket(s3: S3, s3_settings: Settings) -> None:
    from automl.db import Database
    from automl.db.migrate import upgrade

    s3_settings.ensure_dirs()
    upgrade(s3_settings.db_url)
    db = Database(s3_settings.db_url)
    storage = Storage.from_settings(s3_settings)
    bucket, prefix = bucket_of(s3_settings)
    for name in ("orphan", "held"):
        src = storage.scratch(name, ".parquet")
        src.write_bytes(b"x")
        storage.put_file("datasets", name, src, suffix=".parquet")
    storage.hold(storage.ref("datasets", "held", ".parquet"))  # a request between the PUT and its row's commit
    assert sweep(db, storage) == []  # younger than the grace period
    assert sweep(db, storage, grace_s=-60) == ["datasets/orphan.parquet"]
    assert s3.keys(bucket, prefix) == [f"{prefix}/datasets/held.parquet"]
    db.dispose()
