"""Artifacts on disk are trusted only with their sha256 and their HMAC under the server key (issue 13, item 7);
no route takes a pickle from a client."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import joblib
import pytest
from fastapi.testclient import TestClient
from serving_support import add_model, fitted

from automl.config import Settings
from automl.db import Database
from automl.db.models import TrainedModel
from automl.engine import artifacts
from automl.storage import Storage

SRC = Path(__file__).resolve().parents[2] / "src" / "automl"


@pytest.fixture(scope="module")
def classifier():
    return fitted("binary")


@pytest.fixture
def model_id(client: TestClient, settings: Settings, classifier) -> int:
    return add_model(settings, classifier)


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    calls: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise AssertionError("a refused artifact reached joblib.load")

    monkeypatch.setattr(artifacts.joblib, "load", refuse)
    return calls


def _update(settings: Settings, model_id: int, **values: object) -> TrainedModel:
    db = Database(settings.db_url)
    with db.session() as s:
        row = s.get(TrainedModel, model_id)
        for name, value in values.items():
            setattr(row, name, value)
        s.flush()
        s.expunge(row)
    db.dispose()
    return row


def test_a_swapped_pickle_with_a_recomputed_sha256_is_never_unpickled(client, settings, model_id, no_unpickling):
    """Someone who can write the artifact folder and the model row, but does not hold the server key."""
    row = _update(settings, model_id)
    path = Storage(settings.data_dir).artifact(row.artifact_key)
    with open(path, "wb") as fh:
        joblib.dump({"payload": "anything a pickle can run"}, fh)
    _update(settings, model_id, artifact_sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    for body in ({"api": True}, {"batch": True}):
        r = client.post(f"/api/models/{model_id}/deploy", json=body)
        assert r.status_code == 409 and "HMAC" in r.json()["detail"], r.text
    assert client.get(f"/api/models/{model_id}/download").status_code == 409
    assert no_unpickling == []


def test_an_unsigned_model_is_refused_until_signed(client, settings, model_id, no_unpickling, monkeypatch):
    from automl.services.models import sign_unsigned

    _update(settings, model_id, artifact_hmac=None)  # as trained before migration 0004
    r = client.post(f"/api/models/{model_id}/deploy", json={"api": True})
    assert r.status_code == 409 and f"automl model sign {model_id}" in r.json()["detail"]
    assert no_unpickling == []
    db = Database(settings.db_url)
    with db.session() as s:
        assert sign_unsigned(s, Storage(settings.data_dir), None) == [(model_id, "signed")]
    with db.session() as s:
        assert sign_unsigned(s, Storage(settings.data_dir), [model_id]) == [(model_id, "already signed")]
    db.dispose()
    monkeypatch.undo()  # joblib.load back
    assert client.post(f"/api/models/{model_id}/deploy", json={"api": True}).status_code == 200


def test_an_unsigned_model_whose_file_changed_is_not_signed(settings, model_id):
    from automl.services.models import sign_unsigned

    row = _update(settings, model_id, artifact_hmac=None)
    path = Storage(settings.data_dir).artifact(row.artifact_key)
    path.write_bytes(path.read_bytes() + b"x")
    db = Database(settings.db_url)
    with db.session() as s:
        assert sign_unsigned(s, Storage(settings.data_dir), None) == [
            (model_id, "sha256 does not match the recorded one: not signed")]
    with db.session() as s:
        assert s.get(TrainedModel, model_id).artifact_hmac is None
    db.dispose()


def test_no_route_accepts_a_model_upload(client):
    """Only two routes read a request body as a file: dataset uploads and batch-scoring inputs, and both hand
    it to the ingest readers (CSV, Excel, Parquet), never to pickle. Nothing outside engine/artifacts.py
    unpickles."""
    streaming = sorted(p.relative_to(SRC).as_posix() for p in (SRC / "api").rglob("*.py")
                       if "request.stream()" in p.read_text())
    assert set(streaming) <= {"api/datasets.py", "api/predictions.py", "api/uploads.py", "api/bodylimit.py"}
    unpicklers = re.compile(r"joblib\.load|pickle\.loads?\(|read_pickle|cloudpickle|dill\.|UploadFile")
    users = sorted(p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py") if unpicklers.search(p.read_text()))
    assert users == ["engine/artifacts.py", "services/export.py"]  # the latter: the model card's usage text
    paths = client.get("/openapi.json").json()["paths"]
    for path, operations in paths.items():
        for method, op in operations.items():
            content = (op.get("requestBody") or {}).get("content", {})
            assert not {"application/octet-stream", "application/x-pickle"} & set(content), (method, path)
            if "model" in path and method in ("post", "put", "patch"):
                assert "multipart/form-data" not in content, (method, path)


def test_a_pickle_uploaded_as_a_dataset_is_refused(client, tmp_path):
    blob = tmp_path / "model.joblib"
    joblib.dump({"x": 1}, blob)
    for name in ("model.joblib", "model.pkl"):
        r = client.post("/api/datasets/upload", files={"file": (name, blob.read_bytes(), "application/octet-stream")})
        assert 400 <= r.status_code < 500, r.text
