"""Calibration and the binary decision threshold, chosen on out-of-fold predictions by cross-fitting
(engine/calibrate.py), and how the fitted, served, pickled model carries them."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, softmax
from sklearn.ensemble import RandomForestClassifier

from automl.engine import AutoML, FitResult, FittedModel
from automl.engine import calibrate as cal
from automl.engine.kinds import coerce_frame
from automl.engine.task import METRICS
from automl.engine.validation import cv_folds
from automl.ingest import column_kinds
from automl.serving.predict import outputs


def _binary(n: int, *, scale: float = 1.0, shift: float = 0.0, bias: float = 0.0, seed: int = 0,
            ) -> tuple[np.ndarray, np.ndarray]:
    """OOF-like probabilities sigmoid(scale * z + shift) of labels drawn from sigmoid(z + bias)."""
    rng = np.random.default_rng(seed)
    z = 1.5 * rng.normal(size=n)
    y = (rng.random(n) < expit(z + bias)).astype(int)
    p = expit(scale * (z + bias) + shift)
    return np.column_stack([1 - p, p]), y


def _choose(raw: np.ndarray, y: np.ndarray, metric: str, problem_type: str = "binary") -> cal.Choice:
    folds = cv_folds(y, problem_type=problem_type, n_folds=5, seed=0)
    return cal.choose(raw, y, folds, METRICS[metric], problem_type)


def test_temperature_adopted_on_overconfident_probabilities() -> None:
    raw, y = _binary(900, scale=3.0)  # under ISOTONIC_MIN_ROWS: temperature only
    choice = _choose(raw, y, "log_loss")
    assert choice.calibration is not None and choice.calibration.method == "temperature"
    assert 2.4 < choice.calibration.temperature < 3.8
    record = choice.params["calibration"]
    assert record["cv_log_loss_after"] < record["cv_log_loss_before"]
    assert record["cv_log_loss_after"] == pytest.approx(METRICS["log_loss"](y, choice.oof), abs=1e-6)
    assert choice.threshold is None  # not a label metric


def test_calibrated_probabilities_are_left_alone() -> None:
    raw, y = _binary(3000)
    choice = _choose(raw, y, "log_loss")
    assert choice.calibration is None and choice.params == {} and not choice.adopted
    assert choice.oof is raw


def test_overconfident_random_forest_is_calibrated() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1500, 6))
    y = (rng.random(1500) < expit(X[:, 0] + X[:, 1])).astype(int)  # noisy labels: leaves of one row memorise
    folds = cv_folds(y, problem_type="binary", n_folds=5, seed=0)
    oof = np.zeros((len(y), 2))
    for train, val in folds:
        rf = RandomForestClassifier(n_estimators=30, min_samples_leaf=1, random_state=0, n_jobs=1)
        oof[val] = rf.fit(X[train], y[train]).predict_proba(X[val])
    choice = cal.choose(oof, y, folds, METRICS["log_loss"], "binary")
    assert choice.calibration is not None
    assert METRICS["log_loss"](y, choice.oof) < 0.99 * METRICS["log_loss"](y, oof)


def test_isotonic_fixes_what_a_temperature_cannot() -> None:
    raw, y = _binary(4000)
    raw = np.column_stack([1 - raw[:, 1] ** 0.25, raw[:, 1] ** 0.25])  # monotone, but not a rescaled logit
    choice = _choose(raw, y, "log_loss")
    assert choice.calibration is not None and choice.calibration.method == "isotonic"
    served = choice.calibration.apply(raw)
    assert served.min() >= cal.ISOTONIC_EPS and np.allclose(served.sum(axis=1), 1)
    assert choice.params["calibration"]["method"] == "isotonic"


def test_multiclass_gets_a_temperature() -> None:
    rng = np.random.default_rng(1)
    logits = 1.5 * rng.normal(size=(2000, 3))
    y = np.array([rng.choice(3, p=p) for p in softmax(logits, axis=1)])
    choice = _choose(softmax(2.5 * logits, axis=1), y, "log_loss", "multiclass")
    assert choice.calibration is not None and choice.calibration.method == "temperature"
    assert choice.threshold is None


@pytest.mark.parametrize("name", sorted(cal.LABEL_METRICS))
def test_grid_scores_are_the_metric(name: str) -> None:
    raw, y = _binary(500, shift=-0.7, bias=-1.5, seed=2)
    expected = [METRICS[name](y, cal.labels(raw, t)) for t in cal.GRID]
    np.testing.assert_allclose(cal.grid_scores(name, raw[:, 1], y), expected, atol=1e-12)


def test_threshold_under_label_metrics_only() -> None:
    raw, y = _binary(900, bias=-2.0, shift=-1.5)  # ~18 % positive, probabilities biased low
    for name in ("accuracy", "f1_macro"):
        choice = _choose(raw, y, name)
        assert choice.threshold is not None and choice.threshold < 0.5, name
        record = choice.params["threshold"]
        assert record["value"] == choice.threshold and record["cv_after"] > record["cv_before"]
        assert record["cv_after"] == pytest.approx(METRICS[name](y, choice.oof_labels), abs=1e-6)
    for name in ("roc_auc", "log_loss"):
        assert _choose(raw, y, name).threshold is None


@pytest.fixture(scope="module")
def imbalanced() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 800
    X = rng.normal(size=(n, 5))
    y = rng.random(n) < expit(1.2 * X[:, 0] + X[:, 1] - 2.2)
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(5)]).assign(y=np.where(y, "yes", "no"))


@pytest.fixture(scope="module")
def fitted(imbalanced: pd.DataFrame) -> FitResult:
    return AutoML(time_budget_s=8, metric="f1_macro", holdout="none").fit(
        imbalanced, "y", kinds=column_kinds(imbalanced))


def test_fit_serves_the_calibration_and_threshold(fitted: FitResult, imbalanced: pd.DataFrame) -> None:
    chosen = [m for m in fitted.leaderboard if "threshold" in m.params]
    assert chosen, [m.params for m in fitted.leaderboard]
    for m in chosen:  # out of fold, the figures are those of the cross-fitted OOF
        assert m.cv_score == pytest.approx(m.params["threshold"]["cv_after"], abs=1e-6)
        assert m.metrics["f1_macro"] == pytest.approx(m.cv_score, abs=1e-6)
    model = chosen[0].model
    X = imbalanced.drop(columns="y")
    members = model._members_raw(coerce_frame(X, model.kinds))
    proba = model.predict_proba(X).to_numpy()
    expected = members if model.calibration is None else model.calibration.apply(members)
    np.testing.assert_allclose(proba, expected, atol=1e-12)
    served = model.predict(X)
    np.testing.assert_array_equal(served, np.where(proba[:, 1] >= model.threshold, model.classes_[1],
                                                   model.classes_[0]))
    assert (served != model.classes_[proba.argmax(axis=1)]).any()
    assert model.compile_fast()  # verified on the uncalibrated outputs; serves the same calibrated ones
    np.testing.assert_allclose(model.predict_proba(X).to_numpy(), proba, atol=1e-6)
    labels, _ = outputs(model, X, probabilities=False)
    np.testing.assert_array_equal(labels, served)
    deployed, _ = outputs(model, X, probabilities=False, threshold=0.5)  # a deploy-time threshold overrides
    np.testing.assert_array_equal(deployed, np.where(proba[:, 1] >= 0.5, model.classes_[1], model.classes_[0]))


def test_calibrate_off_adopts_nothing(fitted: FitResult, imbalanced: pd.DataFrame) -> None:
    assert any("threshold" in m.params for m in fitted.leaderboard)  # what the default adopts on this table
    off = AutoML(time_budget_s=8, metric="f1_macro", holdout="none", calibrate=False).fit(
        imbalanced, "y", kinds=column_kinds(imbalanced))
    for m in off.leaderboard:
        assert "threshold" not in m.params and "calibration" not in m.params
        assert m.model.calibration is None and m.model.threshold is None


def test_pickled_model_keeps_both(fitted: FitResult, imbalanced: pd.DataFrame) -> None:
    model = next(m.model for m in fitted.leaderboard if "threshold" in m.params)
    loaded = pickle.loads(pickle.dumps(model))
    assert loaded.threshold == model.threshold
    X = imbalanced.drop(columns="y")
    np.testing.assert_allclose(loaded.predict_proba(X).to_numpy(), model.predict_proba(X).to_numpy())
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_model_from_before_calibration_still_predicts(fitted: FitResult, imbalanced: pd.DataFrame) -> None:
    model = next(m.model for m in fitted.leaderboard if "threshold" in m.params)
    state = {k: v for k, v in model.__getstate__().items() if k not in ("calibration", "threshold")}
    old = FittedModel.__new__(FittedModel)
    old.__dict__.update(state)  # what unpickling an artifact written before calibration gives
    assert old.calibration is None and old.threshold is None
    X = imbalanced.drop(columns="y")
    raw = old.predict_proba(X).to_numpy()
    np.testing.assert_allclose(raw, model._members_raw(coerce_frame(X, model.kinds)))
    np.testing.assert_array_equal(old.predict(X), old.classes_[raw.argmax(axis=1)])
