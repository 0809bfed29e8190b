import json

import pandas as pd
import pytest
from sklearn.datasets import load_iris

from automl.cli.engine import predict_command, train_command
from automl.config import get_settings
from automl.engine import ArtifactIntegrityError


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    """The CLI signs and checks model files with this installation's key (in AUTOML_DATA_DIR)."""
    monkeypatch.setenv("AUTOML_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_train_then_predict(tmp_path, monkeypatch) -> None:
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
    assert (tmp_path / "data" / "secret.key").exists() and len(board["models"][0]["hmac"]) == 64
    monkeypatch.setenv("AUTOML_DATA_DIR", str(tmp_path / "elsewhere"))  # another installation's key
    get_settings.cache_clear()
    with pytest.raises(ArtifactIntegrityError, match="HMAC"):
        predict_command(best, data, preds)
    monkeypatch.setenv("AUTOML_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    (best.with_name(best.name + ".sha256")).write_text("f" * 64)
    with pytest.raises(ArtifactIntegrityError):
        predict_command(best, data, preds)


def test_train_reads_the_file_as_the_upload_does_and_uses_its_kinds(tmp_path) -> None:
    import numpy as np

    from automl.ingest import column_kinds, read_table

    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame({
        "customer_id": rng.permutation(n) + 5000, "member": rng.choice(["sim", "não"], n),
        "spend": [f"{v:,.2f}" for v in rng.normal(scale=2000, size=n)],  # thousand separators, as text
    })
    frame["churn"] = np.where((frame["member"] == "sim") & (rng.random(n) < 0.8), "yes", "no")
    data = tmp_path / "customers.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "models"
    train_command(data, "churn", 3, out)
    summary = json.loads((out / "leaderboard.json").read_text())["summary"]
    profile = column_kinds(read_table(data, data.name))
    assert summary["dropped_columns"] == {"customer_id": "id"} == {"customer_id": profile["customer_id"]}
    assert summary["column_kinds"] == {"member": "boolean", "spend": "numeric"}
    assert summary["column_kinds"] == {c: profile[c] for c in ("member", "spend")}
