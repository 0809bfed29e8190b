"""The honest leaderboard over HTTP: the holdout choice (validated, stored, passed to the engine), CV fold scores
and their spread on every row, where the figures come from, and the simplest model within one standard error."""
from __future__ import annotations

import statistics
import time

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from serving_support import upload_csv
from sklearn.datasets import load_breast_cancer
from sqlalchemy import func, select

from automl.db.models import Experiment, Job, TrainedModel
from automl.services.leaderboard import simplest_within_one_se

BUDGET_S = 8


@pytest.fixture
def small_id(client: TestClient) -> int:
    rng = np.random.default_rng(0)
    n = 120
    return upload_csv(client, pd.DataFrame({"x": rng.normal(size=n).round(3), "label": rng.choice(["a", "b"], n)}))


@pytest.mark.parametrize("bad", [0, 0.5, 0.75, -0.2, 1, True, "0.2", "half", "", None, [0.2]])
def test_a_holdout_other_than_auto_none_or_a_fraction_below_a_half_is_a_422(
    client: TestClient, small_id: int, bad: object
) -> None:
    r = client.post("/api/experiments", json={"dataset_id": small_id, "target_column": "label", "holdout": bad})
    assert r.status_code == 422, r.text
    assert "holdout" in str(r.json()["detail"])
    with client.app.state.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Experiment)) == 0
        assert s.scalar(select(func.count()).select_from(Job)) == 0


@pytest.mark.parametrize(("choice", "holdout", "evaluation"), [
    (None, "none", "out_of_fold"), ("auto", "none", "out_of_fold"), ("none", "none", "out_of_fold"),
    (0.1, 0.1, "holdout"), (0.49, 0.49, "holdout"),
])
def test_the_choice_is_stored_with_the_experiment_and_resolved_for_its_rows(
    client: TestClient, small_id: int, choice: object, holdout: object, evaluation: str
) -> None:
    body = {"dataset_id": small_id, "target_column": "label"} | ({} if choice is None else {"holdout": choice})
    r = client.post("/api/experiments", json=body)
    assert r.status_code == 202, r.text
    summary = client.get(f"/api/experiments/{r.json()['id']}").json()["summary"]
    assert summary["holdout_choice"] == (choice or "auto")  # 120 rows: auto holds none out
    assert (summary["holdout"], summary["evaluation"]) == (holdout, evaluation)


def _wait(client: TestClient, exp_id: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        exp = client.get(f"/api/experiments/{exp_id}").json()
        if exp["status"] in ("completed", "failed", "cancelled"):
            return exp
        time.sleep(0.5)
    raise AssertionError(f"experiment {exp_id} still {exp['status']} after {timeout} s")


def _check_board(client: TestClient, exp: dict, evaluation: str) -> list[dict]:
    board = client.get(f"/api/experiments/{exp['id']}/leaderboard").json()
    assert board == exp["leaderboard"] and len(board) >= 2
    for row in board:
        assert row["evaluation"] == evaluation
        assert len(row["cv_folds"]) == 5
        assert row["cv_std"] == pytest.approx(statistics.stdev(row["cv_folds"]), abs=1e-5)
        assert row["cv_score"] == pytest.approx(statistics.fmean(row["cv_folds"]), abs=0.02)  # pooled vs mean
        model = client.get(f"/api/models/{row['model_id']}").json()
        assert model["cv_std"] == row["cv_std"]
    assert sum(row["simplest"] for row in board) == 1
    best = board[0]  # the one-SE rule, recomputed from the rows (roc_auc: higher is better)
    se = best["cv_std"] / np.sqrt(len(best["cv_folds"]))
    near = [r for r in board if r["cv_score"] >= best["cv_score"] - se - 1e-12]
    expected = min(near, key=lambda r: (r["is_ensemble"], r["predict_ms_per_row"], r["rank"]))
    assert next(r for r in board if r["simplest"])["model_id"] == expected["model_id"]
    with client.app.state.db.session() as s:
        stored = {m.id: m.cv_fold_scores for m in s.scalars(select(TrainedModel))}
    assert all(stored[row["model_id"]] == row["cv_folds"] for row in board)
    return board


def test_none_and_a_fraction_through_a_worker(client: TestClient, worker) -> None:
    df = load_breast_cancer(as_frame=True).frame
    dataset_id = upload_csv(client, df)
    ids = {}
    for choice in ("none", 0.25):
        r = client.post("/api/experiments", json={"dataset_id": dataset_id, "target_column": "target",
                                                  "time_budget_s": BUDGET_S, "holdout": choice})
        assert r.status_code == 202, r.text
        ids[choice] = r.json()["id"]
    none = _wait(client, ids["none"], timeout=4 * BUDGET_S + 60)
    held = _wait(client, ids[0.25], timeout=2 * BUDGET_S + 60)
    assert none["status"] == held["status"] == "completed", (none["error"], held["error"])

    s = none["summary"]
    assert (s["holdout_choice"], s["holdout"], s["evaluation"], s["n_train"], s["n_test"]) == (
        "none", "none", "out_of_fold", len(df), 0)
    board = _check_board(client, none, "out_of_fold")
    for row in board:  # out of fold, the reported figures are the CV figures
        assert row["metrics"]["roc_auc"] == pytest.approx(row["cv_score"], abs=1e-6)

    s = held["summary"]
    assert (s["holdout_choice"], s["holdout"], s["evaluation"]) == (0.25, 0.25, "holdout")
    assert s["n_test"] == np.ceil(0.25 * len(df)) and len(s["evaluation_rows"]) == s["n_test"]
    _check_board(client, held, "holdout")


class _Row:
    """What the one-SE rule reads of a TrainedModel."""

    def __init__(self, id: int, cv: float | None, std: float | None, ms: float, *, ensemble: bool = False) -> None:
        self.id, self.cv_score, self.cv_std, self.predict_ms_per_row, self.is_ensemble = id, cv, std, ms, ensemble
        self.cv_fold_scores = [0.0] * 4 if std is not None else []


def test_the_one_se_rule_takes_the_cheapest_model_within_one_standard_error_of_the_best() -> None:
    # best 0.90 ± 0.02 over 4 folds: SE 0.01, so 0.89 and up qualify
    rows = [_Row(1, 0.90, 0.02, 5.0, ensemble=True), _Row(2, 0.895, 0.01, 2.0), _Row(3, 0.891, 0.03, 0.5),
            _Row(4, 0.85, 0.01, 0.1)]
    assert simplest_within_one_se(rows, "roc_auc") == 3  # 4 is cheaper but 0.05 behind
    # an ensemble as cheap as a single still counts as the more complex
    assert simplest_within_one_se([_Row(1, 0.9, 0.02, 0.1, ensemble=True), _Row(2, 0.9, 0.02, 3.0)], "roc_auc") == 2
    # lower is better: within rmse + SE
    rmse = [_Row(1, 3.0, 0.4, 9.0), _Row(2, 3.15, 0.1, 1.0), _Row(3, 3.3, 0.1, 0.1)]
    assert simplest_within_one_se(rmse, "rmse") == 2
    # no spread known (one fold scored): only a tie with the best qualifies
    assert simplest_within_one_se([_Row(1, 0.9, None, 4.0), _Row(2, 0.8999, 0.0, 0.1)], "roc_auc") == 1
    assert simplest_within_one_se([_Row(1, None, None, 1.0), _Row(2, None, None, 0.1)], "roc_auc") == 1
    assert simplest_within_one_se([], "roc_auc") is None
