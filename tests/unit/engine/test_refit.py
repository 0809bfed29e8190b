"""The deployable ensemble is refitted: one pipeline per member, one shared preprocessor per style."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

import automl.engine.automl as engine_automl
from automl.engine import AutoML
from automl.engine.candidates import REGISTRY
from automl.engine.model import FittedModel
from automl.engine.refit import MIN_AGREEMENT


def test_ensemble_is_refitted_with_shared_preprocessing() -> None:
    data = load_breast_cancer(as_frame=True)
    df = data.frame.rename(columns={"target": "y"})
    result = AutoML(time_budget_s=20, seed=0).fit(df, target="y")
    ens = next(m for m in result.leaderboard if m.is_ensemble)
    members = ens.model.members
    weights = ens.params["weights"]
    assert ens.params["refit"] == "full"
    assert set(ens.params["served"]) == set(weights)  # each member's refit was checked and is recorded
    for card in ens.params["served"].values():
        assert card["served"] == "refit" and card["agreement"] >= MIN_AGREEMENT
        assert card["rounds"] is None or card["rounds"] > 1
    assert len(members) == len(weights)  # one pipeline per member, not k fold models each
    by_model_type: dict[type, set[int]] = {}
    for pipe, _ in members:
        by_model_type.setdefault(type(pipe[-1]), set()).add(id(pipe[0]))
    assert all(len(preps) == 1 for preps in by_model_type.values())  # same family -> same fitted preprocessor
    assert abs(sum(w for _, w in members) - 1) < 1e-9
    proba = ens.model.predict_proba(df.drop(columns=["y"]).head(50))
    assert np.allclose(proba.sum(axis=1), 1) and ens.metrics["roc_auc"] > 0.95


def _rounds(model: object) -> int | None:
    """The rounds a served model holds, by its family."""
    module = type(model).__module__
    family = next((name for prefix, name in [
        ("lightgbm", "lightgbm"), ("xgboost", "xgboost"), ("catboost", "catboost"),
        ("sklearn.ensemble._gb", "gradient_boosting"), ("sklearn.ensemble._hist", "hist_gradient_boosting"),
        ("sklearn.ensemble._forest", "random_forest"),
    ] if module.startswith(prefix)), None)
    return None if family is None else REGISTRY[family].fitted_rounds(model)


def test_a_refit_past_its_deadline_serves_the_measured_models(
    breast_cancer: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15's defect: the refit started after its deadline, every booster kept one tree, and the ensemble
    was still marked `refit: full`. Forced here: every member is refitted, with a deadline already passed."""
    real = engine_automl.refit_members

    def late(members, ctx, plan, X, y, *, deadline, **kwargs):  # type: ignore[no-untyped-def]
        return real(members, ctx, plan, X, y, deadline=time.monotonic() - 1)  # started, and cut at once

    monkeypatch.setattr(engine_automl, "refit_members", late)
    monkeypatch.setattr(engine_automl._Run, "_refittable", lambda self, chosen, **kw: {f.key for f, _ in chosen})
    train, test = train_test_split(breast_cancer, test_size=0.3, random_state=0, stratify=breast_cancer["target"])
    result = AutoML(time_budget_s=10, seed=0).fit(train, target="target")
    ens = next(m for m in result.leaderboard if m.is_ensemble)
    served = ens.params["served"]
    boosted = [k for k in served if served[k]["served"] != "refit"]
    assert boosted, "every member with rounds was cut, so none of them may serve its refit"
    assert ens.params["refit"] != "full"
    for card in served.values():
        if card["served"] == "refit":  # only a family without rounds (linear) survives a passed deadline
            assert card["rounds"] is None
        else:
            assert "cut by the deadline" in card["why"] and card["served"] in ("bag", "first fold")
    # what is served is the measured fold models (or a linear refit), never a one-round booster
    by_key = {m.key: m for m in result.leaderboard}
    fold_ids = {id(p) for k in served for p, _ in by_key[k].model.members}
    for pipe, _ in ens.model.members:
        assert id(pipe) in fold_ids or _rounds(pipe[-1]) is None
        assert _rounds(pipe[-1]) != 1
    # and it scores like the bags on rows it never saw
    bags = FittedModel(
        algorithm="bags", problem_type=ens.model.problem_type, classes=ens.model.classes_, kinds=ens.model.kinds,
        input_schema=ens.model.input_schema,
        members=[(p, ens.params["weights"][k] * w) for k in served for p, w in by_key[k].model.members],
    )
    X_test, y_test = test.drop(columns=["target"]), test["target"].to_numpy()
    served_auc = roc_auc_score(y_test, ens.model.predict_proba(X_test)[1])
    bag_auc = roc_auc_score(y_test, bags.predict_proba(X_test)[1])
    assert served_auc > 0.97 and served_auc >= bag_auc - 0.01, (served_auc, bag_auc)


def test_a_model_that_finished_alone_is_still_refitted_on_every_row() -> None:
    data = load_breast_cancer(as_frame=True)
    df = data.frame.rename(columns={"target": "y"})
    # one configuration of a family the search does not tune: it is the only model that finishes
    result = AutoML(time_budget_s=10, seed=0, holdout=0.2, portfolio=[("linear", {})]).fit(df, target="y")
    assert [m.key for m in result.leaderboard] == ["ensemble", "linear_1"]  # the refit ranks first: one model
    best, bag = result.leaderboard
    assert best.params["weights"] == {"linear_1": 1.0} and best.params["refit"] == "full"
    assert best.params["served"]["linear_1"]["served"] == "refit"
    assert len(best.model.members) == 1 and len(bag.model.members) == 5  # against its 5 fold models
    assert best.cv_score == pytest.approx(bag.cv_score)  # measured by the same out-of-fold predictions
    assert best.predict_ms_per_row < bag.predict_ms_per_row
