"""The shell commands: `automl train` then `automl predict` (wiring only; the engine's CLI module has its own tests)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from jobsynth import classification_frame
from typer.testing import CliRunner

from automl.cli import app


def test_train_then_predict_from_the_shell(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    classification_frame(200).to_csv(data, index=False)
    out = tmp_path / "models"
    runner = CliRunner()
    trained = runner.invoke(app, ["train", str(data), "--target", "label", "--time-budget", "3", "--out", str(out)])
    assert trained.exit_code == 0, trained.output
    assert "rank" in trained.output
    model = sorted(out.glob("*.joblib"))[0]
    scored = tmp_path / "scored.csv"
    predicted = runner.invoke(app, ["predict", str(model), str(data), "-o", str(scored)])
    assert predicted.exit_code == 0, predicted.output
    assert len(pd.read_csv(scored)) == 200


def test_missing_files_are_refused_with_a_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", str(tmp_path / "nope.csv"), "--target", "y"])
    message = " ".join(result.output.replace("│", " ").split())  # Rich wraps long paths inside a box
    assert result.exit_code != 0 and "nope.csv' does not exist" in message
