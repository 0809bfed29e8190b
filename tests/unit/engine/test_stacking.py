"""Stacking (engine/stacking.py): the layer corrects an ensemble where the raw features show it errs, is refused
where there is nothing to correct, and a stacked model serves, pickles and explains exactly like any other."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

import automl.engine.automl as engine_automl
from automl.engine import AutoML, FittedModel
from automl.engine.calibrate import Calibration
from automl.engine.candidates import REGISTRY, TaskContext
from automl.engine.executor import LocalExecutor
from automl.engine.preprocess import ColumnPlan
from automl.engine.stacking import StackCheck, check, fit_stack, from_margin, to_margin
from automl.engine.task import METRICS
from automl.engine.validation import cv_folds, fit_fold

KINDS = {"x1": "numeric", "x2": "numeric", "c": "categorical"}


def _table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                         "c": rng.choice(list("abcd"), n).astype(object)})


def _setup(X: pd.DataFrame, y: np.ndarray, problem_type: str, n_classes: int
           ) -> tuple[TaskContext, ColumnPlan, list[tuple[np.ndarray, np.ndarray]]]:
    ctx = TaskContext(problem_type=problem_type, n_classes=n_classes, n_rows=len(y) * 4 // 5, n_features=3)
    folds = cv_folds(y, problem_type=problem_type, n_folds=5, seed=0)
    return ctx, ColumnPlan.from_kinds(X, KINDS), folds


def _deadline() -> float:
    return time.time() + 60


@pytest.mark.parametrize("n_classes", [0, 2, 3])
def test_margins_round_trip(n_classes: int) -> None:
    rng = np.random.default_rng(1)
    pred = rng.normal(size=50) if n_classes == 0 else rng.dirichlet(np.ones(n_classes), size=50)
    assert np.allclose(from_margin(to_margin(pred, n_classes), n_classes), pred)


def test_the_layer_corrects_an_ensemble_that_ignores_a_column_and_is_adopted() -> None:
    X = _table(3000)
    truth = expit(1.5 * X["x1"] + np.where(X["c"] == "a", 2.0, -0.5))
    y = (np.random.default_rng(2).random(len(X)) < truth).astype(int)
    oof = expit(1.5 * X["x1"].to_numpy() + 0.1)  # an "ensemble" blind to c
    oof = np.column_stack([1 - oof, oof])
    ctx, plan, folds = _setup(X, y, "binary", 2)
    fitted = fit_stack(LocalExecutor(2), X, y, oof, ctx, plan, folds, deadline_at=_deadline())
    assert fitted is not None and min(fitted.rounds) > 10
    verdict = check(METRICS["log_loss"], y, oof, fitted.oof, folds)
    assert verdict.adopted and verdict.folds_better == 5
    assert verdict.cv_score < 0.9 * verdict.base_cv_score


def test_nothing_to_correct_is_refused() -> None:
    """The ensemble already gives the true probabilities: any gain the layer shows is noise, and is refused."""
    X = _table(3000, seed=3)
    truth = expit(X["x1"].to_numpy() - X["x2"].to_numpy())
    y = (np.random.default_rng(4).random(len(X)) < truth).astype(int)
    oof = np.column_stack([1 - truth, truth])
    ctx, plan, folds = _setup(X, y, "binary", 2)
    fitted = fit_stack(LocalExecutor(2), X, y, oof, ctx, plan, folds, deadline_at=_deadline())
    assert fitted is not None
    for metric in ("log_loss", "roc_auc"):
        assert not check(METRICS[metric], y, oof, fitted.oof, folds).adopted


def test_a_gain_on_too_few_folds_is_refused() -> None:
    y = np.tile([0, 1], 50)
    folds = cv_folds(y, problem_type="binary", n_folds=5, seed=0)
    base = np.full((100, 2), 0.5)
    stacked = base.copy()
    for _, val in folds[:2]:  # much better on two folds, slightly worse on the other three
        stacked[val] = np.column_stack([1 - y[val], y[val]]) * 0.8 + 0.1
    for _, val in folds[2:]:
        stacked[val] = np.column_stack([0.5 + 0.02 * (2 * y[val] - 1), 0.5 - 0.02 * (2 * y[val] - 1)])
    verdict = check(METRICS["log_loss"], y, base, stacked, folds)
    assert verdict.cv_score < verdict.base_cv_score and verdict.folds_better == 2 and not verdict.adopted


def _stacked_model(problem_type: str, n_classes: int) -> tuple[FittedModel, pd.DataFrame]:
    X = _table(1500, seed=5)
    signal = X["x1"].to_numpy() + np.where(X["c"] == "b", 1.5, 0.0)
    if n_classes == 0:
        y = signal + 0.3 * np.random.default_rng(6).normal(size=len(X))
    else:
        y = np.digitize(signal + 0.5 * np.random.default_rng(6).normal(size=len(X)),
                        np.quantile(signal, np.linspace(0, 1, n_classes + 1)[1:-1]))
    ctx, plan, folds = _setup(X, y, problem_type, n_classes)
    members, oof = [], np.zeros((len(y), n_classes)) if n_classes else np.zeros(len(y))
    for family, weight in (("lightgbm", 0.6), ("extra_trees", 0.4)):
        cand = REGISTRY[family]
        for i, fold in enumerate(folds):
            res = fit_fold(cand, cand.portfolio(ctx)[0], ctx, plan, X, y, fold, index=i, deadline_at=_deadline())
            members.append((res.pipeline, weight / len(folds)))
            oof[fold[1]] += weight * res.val_pred
    fitted = fit_stack(LocalExecutor(2), X, y, oof, ctx, plan, folds, deadline_at=_deadline())
    assert fitted is not None
    classes = None if n_classes == 0 else np.asarray([f"k{i}" for i in range(n_classes)], dtype=object)
    model = FittedModel(algorithm="stacked_ensemble", problem_type=problem_type, classes=classes, kinds=KINDS,
                        input_schema=[], members=members)
    model.stack = fitted.stack
    return model, X.iloc[:200]


@pytest.mark.parametrize(("problem_type", "n_classes"), [("regression", 0), ("binary", 2), ("multiclass", 3)])
def test_a_stacked_model_serves_pickles_and_explains_exactly(problem_type: str, n_classes: int) -> None:
    model, X = _stacked_model(problem_type, n_classes)
    plain = FittedModel(algorithm="e", problem_type=problem_type, classes=model.classes_, kinds=KINDS,
                        input_schema=[], members=model.members)
    served = model.predict(X) if n_classes == 0 else model.predict_proba(X).to_numpy()
    members = plain.predict(X) if n_classes == 0 else plain.predict_proba(X).to_numpy()
    assert not np.allclose(served, members)  # the layer moved the predictions
    assert np.allclose(served, model.stack.apply(members, X))
    again = pickle.loads(pickle.dumps(model))
    assert np.array_equal(again.predict(X), model.predict(X))
    calibrations = [None] if n_classes == 0 else [None, Calibration("temperature", temperature=1.4)]
    for calibration in calibrations:
        model.calibration = calibration
        out = model.predict(X) if n_classes == 0 else model.predict_proba(X).to_numpy()
        e = model.explain(X)
        total = e.base + e.values.sum(axis=1)
        if n_classes == 0:
            assert np.allclose(total, out, atol=1e-6)
        else:
            explained = np.searchsorted(model.classes_, e.explained)
            assert np.array_equal(explained, out.argmax(axis=1))
            assert np.allclose(total, out[np.arange(len(X)), explained], atol=1e-6)
            e1 = model.explain(X, classes=[model.classes_[0]] * len(X))  # a class other than the top one
            assert np.allclose(e1.base + e1.values.sum(axis=1), out[:, 0], atol=1e-6)


def _forced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Adopt the layer whatever its check says: what follows adoption is under test, not the check."""
    def adopt(*args: object) -> StackCheck:
        verdict = real(*args)
        return StackCheck(True, verdict.cv_score, verdict.base_cv_score, verdict.folds_better, verdict.n_folds)

    real = engine_automl.check
    monkeypatch.setattr(engine_automl, "check", adopt)


