"""The zero-shot portfolio: the committed file is what its script selects, every entry builds, the search
tries them in order."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from automl.engine import AutoML, EngineError
from automl.engine.candidates import REGISTRY, TaskContext
from automl.engine.executor import LocalExecutor
from automl.engine.portfolio import KINDS, PORTFOLIO_FILE, portfolio
from automl.engine.preprocess import ColumnPlan
from automl.engine.search import Finished, Search
from automl.engine.task import METRICS
from automl.engine.validation import cv_folds, fit_fold

BENCH = Path(__file__).resolve().parents[3] / "bench"


def _ctx(kind: str) -> TaskContext:
    if kind == "classification":
        return TaskContext(problem_type="multiclass", n_classes=3, n_rows=800, n_features=4)
    return TaskContext(problem_type="regression", n_classes=0, n_rows=800, n_features=4)


def _script():  # noqa: ANN202 - bench/portfolio.py, the script that learns the portfolio
    sys.path.insert(0, str(BENCH))
    try:
        import portfolio as script
    finally:
        sys.path.remove(str(BENCH))
    return script


def test_the_committed_portfolio_is_what_the_script_selects_from_the_committed_scores() -> None:
    script = _script()
    results = json.loads(script.RESULTS.read_text())
    written = json.loads(PORTFOLIO_FILE.read_text())["portfolios"]
    for kind in KINDS:
        selected = [script.config_id(e["family"], e["params"]) for e in written[kind]]
        assert selected == script.select(results, kind)
        assert len(selected) >= 5


def _table(kind: str, n: int = 150) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    y = (X["a"] > 0).astype(int).to_numpy() + (X["b"] > 1) if kind == "classification" else X["a"].to_numpy()
    return X, np.asarray(y)


def test_selection_puts_a_fully_grown_forest_early_though_no_table_ranks_one_first() -> None:
    script = _script()
    boosters = [f'lightgbm {{"learning_rate": 0.1, "num_leaves": {n}}}' for n in (7, 15, 31, 63, 127)]
    forests = [f'random_forest {{"max_features": {f}, "min_samples_leaf": {leaf}, "n_estimators": 300}}'
               for f, leaf in (('"sqrt"', 1), ("1.0", 1), ('"sqrt"', 9))]
    rng = np.random.default_rng(0)
    results = {  # each booster best somewhere; the forests always last, the grown sqrt one best of them
        t: {**{c: {"kind": "regression", "loss": float(rng.uniform(1, 2)), "seconds": 1.0} for c in boosters},
            **{c: {"kind": "regression", "loss": 3.0 + i, "seconds": 1.0} for i, c in enumerate(forests)}}
        for t in (f"{n}:{c}" for n, c in script.tables(script.META))
    }
    chosen = script.select(results, "regression")
    assert [c for c in chosen if c.startswith("random_forest")] == [forests[0]]
    assert chosen.index(forests[0]) == script.FOREST_AT - 1
    for kind in KINDS:  # and the committed portfolios have one
        assert any(family == "random_forest" and params["min_samples_leaf"] == 1
                   for family, params in portfolio(kind)), kind


def test_selection_puts_a_linear_model_in_though_no_table_ranks_one_first() -> None:
    script = _script()
    boosters = [f'lightgbm {{"learning_rate": 0.1, "num_leaves": {n}}}' for n in (7, 15, 31, 63, 127)]
    linear = ["linear {}", 'ridge {"C": "cv"}']
    rng = np.random.default_rng(1)
    results = {  # each booster best somewhere; the linear models always after them, ridge the better one
        t: {**{c: {"kind": "classification", "loss": float(rng.uniform(1, 2)), "seconds": 1.0} for c in boosters},
            linear[0]: {"kind": "classification", "loss": 2.5, "seconds": 0.1},
            linear[1]: {"kind": "classification", "loss": 2.4, "seconds": 0.1}}
        for t in (f"{n}:{c}" for n, c in script.tables(script.META))
    }
    chosen = script.select(results, "classification")
    assert [c for c in chosen if c in linear] == [linear[1]]
    assert chosen.index(linear[1]) == script.LINEAR_AT - 1
    for kind in KINDS:  # and the committed portfolios have one
        assert any(REGISTRY[family].style == "linear" for family, _ in portfolio(kind)), kind


@pytest.mark.parametrize("kind", KINDS)
def test_every_entry_is_a_registered_family_that_fits_with_its_params(kind: str) -> None:
    entries = portfolio(kind)
    assert len(entries) >= 5, "a short portfolio leaves the search to tuning alone"
    assert len({family for family, _ in entries}) >= 3
    X, y = _table(kind)
    ctx, plan = _ctx(kind), ColumnPlan.from_kinds(X, {"a": "numeric", "b": "numeric"})
    fold = cv_folds(y, problem_type=ctx.problem_type, n_folds=3, seed=0)[0]
    for family, params in entries:
        res = fit_fold(REGISTRY[family], dict(params), ctx, plan, X, y, fold, index=0, deadline_at=time.time() + 60)
        assert np.isfinite(res.val_pred).all(), (family, params)


@pytest.mark.parametrize("kind", KINDS)
def test_the_search_proposes_the_portfolio_in_its_order_before_tuning(kind: str) -> None:
    X, y = _table(kind)
    ctx = _ctx(kind)
    problem = ctx.problem_type
    search = Search(
        ctx=ctx, plan=ColumnPlan.from_kinds(X, {"a": "numeric", "b": "numeric"}), X=X, y=y,
        folds=cv_folds(y, problem_type=problem, n_folds=3, seed=0),
        metric=METRICS["log_loss" if kind == "classification" else "rmse"],
        deadline=lambda: time.monotonic() + 100, on_finished=lambda f: None, should_stop=lambda: False,
        executor=LocalExecutor(1),
    )
    proposed = []
    while (proposal := search._propose()) is not None:
        cand, params, trial = proposal
        assert trial is None  # nothing finished yet: no tuning
        proposed.append((cand.name, params))
    assert proposed == [(f, dict(p)) for f, p in portfolio(kind)]


def test_when_the_best_families_no_longer_fit_the_search_tunes_the_best_one_that_does() -> None:
    X, y = _table("classification")
    ctx = _ctx("classification")
    search = Search(
        ctx=ctx, plan=ColumnPlan.from_kinds(X, {"a": "numeric", "b": "numeric"}), X=X, y=y,
        folds=cv_folds(y, problem_type=ctx.problem_type, n_folds=3, seed=0), metric=METRICS["log_loss"],
        deadline=lambda: time.monotonic() + 10, on_finished=lambda f: None, should_stop=lambda: False,
        executor=LocalExecutor(1), configurations=[],
    )
    for name, loss in (("lightgbm", 0.3), ("xgboost", 0.4), ("extra_trees", 0.5), ("ridge", 0.6)):
        search.finished.append(Finished(key=f"{name}_1", candidate=REGISTRY[name], params={}, cv_score=loss,
                                        oof=np.zeros((len(y), 3)), pipelines=[], fit_seconds=1.0))
    # seconds per fold seen so far: the two best families need 3 rounds of 100 s, 10 s are left
    search._fold_seconds = {"lightgbm": [100.0], "xgboost": [100.0], "extra_trees": [1.0], "ridge": [0.1]}
    cand, _, trial = search._propose()
    assert cand.name == "extra_trees" and trial is not None  # the best affordable one, not the cheapest
    search._fold_seconds["extra_trees"] = [100.0]
    assert not REGISTRY["ridge"].tunable  # its inner CV already chose its one parameter: trials would repeat it
    assert search._propose() is None  # nothing else fits: the search ends


def test_a_given_portfolio_is_tried_instead_and_unknown_families_are_refused() -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    df["y"] = df["a"] * 2 + rng.normal(size=300) * 0.1
    first = [("ridge", {"C": "cv"}), ("extra_trees", {"n_estimators": 50, "max_features": 1.0,
                                                       "min_samples_leaf": 2})]
    result = AutoML(time_budget_s=5, seed=0, portfolio=first, stacking=False).fit(df, "y")
    params = {m.key: m.params for m in result.leaderboard}
    assert params["ridge_1"] == {"C": "cv"} and params["extra_trees_1"]["n_estimators"] == 50
    with pytest.raises(EngineError, match="unknown model families"):
        AutoML(portfolio=[("no_such_family", {})])
