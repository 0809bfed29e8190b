"""Model export: the downloaded zip holds the whole pipeline and a card, and reproduces the API's predictions."""
from __future__ import annotations

import hashlib
import io
import json
import zipfile

import joblib
import pandas as pd
from serving_support import add_model, fitted, rows

from automl.engine import load_model


def test_downloaded_artifact_reproduces_the_api(client, settings, tmp_path):
    mid = add_model(settings, fitted(), deployed_api=True)
    data = rows(6, seed=3)
    data[0]["city"] = "atlantis"
    data[1]["x2"] = None
    api = client.post(f"/api/v1/predict/{mid}", json={"data": data, "return_probabilities": True}).json()

    r = client.get(f"/api/models/{mid}/download")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert f"model-{mid}.zip" in r.headers["content-disposition"]
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    assert sorted(zf.namelist()) == ["model.joblib", "model_card.json"]
    card = json.loads(zf.read("model_card.json"))
    assert card["artifact"]["sha256"] == hashlib.sha256(zf.read("model.joblib")).hexdigest()
    assert [c["name"] for c in card["input_schema"]] == ["x0", "x1", "x2", "x3", "city"]
    assert card["classes"] == ["no", "yes"] and card["problem_type"] == "binary"
    assert card["library_versions"]["scikit-learn"] and card["library_versions"]["python"]
    assert card["metrics"] == {"roc_auc": 0.9}

    # the documented plain-Python way: unzip, joblib.load, predict on a DataFrame
    zf.extractall(tmp_path)
    model = joblib.load(tmp_path / "model.joblib")
    frame = pd.DataFrame(data)
    assert list(model.predict(frame)) == api["predictions"]
    proba = model.predict_proba(frame)
    for got, want in zip(api["probabilities"], proba.to_dict(orient="records"), strict=True):
        assert got == want
    # and through the engine, which checks the sha256 first
    again = load_model(tmp_path / "model.joblib", card["artifact"]["sha256"])
    assert list(again.predict(frame)) == api["predictions"]
    # the temporary zip is removed after sending
    assert not list(tmp_path.parent.glob(f"model-{mid}-*.zip"))


def test_card_endpoint_and_404(client, settings):
    mid = add_model(settings, fitted("regression"))
    card = client.get(f"/api/models/{mid}/card").json()
    assert card["format"] == "automl-model-card/1" and card["classes"] is None
    assert "joblib.load" in card["usage"]
    assert client.get("/api/models/5151/card").status_code == 404
    assert client.get("/api/models/5151/download").status_code == 404


def test_download_refuses_a_tampered_artifact(client, settings):
    from automl.db import Database
    from automl.db.models import TrainedModel
    from automl.storage import Storage

    mid = add_model(settings, fitted())
    db = Database(settings.db_url)
    with db.session() as s:
        key = s.get(TrainedModel, mid).artifact_key
    db.dispose()
    path = Storage(settings.data_dir).artifact(key)
    path.write_bytes(b"not the model")
    assert client.get(f"/api/models/{mid}/download").status_code == 409


def test_a_download_waits_for_another_process_writing_instead_of_failing(client, settings):
    """The download's audit record is a write: in a read-only session it would fail outright (503) whenever
    another process committed after the route's first read; a write session waits its turn."""
    import sqlite3
    import threading
    import time

    mid = add_model(settings, fitted())
    other = sqlite3.connect(settings.db_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process mid-write: the lock is held, the route's reads go on
    other.execute("CREATE TABLE elsewhere (x INTEGER)")
    got = {}
    request = threading.Thread(target=lambda: got.update(r=client.get(f"/api/models/{mid}/download")))
    request.start()
    time.sleep(0.5)
    other.execute("COMMIT")  # well inside the busy timeout
    request.join(30)
    other.close()
    assert got["r"].status_code == 200, got["r"].text
    audit = client.get("/api/audit", params={"action": "model.download"}).json()
    assert [e["object"] for e in audit] == [f"model {mid}"]