@pytest.mark.parametrize("holdout", ["none", 0.2])
def test_an_adopted_layer_is_a_leaderboard_model_with_its_own_figures(monkeypatch: pytest.MonkeyPatch,
                                                                      holdout: str | float) -> None:
    _forced(monkeypatch)
    X = _table(1200, seed=7)
    X["y"] = np.where(X["x1"] + np.where(X["c"] == "a", 1.0, 0.0) > 0.3, "yes", "no")
    # at 12 s the layer's time gate was chance: 0.05-1 s left for a 0.5-1 s layer
    result = AutoML(time_budget_s=20, seed=0, holdout=holdout).fit(X, "y", kinds=KINDS)
    assert result.summary["stacking"]["adopted"] is True, result.summary["stacking"]
    models = {m.key: m for m in result.leaderboard}
    stack, ensemble = models["stack"], models["ensemble"]
    assert stack.algorithm == "stacked_ensemble" and stack.is_ensemble
    assert stack.model.stack is not None and ensemble.model.stack is None
    assert stack.params["stacking"]["rounds"] and stack.params["served"] == ensemble.params["served"]
    assert stack.metrics != ensemble.metrics  # its own predictions were scored
    assert result.best.feature_importance
    rows = X.drop(columns="y").iloc[:50]
    e = stack.model.explain(rows)
    proba = stack.model.predict_proba(rows).to_numpy()
    assert np.allclose(e.base + e.values.sum(axis=1), proba.max(axis=1), atol=1e-6)
    assert stack.model.compile_fast() and stack.model.fast_stack is not None  # the layer is compiled too
    assert np.allclose(stack.model.predict_proba(rows).to_numpy(), proba, atol=1e-6)
    assert pickle.loads(pickle.dumps(stack.model)).fast_stack is None  # derived: rebuilt on load


def test_stacking_off_is_recorded() -> None:
    X = _table(600, seed=8)
    X["y"] = X["x1"] * 2 + X["x2"]
    result = AutoML(time_budget_s=6, seed=0, stacking=False).fit(X, "y", kinds=KINDS)
    assert result.summary["stacking"] == {"adopted": False, "skipped": "off"}
    assert "stack" not in {m.key for m in result.leaderboard}
