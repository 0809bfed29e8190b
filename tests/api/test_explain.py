"""Explanations through the API: `"explain": true` on the predict route (sums hold, the class explained is the
label returned, 422 on a non-bool, unchanged responses without it) and `explain_top_k` reasons in batch files."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from serving_support import KINDS, add_model, fitted, rows, run_queued_jobs, table

from automl.engine.kinds import coerce_frame


@pytest.fixture(scope="module")
def classifier():
    return fitted("binary")


@pytest.fixture(scope="module")
def regressor():
    return fitted("regression")


def _deployed(client, settings, model, **deploy) -> int:
    mid = add_model(settings, model)
    r = client.post(f"/api/models/{mid}/deploy", json={"api": True, **deploy})
    assert r.status_code == 200, r.text
    return mid


def _predict(client, mid: int, body: dict) -> dict:
    r = client.post(f"/api/v1/predict/{mid}", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def _raw(model, data: list[dict]) -> np.ndarray:
    return model.predict_raw(coerce_frame(pd.DataFrame(data), model.kinds))


def test_classifier_explanations_sum_to_the_probability_of_the_returned_label(client, settings, classifier):
    mid = _deployed(client, settings, classifier)
    data = rows(20, seed=4)
    out = _predict(client, mid, {"data": data, "explain": True, "return_probabilities": True})
    assert out["explanation_space"] == "probability"
    assert len(out["explanations"]) == len(data)
    raw = _raw(classifier, data)
    for i, (e, label) in enumerate(zip(out["explanations"], out["predictions"], strict=True)):
        assert set(e) == {"base", "contributions", "class"}
        assert e["class"] == label
        assert list(e["contributions"]) == list(KINDS)  # the model's input columns, in order
        k = list(classifier.classes_).index(label)
        assert e["base"] + sum(e["contributions"].values()) == pytest.approx(raw[i, k], abs=1e-6)
        assert e["base"] + sum(e["contributions"].values()) == pytest.approx(out["probabilities"][i][label], abs=1e-6)


def test_a_decision_threshold_explains_the_label_it_returns(client, settings, classifier):
    data = rows(60, seed=6)
    p_yes = _raw(classifier, data)[:, 1]
    mid = _deployed(client, settings, classifier, threshold=float(np.round(np.quantile(p_yes, 0.2), 3)))
    out = _predict(client, mid, {"data": data, "explain": True})
    labels = out["predictions"]
    assert "yes" in labels and any(p < 0.5 for p, lab in zip(p_yes, labels, strict=True) if lab == "yes")
    for e, label, p in zip(out["explanations"], labels, p_yes, strict=True):
        assert e["class"] == label
        total = e["base"] + sum(e["contributions"].values())
        assert total == pytest.approx(p if label == "yes" else 1 - p, abs=1e-6)


def test_regression_explanations_sum_to_the_prediction(client, settings, regressor):
    mid = _deployed(client, settings, regressor)
    data = rows(10, seed=5)
    out = _predict(client, mid, {"data": data, "explain": True})
    assert out["explanation_space"] == "prediction"
    for e, prediction in zip(out["explanations"], out["predictions"], strict=True):
        assert set(e) == {"base", "contributions"}
        assert e["base"] + sum(e["contributions"].values()) == pytest.approx(prediction, abs=1e-6)
    # x1 and x3 play no part in `amount` (3 x0 - 2 x2 + 4 [east]): the linear model gives them almost nothing
    mean = {c: np.mean([abs(e["contributions"][c]) for e in out["explanations"]]) for c in KINDS}
    assert mean["x1"] < 0.05 * mean["x0"] and mean["x3"] < 0.05 * mean["x0"]


@pytest.mark.parametrize("flag", ["yes", 1, None, "true"])
def test_a_non_bool_explain_is_a_422(client, settings, classifier, flag):
    mid = _deployed(client, settings, classifier)
    r = client.post(f"/api/v1/predict/{mid}", json={"data": rows(2), "explain": flag})
    assert r.status_code == 422, r.text
    assert "explain must be true or false" in r.text


def test_responses_without_explain_are_unchanged(client, settings, classifier):
    mid = _deployed(client, settings, classifier)
    data = rows(5, seed=2)
    plain = _predict(client, mid, {"data": data})
    assert set(plain) == {"model_id", "predictions"}
    assert _predict(client, mid, {"data": data, "explain": False}) == plain
    explained = _predict(client, mid, {"data": data, "explain": True})
    assert explained["predictions"] == plain["predictions"]


def _batch(client, mid: int, content: bytes, **form: str):
    return client.post(f"/api/v1/predict/{mid}/batch", files={"file": ("score.csv", content)}, data=form)


def test_batch_scoring_adds_the_top_k_reasons(client, settings, classifier):
    mid = add_model(settings, classifier, deployed_batch=True)
    df = table(120, seed=7).drop(columns=["label", "amount"])
    r = _batch(client, mid, df.to_csv(index=False).encode(), explain_top_k="3")
    assert r.status_code == 202, r.text
    run_queued_jobs(settings)
    assert client.get(f"/api/batch-predictions/{r.json()['id']}").json()["status"] == "completed"
    out = pd.read_csv(io.BytesIO(client.get(f"/api/batch-predictions/{r.json()['id']}/download").content))
    reasons = [f"reason_{i}{s}" for i in (1, 2, 3) for s in ("", "_contribution")]
    assert list(out.columns) == [*df.columns, "prediction", "proba_no", "proba_yes", *reasons]
    e = classifier.explain(df, classes=out["prediction"].tolist())
    values = pd.DataFrame(e.values, columns=e.columns)
    for i in range(len(df)):
        top = values.iloc[i].abs().sort_values(ascending=False, kind="stable")
        assert [out.loc[i, f"reason_{j}"] for j in (1, 2, 3)] == list(top.index[:3])
        got = [out.loc[i, f"reason_{j}_contribution"] for j in (1, 2, 3)]
        assert got == pytest.approx([values.iloc[i][c] for c in top.index[:3]], abs=1e-9)
    assert (out["reason_1_contribution"].abs() >= out["reason_2_contribution"].abs()).all()


def test_batch_without_reasons_is_unchanged_and_bad_top_k_is_a_422(client, settings, classifier):
    mid = add_model(settings, classifier, deployed_batch=True)
    content = table(30, seed=8).drop(columns=["label", "amount"]).to_csv(index=False).encode()
    for bad in ("11", "-1", "abc", "2.5", ""):
        r = _batch(client, mid, content, explain_top_k=bad)
        if bad == "":  # an empty field is the default
            assert r.status_code == 202, r.text
            continue
        assert r.status_code == 422, (bad, r.text)
        assert "explain_top_k" in r.text
    r = _batch(client, mid, content, explain_top_k="0")
    assert r.status_code == 202
    run_queued_jobs(settings)
    out = pd.read_csv(io.BytesIO(client.get(f"/api/batch-predictions/{r.json()['id']}/download").content))
    assert not [c for c in out.columns if c.startswith("reason_")]
