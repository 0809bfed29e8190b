"""Behaviour that keeps big data within the time budget and memory, and the engine quiet."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

from automl.engine.candidates import REGISTRY, TaskContext
from automl.engine.candidates.forests import MAX_TREE_ROWS, leaf_floor
from automl.engine.ensemble import ensemble_selection, selection_rows
from automl.engine.task import METRICS


def _binary(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(size=n) > 0).astype(int)
    return X, y


def test_forests_on_big_data_sample_rows_and_keep_a_leaf_floor() -> None:
    small = TaskContext("binary", 2, n_rows=5_000, n_features=8)
    big = TaskContext("binary", 2, n_rows=400_000, n_features=8)
    for name in ("extra_trees", "random_forest"):
        cand = REGISTRY[name]
        small_est = cand.estimator(cand.portfolio(small)[0], small)
        assert small_est.get_params()["min_samples_leaf"] == cand.min_leaf >= leaf_floor(5_000)
        assert small_est.get_params()["max_samples"] is None
        big_est = cand.estimator(cand.portfolio(big)[0], big)
        assert big_est.get_params()["bootstrap"] and big_est.get_params()["max_samples"] == MAX_TREE_ROWS
        assert big_est.get_params()["min_samples_leaf"] == leaf_floor(400_000) > cand.min_leaf


def test_forest_meets_its_deadline_in_sized_chunks() -> None:
    X, y = _binary(3_000)
    ctx = TaskContext("binary", 2, n_rows=len(y), n_features=X.shape[1])
    cand = REGISTRY["extra_trees"]
    done = cand.fit(cand.estimator(cand.portfolio(ctx)[0], ctx), X, y, X_val=X, y_val=y,
                    deadline=time.monotonic() + 60)
    assert len(done.estimators_) == 300  # time to spare: the full forest
    start = time.monotonic()
    cut = cand.fit(cand.estimator(cand.portfolio(ctx)[0], ctx), X, y, X_val=X, y_val=y,
                   deadline=time.monotonic() - 1)
    assert len(cut.estimators_) == 10 and time.monotonic() - start < 5  # past the deadline: only the timing trees
    assert not cut.get_params()["warm_start"]


def test_ensemble_selection_scores_a_subset_but_reports_all_rows() -> None:
    rng = np.random.default_rng(0)
    n = 3_000
    y = rng.integers(0, 2, n)
    good = np.column_stack([1 - y * 0.6 - 0.2, y * 0.6 + 0.2]) + rng.normal(0, 0.3, (n, 2))
    other = np.column_stack([1 - y * 0.4 - 0.3, y * 0.4 + 0.3]) + rng.normal(0, 0.3, (n, 2))
    noise = rng.random((n, 2))
    auc = METRICS["roc_auc"]
    take = selection_rows(n, max_rows=500)
    assert take is not None and len(take) == len(np.unique(take)) == 500
    assert selection_rows(n, max_rows=n) is None
    w_sub, score_sub = ensemble_selection([noise, good, other], y, auc, max_rows=500)
    w_all, _ = ensemble_selection([noise, good, other], y, auc, max_rows=n)
    blend = sum(w * o for w, o in zip(w_sub, [noise, good, other], strict=True))
    assert score_sub == pytest.approx(auc(y, blend))  # the reported score is on every row
    assert w_sub[0] <= 0.1 and abs(w_sub[1] - w_all[1]) <= 0.25


def test_lightgbm_and_logistic_cv_fit_without_deprecation_warnings() -> None:
    X, y = _binary(600)
    ctx = TaskContext("binary", 2, n_rows=500, n_features=X.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # LGBMDeprecationWarning (eval_set) and sklearn FutureWarnings fail here
        lgbm = REGISTRY["lightgbm"]
        model = lgbm.fit(lgbm.estimator(lgbm.portfolio(ctx)[0], ctx), X[:500], y[:500], X_val=X[500:],
                         y_val=y[500:], deadline=time.monotonic() + 30)
        assert model.best_iteration_ > 0  # early stopping saw the validation rows
        ridge = REGISTRY["ridge"]
        est = ridge.estimator(ridge.portfolio(ctx)[0], ctx).fit(X, y)
        assert est.predict_proba(X[:3]).shape == (3, 2)


def test_end_reserve_is_what_follows_the_search_as_measured_and_capped() -> None:
    from automl.engine.budget import Budget

    assert Budget(start=0.0, total=300.0).end_reserve == pytest.approx(7.0)  # the margin: 1 + 0.02·T
    # what the refit, the stacking layer and the ensemble's timing and importance are expected to take
    full = Budget(start=0.0, total=300.0, ensemble_predict_s=1.0, refit_s=40.0, stack_s=5.0, importance_s=4.0)
    assert full.tail == pytest.approx(7.0 + 3.0 + 4.0)
    assert full.end_reserve == pytest.approx(14.0 + 40.0 + 5.0)
    assert Budget(start=0.0, total=300.0, refit_s=500.0).end_reserve == pytest.approx(90.0)  # 0.3·T cap
    assert Budget(start=0.0, total=300.0, refit_s=500.0).search_deadline == pytest.approx(210.0)
    assert Budget(start=0.0, total=300.0, importance_s=500.0).tail == pytest.approx(90.0)
