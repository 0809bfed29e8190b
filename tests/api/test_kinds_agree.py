"""One kind inference: the dataset page (the profile) and the trained model's input schema say the same kind for
every column, because the worker passes the profile's kinds to the engine; a boolean column of words predicts
the same whether a client sends the word or a JSON boolean."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from serving_support import run_queued_jobs

from automl.config import Settings

N = 240
PHRASES = ["great service and fast delivery", "the parcel arrived late and damaged", "would order here again",
           "support never answered my emails", "fair price for what you get", "broken on arrival, asked a refund"]


def _table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    member = rng.choice(["sim", "não"], N)
    spend = rng.normal(size=N).round(3)
    review = [f"{rng.choice(PHRASES)} (order {i}, {rng.choice(PHRASES)})" for i in range(N)]
    logit = 2.0 * (member == "sim") + spend
    return pd.DataFrame({
        "customer_id": rng.permutation(np.arange(10_000, 10_000 + N)),  # unique integers, not in order
        "member": member, "review": review, "spend": spend,
        "churn": np.where(logit + rng.normal(scale=0.7, size=N) > 1.0, "yes", "no"),
    })


@pytest.fixture
def trained(client: TestClient, settings: Settings) -> tuple[dict, dict, dict, int]:
    buf = io.StringIO()
    _table().to_csv(buf, index=False)
    r = client.post("/api/datasets/upload", files={"file": ("customers.csv", buf.getvalue().encode(), "text/csv")})
    assert r.status_code == 201, r.text
    dataset = client.get(f"/api/datasets/{r.json()['id']}").json()
    features = ["customer_id", "member", "review", "spend"]  # the id too: the engine must drop it itself
    r = client.post("/api/experiments", json={"dataset_id": dataset["id"], "target_column": "churn",
                                              "feature_columns": features, "time_budget_s": 6})
    assert r.status_code == 202, r.text
    run_queued_jobs(settings)
    exp = client.get(f"/api/experiments/{r.json()['id']}").json()
    assert exp["status"] == "completed", exp["error"]
    best = client.get(f"/api/experiments/{exp['id']}/leaderboard").json()[0]
    model = client.get(f"/api/models/{best['model_id']}").json()
    return dataset, exp, model, best["model_id"]


def test_the_dataset_page_and_the_model_agree_on_every_kind(trained) -> None:
    dataset, exp, model, _ = trained
    profile = {c["name"]: c["kind"] for c in dataset["columns"]}
    assert {k: profile[k] for k in ("customer_id", "member", "review", "spend")} == {
        "customer_id": "id", "member": "boolean", "review": "text", "spend": "numeric"}
    schema = {c["name"]: c for c in model["input_schema"]}
    assert {name: c["kind"] for name, c in schema.items()} == {
        name: profile[name] for name in ("member", "review", "spend")}
    assert exp["summary"]["dropped_columns"] == {"customer_id": "id"}
    assert exp["summary"]["column_kinds"] == {name: profile[name] for name in ("member", "review", "spend")}
    assert schema["member"]["levels"] == ["não", "sim"]


def test_a_boolean_of_words_predicts_the_same_sent_as_the_word_or_as_json(client: TestClient, trained) -> None:
    _, _, _, model_id = trained
    assert client.post(f"/api/models/{model_id}/deploy", json={"api": True}).status_code == 200
    base = {"customer_id": 1, "review": "fair price for what you get", "spend": 0.2}
    answers = {}
    for sent in ("sim", True, "não", False):
        r = client.post(f"/api/v1/predict/{model_id}",
                        json={"data": [{**base, "member": sent}], "return_probabilities": True})
        assert r.status_code == 200, r.text
        answers[sent] = r.json()
    for word, flag in (("sim", True), ("não", False)):
        assert answers[word]["predictions"] == answers[flag]["predictions"]
        assert answers[word]["probabilities"] == answers[flag]["probabilities"]
    # the word is read (not as missing): members churn more in this data
    assert answers["sim"]["probabilities"][0]["yes"] > answers["não"]["probabilities"][0]["yes"] + 0.2
    r = client.post(f"/api/v1/predict/{model_id}", json={"data": [{**base, "member": "perhaps"}]})
    assert r.status_code == 422 and "member" in r.text
