"""The decision threshold saved with a deployment (issue 16, item 2): it changes predicted labels, never
probabilities, in API and batch predictions; 422 for other problem types or out of range; audited; seen by
another API process through the cache's revalidation."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from serving_support import add_model, fitted, rows, run_queued_jobs, table

from automl.db import Database
from automl.db.models import AuditEvent, TrainedModel


@pytest.fixture(scope="module")
def classifier():
    return fitted("binary")


def _deploy(client, model_id: int, **body):
    return client.post(f"/api/models/{model_id}/deploy", json=body)


def _predict(client, model_id: int, data):
    r = client.post(f"/api/v1/predict/{model_id}", json={"data": data, "return_probabilities": True})
    assert r.status_code == 200, r.text
    out = r.json()
    return out["predictions"], [p["yes"] for p in out["probabilities"]]


def _mid_rows(classifier, n: int = 400) -> tuple[list[dict], float]:
    """Rows and a threshold between their P(yes) quartiles, so labels change both ways around it."""
    data = rows(n, seed=3)
    p = classifier.predict_proba(pd.DataFrame(data))["yes"].to_numpy()
    return data, float(np.round(np.quantile(p, 0.25), 3))


def test_threshold_changes_labels_not_probabilities(client, settings, classifier) -> None:
    mid = add_model(settings, classifier)
    data, low = _mid_rows(classifier)
    r = _deploy(client, mid, api=True)
    assert r.status_code == 200 and r.json()["threshold"] is None
    labels, proba = _predict(client, mid, data)
    assert labels == list(classifier.predict(pd.DataFrame(data)))  # no threshold: the most probable class

    r = _deploy(client, mid, api=True, threshold=low)
    assert r.status_code == 200 and r.json()["threshold"] == low
    assert client.get(f"/api/models/{mid}").json()["threshold"] == low
    labels_low, proba_low = _predict(client, mid, data)
    assert proba_low == pytest.approx(proba)  # probabilities unchanged
    assert labels_low == ["yes" if p >= low else "no" for p in proba]
    assert labels_low != labels and labels_low.count("yes") > labels.count("yes")
    # without probabilities asked for, the labels still follow the threshold
    plain = client.post(f"/api/v1/predict/{mid}", json={"data": data}).json()["predictions"]
    assert plain == labels_low

    r = _deploy(client, mid, api=True, threshold=None)  # null: back to the most probable class
    assert r.status_code == 200 and r.json()["threshold"] is None
    assert _predict(client, mid, data)[0] == labels


def test_threshold_only_without_deploying_and_kept_when_omitted(client, settings, classifier) -> None:
    mid = add_model(settings, classifier)
    r = _deploy(client, mid, api=False, batch=False, threshold=0.3)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["threshold"] == 0.3 and not body["deployed_api"] and not body["deployed_batch"]
    r = _deploy(client, mid, api=True)  # a redeploy without "threshold" keeps it
    assert r.json()["threshold"] == 0.3 and client.app.state.serving.cache.get(mid).threshold == 0.3
    db = Database(settings.db_url)
    with db.session() as s:
        events = [(e.action, e.object) for e in s.query(AuditEvent).order_by(AuditEvent.id)]
    db.dispose()
    assert ("model.threshold", f"model {mid}: P(yes) >= 0.3") in events
    assert [a for a, _ in events].count("model.deploy") == 1  # the threshold-only save deployed nothing


@pytest.mark.parametrize("value", [0, 1, -0.2, 1.5, "0.5", True])
def test_422_out_of_range_or_not_a_number(client, settings, classifier, value) -> None:
    mid = add_model(settings, classifier)
    r = _deploy(client, mid, api=True, threshold=value)
    assert r.status_code == 422, r.text
    assert client.get(f"/api/models/{mid}").json()["deployed_api"] is False


def test_422_for_a_regression_model(client, settings) -> None:
    mid = add_model(settings, fitted("regression"))
    r = _deploy(client, mid, api=True, threshold=0.4)
    assert r.status_code == 422 and "binary" in r.json()["detail"]
    assert client.get(f"/api/models/{mid}").json()["deployed_api"] is False
    assert _deploy(client, mid, api=True, threshold=None).status_code == 200  # resetting is always fine


def test_422_for_a_multiclass_model(client, settings, classifier) -> None:
    mid = add_model(settings, classifier)
    db = Database(settings.db_url)
    with db.session() as s:
        s.get(TrainedModel, mid).experiment.problem_type = "multiclass"
    db.dispose()
    r = _deploy(client, mid, threshold=0.4)
    assert r.status_code == 422 and "multiclass" in r.json()["detail"]


def test_a_threshold_set_by_another_process_reaches_the_cache(client, settings, classifier) -> None:
    mid = add_model(settings, classifier)
    data, low = _mid_rows(classifier)
    assert _deploy(client, mid, api=True).status_code == 200
    before, proba = _predict(client, mid, data)
    db = Database(settings.db_url)
    with db.session() as s:  # as another replica's deploy would, from its own process
        s.get(TrainedModel, mid).threshold = low
    db.dispose()
    runtime = client.app.state.serving
    entry = runtime.cache.get(mid)
    runtime.refresh()
    assert runtime.cache.get(mid) is not entry and runtime.cache.get(mid).model is entry.model  # no reload
    after, _ = _predict(client, mid, data)
    assert after == ["yes" if p >= low else "no" for p in proba] and after != before


def test_batch_scoring_uses_the_threshold(client, settings, classifier) -> None:
    mid = add_model(settings, classifier, deployed_batch=True)
    df = table(300, seed=7).drop(columns=["label", "amount"])
    p = classifier.predict_proba(df)["yes"].to_numpy()
    high = float(np.round(np.quantile(p, 0.75), 3))
    assert _deploy(client, mid, batch=True, threshold=high).status_code == 200
    r = client.post(f"/api/v1/predict/{mid}/batch", files={"file": ("s.csv", df.to_csv(index=False).encode())})
    assert r.status_code == 202, r.text
    run_queued_jobs(settings)
    out = pd.read_csv(io.BytesIO(client.get(f"/api/batch-predictions/{r.json()['id']}/download").content))
    assert out["proba_yes"].to_numpy() == pytest.approx(p)
    assert list(out["prediction"]) == ["yes" if q >= high else "no" for q in p]
    assert list(out["prediction"]) != list(classifier.predict(df))


def test_the_cli_sets_the_threshold(client, settings, classifier, monkeypatch) -> None:
    from typer.testing import CliRunner

    from automl.cli import app
    from automl.config import get_settings

    mid = add_model(settings, classifier)
    monkeypatch.setenv("AUTOML_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = runner.invoke(app, ["model", "deploy", str(mid), "--batch", "--threshold", "0.25"])
        assert out.exit_code == 0 and "api=off batch=on threshold=0.25" in out.stdout, out.output
        assert client.get(f"/api/models/{mid}").json()["threshold"] == 0.25
        out = runner.invoke(app, ["model", "deploy", str(mid), "--batch"])  # omitted: kept
        assert "threshold=0.25" in out.stdout
        out = runner.invoke(app, ["model", "deploy", str(mid), "--threshold", "1.5"])  # the service's 422
        assert out.exit_code == 1 and "between 0 and 1" in out.output
    finally:
        get_settings.cache_clear()
