"""Per-row explanations: base + contributions is the model's raw output for every family, bag and ensemble, in
the uploaded columns, with encoded columns summed back to the column each came from."""

from __future__ import annotations

import copy
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.pipeline import Pipeline

from automl.engine import EngineError, FittedModel
from automl.engine.calibrate import Calibration
from automl.engine.candidates import REGISTRY, TaskContext
from automl.engine.dataprep import prepare
from automl.engine.kinds import coerce_frame
from automl.engine.preprocess import ColumnPlan, build_preprocessor
from automl.engine.shapley import source_map
from automl.ingest import column_kinds

TARGETS = ("label", "three", "amount")  # binary, multiclass, regression
FAMILIES = sorted(REGISTRY)
NOISE = ("x_str", "city", "flag", "when", "review")  # `three` and `amount` depend on x and color only
_cache: dict[tuple[str, tuple[str, ...], tuple[float, ...]], tuple[FittedModel, pd.DataFrame]] = {}


@pytest.fixture(scope="module")
def frame(mixed: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    df = mixed.copy()
    x = np.nan_to_num(df["x"].to_numpy())
    red = (df["color"] == "red").to_numpy()
    df["three"] = np.where(x > 0.5, "hi", np.where(red, "red", "lo"))
    df["amount"] = 3 * x + 2 * red + rng.normal(size=len(df)) * 0.1
    return df


def fitted(df: pd.DataFrame, target: str, families: tuple[str, ...],
           weights: tuple[float, ...] | None = None) -> tuple[FittedModel, pd.DataFrame]:
    """A FittedModel whose members are the given families fitted once each (a family named twice is a bag of
    two fits on different halves of the rows); returns it and its input columns."""
    weights = weights or (1.0,) * len(families)
    key = (target, families, weights)
    if key in _cache:
        return _cache[key]
    X = df.drop(columns=[c for c in TARGETS if c != target])
    data = prepare(X, target, features=None, problem_type="auto", metric="auto", seed=0, kinds=column_kinds(X))
    ctx = TaskContext(problem_type=data.problem_type, n_classes=0 if data.classes is None else len(data.classes),
                      n_rows=len(data.y), n_features=data.X.shape[1], n_jobs=1)
    plan = ColumnPlan.from_kinds(data.X, data.kinds)
    members = []
    for i, name in enumerate(families):
        rows = np.arange(len(data.y)) if families.count(name) == 1 else np.arange(i % 2, len(data.y), 2)
        cand = REGISTRY[name]
        prep = build_preprocessor(plan, cand.style, target_type=ctx.target_type, n_rows=len(rows))
        Xt = prep.fit_transform(data.X.iloc[rows], data.y[rows])
        est = cand.estimator(cand.portfolio(ctx)[0], ctx)
        if hasattr(est, "n_estimators") and name not in ("lightgbm", "xgboost"):
            est.set_params(n_estimators=20)
        if name == "catboost":
            est.set_params(iterations=150)
        est = cand.fit(est, Xt, data.y[rows], X_val=Xt[:100], y_val=data.y[rows][:100],
                       deadline=time.monotonic() + 60)
        members.append((Pipeline([("prep", prep), ("model", est)]), weights[i]))
    model = FittedModel(algorithm="test", problem_type=data.problem_type, classes=data.classes, kinds=data.kinds,
                        input_schema=data.input_schema, members=members)
    _cache[key] = (model, X.drop(columns=[target]))
    return _cache[key]


def _rows(X: pd.DataFrame) -> pd.DataFrame:
    """Real rows, a row of nulls, and unseen categories and words."""
    rows = X.sample(30, random_state=3).astype(object)
    odd = rows.head(2).copy()
    odd.iloc[0] = None
    odd.loc[odd.index[1], ["color", "city", "flag", "review"]] = "never-seen-value"
    return pd.concat([rows, odd], ignore_index=True)


def _output(model: FittedModel, rows: pd.DataFrame, explained: np.ndarray | None) -> np.ndarray:
    raw = model.predict_raw(coerce_frame(rows, model.kinds))
    if explained is None:
        return raw
    position = {c: i for i, c in enumerate(model.classes_)}
    return raw[np.arange(len(rows)), [position[c] for c in explained]]


def _tolerance(model: FittedModel, explanation: object) -> float:
    """1e-6; XGBoost predicts in float32, so its own prediction is only that precise relative to its terms."""
    if not any(type(p[-1]).__module__.startswith("xgboost") for p, _ in model.members):
        return 1e-6
    scale = np.abs(explanation.base).max() + np.abs(explanation.values).sum(axis=1).max()
    return max(1e-6, 16 * float(np.finfo(np.float32).eps) * scale)


def _check_sums(model: FittedModel, rows: pd.DataFrame) -> None:
    e = model.explain(rows)
    assert e.columns == list(model.feature_names_in_)
    assert e.values.shape == (len(rows), len(e.columns)) and e.base.shape == (len(rows),)
    assert e.space == ("prediction" if model.classes_ is None else "probability")
    total = e.base + e.values.sum(axis=1)
    np.testing.assert_allclose(total, _output(model, rows, e.explained), rtol=0, atol=_tolerance(model, e))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("family", FAMILIES)
def test_contributions_sum_to_the_output(frame: pd.DataFrame, family: str, target: str) -> None:
    model, X = fitted(frame, target, (family,))
    _check_sums(model, _rows(X))
    e = model.explain(_rows(X))
    if model.classes_ is not None:  # the most probable class, by default
        np.testing.assert_array_equal(e.explained, model.classes_[model.predict_raw(
            coerce_frame(_rows(X), model.kinds)).argmax(axis=1)])


@pytest.mark.parametrize("target", TARGETS)
def test_ensemble_and_bag_are_weighted_sums(frame: pd.DataFrame, target: str) -> None:
    families = tuple(FAMILIES)
    ensemble, X = fitted(frame, target, families, tuple(float(i + 1) for i in range(len(families))))
    _check_sums(ensemble, _rows(X))
    bag, _ = fitted(frame, target, ("lightgbm", "lightgbm"))
    _check_sums(bag, _rows(X))
    # the ensemble's explanation is its members' weighted sum, member by member
    rows = _rows(X)
    e = ensemble.explain(rows)
    parts = [FittedModel(algorithm="m", problem_type=ensemble.problem_type, classes=ensemble.classes_,
                         kinds=ensemble.kinds, input_schema=ensemble.input_schema, members=[(p, 1.0)]).explain(
        rows, classes=e.explained) for p, _ in ensemble.members]
    weights = [w for _, w in ensemble.members]
    np.testing.assert_allclose(e.values, sum(w * p.values for w, p in zip(weights, parts, strict=True)), atol=1e-9)
    np.testing.assert_allclose(e.base, sum(w * p.base for w, p in zip(weights, parts, strict=True)), atol=1e-9)


@pytest.mark.parametrize("family", FAMILIES)
def test_columns_that_do_not_matter_get_almost_nothing(frame: pd.DataFrame, family: str) -> None:
    model, X = fitted(frame, "amount", (family,))
    e = model.explain(X.sample(200, random_state=4))
    mean = dict(zip(e.columns, np.abs(e.values).mean(axis=0), strict=True))
    assert {"row_id", "const"}.isdisjoint(e.columns)  # not model inputs (an id, a constant)
    for column in NOISE:
        assert mean[column] < 0.1 * mean["x"], (column, mean)


def test_a_chosen_class_is_explained(frame: pd.DataFrame) -> None:
    model, X = fitted(frame, "three", ("lightgbm", "random_forest"))
    rows = _rows(X)
    raw = model.predict_raw(coerce_frame(rows, model.kinds))
    for k, label in enumerate(model.classes_):
        e = model.explain(rows, classes=[label] * len(rows))
        assert list(e.explained) == [label] * len(rows)
        np.testing.assert_allclose(e.base + e.values.sum(axis=1), raw[:, k], atol=1e-6)
    with pytest.raises(EngineError, match="not one of the model's classes"):
        model.explain(rows.head(1), classes=["nope"])
    with pytest.raises(EngineError, match="classes given"):
        model.explain(rows.head(2), classes=["hi"])


def test_encoded_columns_go_back_to_their_own_column() -> None:
    """Column names that prefix each other's encoded names ('c' and 'c_a'), missing indicators, datetime parts,
    multiclass target encodings: each encoded column belongs to the input column it was built from."""
    rng = np.random.default_rng(2)
    n = 300
    X = pd.DataFrame({
        "c": rng.choice(["a", "b", "a_b"], n), "c_a": rng.choice(["b", "x"], n), "n": rng.normal(size=n),
        "hi": rng.choice([f"v{i}" for i in range(40)], n),
        "d": pd.Series(pd.date_range("2020-01-01", periods=n, freq="h")).astype("datetime64[ns]"),
    })
    X.loc[::7, "n"] = np.nan
    kinds = {"c": "categorical", "c_a": "categorical", "n": "numeric", "hi": "categorical", "d": "datetime"}
    plan = ColumnPlan.from_kinds(X, kinds)
    y = rng.integers(0, 3, n)
    ct = build_preprocessor(plan, "linear", target_type="multiclass", n_rows=n).fit(X, y)
    columns = ["n", "c", "c_a", "hi", "d"]
    mapping = source_map(ct, columns)
    assert mapping.shape == (ct.transform(X).shape[1], len(columns))
    np.testing.assert_array_equal(mapping.sum(axis=1), 1.0)  # each encoded column has exactly one source
    widths = dict(zip(columns, mapping.sum(axis=0).astype(int), strict=True))
    assert widths == {"n": 2, "c": 3, "c_a": 2, "hi": 3, "d": 5}  # value + indicator; levels; classes; parts


def test_a_large_data_model_is_explained(frame: pd.DataFrame) -> None:
    """The large-data path's member (LargePreprocessor, then a local LightGBM) sums back too."""
    import lightgbm as lgb
    from sklearn.compose import ColumnTransformer

    from automl.engine.largeprep import LargePreprocessor

    kinds = {"x": "numeric", "when": "datetime", "color": "categorical", "city": "categorical"}
    X = coerce_frame(frame, kinds)
    prep = LargePreprocessor(numeric=["x"], datetime=["when"], categories={
        c: [str(v) for v in X[c].value_counts().index] for c in ("color", "city")}).fit()
    ct = ColumnTransformer([("large", prep, list(kinds))], remainder="drop", sparse_threshold=0.0).fit(X)
    y = (frame["label"] == "stay").to_numpy(dtype=int)  # classes_ order: churn 0, stay 1
    est = lgb.LGBMClassifier(n_estimators=30, verbose=-1).fit(ct.transform(X), y,
                                                              categorical_feature=prep.categorical_indices)
    model = FittedModel(algorithm="lightgbm", problem_type="binary", classes=np.array(["churn", "stay"]),
                        kinds=kinds, input_schema=[], members=[(Pipeline([("prep", ct), ("model", est)]), 1.0)])
    rows = frame[list(kinds)].sample(40, random_state=5)
    e = model.explain(rows)
    assert e.columns == list(kinds)
    np.testing.assert_allclose(e.base + e.values.sum(axis=1), _output(model, rows, e.explained), atol=1e-6)
    assert np.abs(e.values[:, 1]).sum() > 0  # the datetime's five parts land on `when`


def _isotonic() -> Calibration:
    p = np.linspace(0, 1, 400)
    return Calibration("isotonic", isotonic=IsotonicRegression(out_of_bounds="clip").fit(p, np.sqrt(p) > 0.6))


@pytest.mark.parametrize(("target", "families", "calibration"), [
    ("label", ("lightgbm",), Calibration("temperature", temperature=1.8)),  # margins, binary
    ("label", ("random_forest", "linear"), _isotonic()),  # probabilities and margins, isotonic steps
    ("three", ("xgboost", "extra_trees"), Calibration("temperature", temperature=0.6)),  # softmax path
])
def test_a_calibrated_model_explains_what_it_serves(frame: pd.DataFrame, target: str, families: tuple[str, ...],
                                                    calibration: Calibration) -> None:
    model, X = fitted(frame, target, families)
    calibrated = copy.copy(model)
    calibrated.calibration = calibration
    rows = _rows(X)
    _check_sums(calibrated, rows)  # base + sum = the served, calibrated probability of the explained class
    served = calibrated.predict_proba(rows).to_numpy()
    assert not np.allclose(served, model.predict_proba(rows).to_numpy())
    e, plain = calibrated.explain(rows), model.explain(rows)
    np.testing.assert_array_equal(e.explained, calibrated.classes_[served.argmax(axis=1)])
    assert not np.allclose(e.values, plain.values)
    other = np.where(e.explained == calibrated.classes_[0], calibrated.classes_[1], calibrated.classes_[0])
    chosen = calibrated.explain(rows, classes=other)
    position = {c: i for i, c in enumerate(calibrated.classes_)}
    np.testing.assert_allclose(chosen.base + chosen.values.sum(axis=1),
                               served[np.arange(len(rows)), [position[c] for c in other]], atol=1e-6)
