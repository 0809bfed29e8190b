"""Fold statistics on the leaderboard: each model's metric on each CV fold, and their standard deviation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from automl.engine import AutoML, FitResult, FittedModel
from automl.engine.task import METRICS
from automl.engine.validation import cv_folds, fold_scores, fold_std


@pytest.fixture(scope="module")
def result(breast_cancer: pd.DataFrame) -> FitResult:
    return AutoML(time_budget_s=8, holdout="none", seed=0).fit(breast_cancer, "target")


def _fold_proba(model: FittedModel, pipeline_index: int, X: pd.DataFrame) -> np.ndarray:
    one = FittedModel(algorithm="fold", problem_type=model.problem_type, classes=model.classes_, kinds=model.kinds,
                      input_schema=model.input_schema, members=[(model.members[pipeline_index][0], 1.0)])
    return one.predict_proba(X)[1].to_numpy()


def test_fold_scores_match_a_recomputation_and_cv_std_is_their_sd(
    result: FitResult, breast_cancer: pd.DataFrame
) -> None:
    """Without a holdout the search's folds are the stratified 5 folds of every row (seed 0): fold i's model of
    each bag, scored on fold i's validation rows, gives that model's fold score i."""
    X, y = breast_cancer.drop(columns=["target"]), breast_cancer["target"].to_numpy()
    folds = cv_folds(y, problem_type="binary", n_folds=result.summary["n_folds"], seed=0)
    singles = [m for m in result.leaderboard if not m.is_ensemble]
    assert singles
    for m in singles:
        recomputed = [roc_auc_score(y[val], _fold_proba(m.model, i, X.iloc[val])) for i, (_, val) in enumerate(folds)]
        assert m.cv_fold_scores == pytest.approx(recomputed, abs=1e-6), m.key
        assert m.cv_std == pytest.approx(np.std(m.cv_fold_scores, ddof=1), abs=1e-6)
        assert m.cv_std > 0


def test_the_ensembles_fold_scores_are_its_weights_on_the_same_folds(
    result: FitResult, breast_cancer: pd.DataFrame
) -> None:
    ens = next((m for m in result.leaderboard if m.is_ensemble), None)
    if ens is None:
        pytest.skip("a loaded machine finished a single candidate: no ensemble to check")
    X, y = breast_cancer.drop(columns=["target"]), breast_cancer["target"].to_numpy()
    folds = cv_folds(y, problem_type="binary", n_folds=result.summary["n_folds"], seed=0)
    by_key = {m.key: m for m in result.leaderboard}
    weights = ens.params["weights"]
    total = sum(weights.values())
    recomputed = []
    for i, (_, val) in enumerate(folds):
        proba = sum(w / total * _fold_proba(by_key[k].model, i, X.iloc[val]) for k, w in weights.items())
        recomputed.append(roc_auc_score(y[val], proba))
    assert ens.cv_fold_scores == pytest.approx(recomputed, abs=1e-3)  # the weights are rounded to 4 places
    assert ens.cv_std == pytest.approx(np.std(ens.cv_fold_scores, ddof=1), abs=1e-6)


def test_fold_std_skips_folds_that_cannot_be_scored() -> None:
    y = np.array([0, 1, 0, 1, 1, 1])
    oof = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.1, 0.9], [0.4, 0.6], [0.2, 0.8]])
    folds = [(np.array([4, 5]), np.array([0, 1, 2, 3])), (np.array([0, 1, 2, 3]), np.array([4, 5]))]
    scores = fold_scores(METRICS["roc_auc"], y, oof, folds)
    assert scores[0] == 1.0 and np.isnan(scores[1])  # the second fold holds one class only
    assert fold_std(scores) is None  # one scorable fold has no spread
    assert fold_std([0.8, 0.9, float("nan"), 0.7]) == pytest.approx(np.std([0.8, 0.9, 0.7], ddof=1))
