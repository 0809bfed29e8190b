"""AutoGluon `best_quality` on one split, in AutoGluon's own environment (a script bench/quality.py runs).

AutoGluon pins its own versions of scikit-learn, LightGBM and friends, so it lives in a virtualenv of its own
rather than in the project's lock:

    uv venv -p 3.11 /tmp/ag
    uv pip install -p /tmp/ag/bin/python "autogluon.tabular[lightgbm,catboost,xgboost]==1.6.3"
    uv run python bench/quality.py --autogluon-python /tmp/ag/bin/python

Reads train.parquet and test.parquet from the folder given, fits with the time limit, writes pred.npy (class
probabilities in the order of `classes`, or regression values) and fit.json (seconds, best model).
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

AG_METRIC = {"roc_auc": "roc_auc", "log_loss": "log_loss", "rmse": "root_mean_squared_error"}


def main(folder: Path) -> None:
    from autogluon.tabular import TabularPredictor

    spec = json.loads((folder / "spec.json").read_text())
    train, test = pd.read_parquet(folder / "train.parquet"), pd.read_parquet(folder / "test.parquet")
    problem = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}[spec["problem_type"]]
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as models:
        predictor = TabularPredictor(label=spec["target"], problem_type=problem, eval_metric=AG_METRIC[spec["metric"]],
                                     path=models, verbosity=0)
        predictor.fit(train, time_limit=spec["budget"], presets="best_quality", num_cpus=2)
        seconds = time.monotonic() - start
        X = test.drop(columns=[spec["target"]])
        if problem == "regression":
            pred = predictor.predict(X).to_numpy(dtype=float)
        else:
            proba = predictor.predict_proba(X)
            pred = np.column_stack([proba[c].to_numpy(dtype=float) if c in proba.columns else np.zeros(len(X))
                                    for c in spec["classes"]])
        best = predictor.model_best
    np.save(folder / "pred.npy", pred)
    (folder / "fit.json").write_text(json.dumps({"fit_s": round(seconds, 1), "best": best}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
