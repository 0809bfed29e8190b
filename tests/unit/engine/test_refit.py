"""The deployable ensemble is refitted: one pipeline per member, one shared preprocessor per style."""
from __future__ import annotations

import numpy as np
from sklearn.datasets import load_breast_cancer

from automl.engine import AutoML


def test_ensemble_is_refitted_with_shared_preprocessing() -> None:
    data = load_breast_cancer(as_frame=True)
    df = data.frame.rename(columns={"target": "y"})
    result = AutoML(time_budget_s=20, seed=0).fit(df, target="y")
    ens = next(m for m in result.leaderboard if m.is_ensemble)
    members = ens.model.members
    weights = ens.params["weights"]
    assert ens.params["refit"] == "full"
    assert len(members) == len(weights)  # one pipeline per member, not k fold models each
    by_model_type: dict[type, set[int]] = {}
    for pipe, _ in members:
        by_model_type.setdefault(type(pipe[-1]), set()).add(id(pipe[0]))
    assert all(len(preps) == 1 for preps in by_model_type.values())  # same family -> same fitted preprocessor
    assert abs(sum(w for _, w in members) - 1) < 1e-9
    proba = ens.model.predict_proba(df.drop(columns=["y"]).head(50))
    assert np.allclose(proba.sum(axis=1), 1) and ens.metrics["roc_auc"] > 0.95
