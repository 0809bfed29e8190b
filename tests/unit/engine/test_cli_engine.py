import json

import pandas as pd
import pytest
from sklearn.datasets import load_iris

from automl.cli.engine import predict_command, train_command
from automl.engine import ArtifactIntegrityError


def test_train_then_predict(tmp_path) -> None:
    frame = load_iris(as_frame=True).frame
    frame["target"] = frame["target"].map({0: "a", 1: "b", 2: "c"})
    data = tmp_path / "iris.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "models"
    train_command(data, "target", 4, out)
    board = json.loads((out / "leaderboard.json").read_text())
    assert board["models"][0]["rank"] == 1 and len(board["models"][0]["sha256"]) == 64
    best = out / board["models"][0]["file"]
    preds = tmp_path / "preds.csv"
    predict_command(best, data, preds)
    scored = pd.read_csv(preds)
    assert list(scored.columns) == ["prediction", "proba_a", "proba_b", "proba_c"] and len(scored) == 150
    (best.with_name(best.name + ".sha256")).write_text("f" * 64)
    with pytest.raises(ArtifactIntegrityError):
        predict_command(best, data, preds)
