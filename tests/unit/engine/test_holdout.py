"""The holdout choice: a fraction held out, none (every row trains, figures out of fold), or auto by row count."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import DecisionTreeClassifier

import automl.engine.validation as validation
from automl.engine import AutoML, EngineError, FittedModel
from automl.engine.dataprep import prepare
from automl.engine.evaluate import Holdout, importance, oof_importance
from automl.engine.explain import permutation_importance
from automl.engine.holdout import AUTO_FRACTION, AUTO_MIN_ROWS, resolve_holdout, split
from automl.engine.task import METRICS


class _FoldSpy:
    """Records the rows each fold fit gets (the search's frame and the fold's train/validation positions)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.frames: set[int] = set()
        self.folds: list[tuple[np.ndarray, np.ndarray]] = []
        real = validation.fit_fold

        def spy(candidate, params, ctx, plan, X, y, fold, **kwargs):  # type: ignore[no-untyped-def]
            self.frames.add(len(X))
            self.folds.append(fold)
            return real(candidate, params, ctx, plan, X, y, fold, **kwargs)

        monkeypatch.setattr(validation, "fit_fold", spy)


def test_none_trains_on_every_row_and_reports_out_of_fold_figures(
    breast_cancer: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = _FoldSpy(monkeypatch)
    r = AutoML(time_budget_s=6, holdout="none", seed=0).fit(breast_cancer, "target")
    n = len(breast_cancer)
    assert spy.frames == {n}  # the search's folds cover all 569 rows, none held back
    assert all(np.array_equal(np.sort(np.concatenate(f)), np.arange(n)) for f in spy.folds)
    s = r.summary
    assert (s["holdout"], s["evaluation"], s["n_train"], s["n_test"]) == ("none", "out_of_fold", n, 0)
    assert s["evaluation_rows"] == list(range(n))  # insights sample every row (all of them, under 2,000)
    for m in r.leaderboard:  # the figures are the OOF predictions: the holdout ROC AUC is the CV score
        assert m.metrics["roc_auc"] == pytest.approx(m.cv_score, abs=1e-6), m.key
        assert m.plots["roc"]["auc"] == pytest.approx(m.cv_score, abs=1e-6)
        assert np.sum(m.plots["confusion_matrix"]["matrix"]) == n  # every row, predicted out of fold
    assert r.best.feature_importance and {f["feature"] for f in r.best.feature_importance} <= set(breast_cancer)


def test_a_fraction_holds_that_share_out(breast_cancer: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = _FoldSpy(monkeypatch)
    r = AutoML(time_budget_s=4, holdout=0.3, seed=0).fit(breast_cancer, "target")
    s = r.summary
    assert (s["holdout"], s["evaluation"], s["n_test"]) == (0.3, "holdout", 171)
    assert spy.frames == {len(breast_cancer) - 171} and len(s["evaluation_rows"]) == 171
    assert np.sum(r.best.plots["confusion_matrix"]["matrix"]) == 171


def test_the_refit_is_planned_for_the_rows_it_trains_on(breast_cancer: pd.DataFrame) -> None:
    data = prepare(breast_cancer, "target", features=None, problem_type="auto", metric="auto", seed=0)
    held = split(data, 0.3, seed=0)
    assert len(held.refit_rows()[1]) == len(breast_cancer)  # the holdout's rows are refitted on too
    assert held.refit_scale == pytest.approx(len(breast_cancer) / len(held.y))
    assert split(data, "none", seed=0).refit_scale == 1.0


def test_auto_holds_none_out_on_a_small_table_and_a_fifth_on_a_large_one(breast_cancer: pd.DataFrame) -> None:
    assert resolve_holdout("auto", AUTO_MIN_ROWS - 1) is None
    assert resolve_holdout("auto", AUTO_MIN_ROWS) == AUTO_FRACTION == 0.2
    assert resolve_holdout(0.1, 50) == 0.1 and resolve_holdout("none", 10**6) is None
    small = AutoML(time_budget_s=3, seed=0).fit(breast_cancer, "target")
    assert (small.summary["holdout"], small.summary["evaluation"]) == ("none", "out_of_fold")
    rng = np.random.default_rng(0)
    n = AUTO_MIN_ROWS + 500
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    df["y"] = (df["a"] + rng.normal(size=n) > 0).astype(int)
    large = AutoML(time_budget_s=3, seed=0).fit(df, "y")
    assert (large.summary["holdout"], large.summary["evaluation"]) == (0.2, "holdout")
    assert large.summary["n_test"] == n // 5


@pytest.mark.parametrize("bad", [0, 0.5, 0.7, -0.1, True, "half", "", None, "0.2"])
def test_other_holdout_values_are_refused(bad: object) -> None:
    with pytest.raises(EngineError, match="holdout"):
        AutoML(holdout=bad)  # type: ignore[arg-type]


def test_out_of_fold_importance_uses_only_rows_each_fold_model_did_not_train_on() -> None:
    """Fully grown trees on noise memorise their training rows: shuffling a column there costs accuracy, on
    rows they never saw it costs nothing. Importance out of fold must see the second."""
    rng = np.random.default_rng(0)
    n = 1000
    X = pd.DataFrame({f"noise{i}": rng.normal(size=n) for i in range(4)})
    y = rng.integers(0, 2, n)
    folds = validation.cv_folds(y, problem_type="binary", n_folds=5, seed=0)
    models = []
    for train, _ in folds:
        tree = DecisionTreeClassifier(random_state=0).fit(X.iloc[train], y[train])
        models.append(FittedModel(algorithm="tree", problem_type="binary", classes=np.array([0, 1]),
                                  kinds={c: "numeric" for c in X}, input_schema=[],
                                  members=[(Pipeline([("prep", FunctionTransformer()), ("model", tree)]), 1.0)]))
    rows = Holdout(X=X, X_raw=X, y=y, metric=METRICS["accuracy"], problem_type="binary",
                   classes=np.array([0, 1]), seed=0)
    honest = oof_importance(models, folds, rows, seconds=30, ms_per_row=0.01, required=True)
    assert len(honest) == 4 and all(abs(f["importance"]) < 0.06 for f in honest), honest
    train0 = folds[0][0]  # the same measure on a fold model's own training rows: large drops
    seen = permutation_importance(models[0].predict_raw, X.iloc[train0], y[train0], METRICS["accuracy"])
    assert min(f["importance"] for f in seen) > 0.1, seen


class _Slow(FunctionTransformer):
    """A preprocessing step that costs 0.5 ms a row: a model far slower than its ranked timing said."""

    def transform(self, X):  # noqa: ANN001, ANN201
        time.sleep(0.0005 * len(X))
        return X


def test_importance_keeps_to_its_seconds_when_the_model_predicts_slower_than_it_was_timed() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({f"x{i}": rng.normal(size=2000) for i in range(5)})
    y = (X["x0"] > 0).astype(int).to_numpy()
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    model = FittedModel(algorithm="tree", problem_type="binary", classes=np.array([0, 1]),
                        kinds={c: "numeric" for c in X}, input_schema=[],
                        members=[(Pipeline([("prep", _Slow()), ("model", tree)]), 1.0)])
    rows = Holdout(X=X, X_raw=X, y=y, metric=METRICS["accuracy"], problem_type="binary",
                   classes=np.array([0, 1]), seed=0)
    start = time.monotonic()
    # timed at 0.001 ms a row, 2,000 rows x (1 + 5 columns) would take 6 s; a probe sizes it to the 1 s given
    found = importance(model, rows, seconds=1.0, ms_per_row=0.001, required=True)
    assert time.monotonic() - start < 1.6
    assert found[0]["feature"] == "x0" and found[0]["importance"] > 0.1, found
