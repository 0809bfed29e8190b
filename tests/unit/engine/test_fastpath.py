"""The compiled fast path must give the regular path's predictions for every candidate family and style."""

from __future__ import annotations

import time

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from automl.engine import FittedModel, load_model, save_model
from automl.engine.artifacts import file_sha256
from automl.engine.candidates import REGISTRY, TaskContext, compile_fitted, register
from automl.engine.dataprep import prepare
from automl.engine.fastpath import compile_verified, synthetic_rows
from automl.engine.kinds import coerce_arrays, coerce_frame
from automl.engine.preprocess import ColumnPlan, build_preprocessor
from automl.ingest import column_kinds


def _fitted(df: pd.DataFrame, target: str, families: list[str], problem_type: str = "auto") -> FittedModel:
    data = prepare(df, target, features=None, problem_type=problem_type, metric="auto", seed=0,
                   kinds=column_kinds(df))  # as the platform fits: the dataset profile's kinds
    n_classes = 0 if data.classes is None else len(data.classes)
    ctx = TaskContext(problem_type=data.problem_type, n_classes=n_classes, n_rows=len(data.y),
                      n_features=data.X.shape[1], n_jobs=1)
    plan = ColumnPlan.from_kinds(data.X, data.kinds)
    members = []
    for name in families:
        cand = REGISTRY[name]
        prep = build_preprocessor(plan, cand.style, target_type=ctx.target_type, n_rows=len(data.y))
        Xt = prep.fit_transform(data.X, data.y)
        est = cand.estimator(cand.portfolio(ctx)[0], ctx)
        if hasattr(est, "n_estimators") and name not in ("lightgbm", "xgboost"):
            est.set_params(n_estimators=20)
        est = cand.fit(est, Xt, data.y, X_val=Xt[:100], y_val=data.y[:100], deadline=time.monotonic() + 30)
        members.append((Pipeline([("prep", prep), ("model", est)]), 1.0))
    return FittedModel(algorithm="test", problem_type=data.problem_type, classes=data.classes, kinds=data.kinds,
                       input_schema=data.input_schema, members=members)


def _regular(model: FittedModel, rows: pd.DataFrame) -> np.ndarray:
    fast, model.fast = model.fast, None
    try:
        return model.predict_proba(rows).to_numpy() if model.classes_ is not None else model.predict(rows)
    finally:
        model.fast = fast


def _hard_rows(df: pd.DataFrame, target: str) -> pd.DataFrame:
    """Real rows, a row of nulls, unseen categories, and a row missing every column but one."""
    rows = df.drop(columns=[target]).sample(50, random_state=3).astype(object)
    odd = rows.head(2).copy()
    odd.iloc[0] = None
    for col in odd.columns:
        if odd[col].dtype == object and isinstance(rows[col].iloc[0], str):
            odd.loc[odd.index[1], col] = "never-seen-value"
    return pd.concat([rows, odd], ignore_index=True)


# Whether each family compiles its fitted model (False: the model's own predict, on the compiled transforms).
# Every registered family must be listed: a new or renamed one fails here until its author decides.
COMPILES = {"lightgbm": True, "xgboost": True, "random_forest": True, "extra_trees": True,
            "hist_gradient_boosting": True, "ridge": True, "linear": True, "catboost": False,
            "gradient_boosting": False, "lightgbm_fe": True}
ALL = sorted(REGISTRY)


def test_every_registered_family_is_covered() -> None:
    assert set(COMPILES) == set(REGISTRY)


@pytest.mark.parametrize("family", ALL)
def test_each_family_compiles_and_matches_on_mixed_columns(mixed: pd.DataFrame, family: str) -> None:
    model = _fitted(mixed, "label", [family])
    kinds = {e["name"]: e["kind"] for e in model.input_schema}
    assert {"numeric", "categorical", "boolean", "datetime", "text"} <= set(kinds.values()), kinds
    assert model.compile_fast(), f"{family}: the fast path did not verify"
    assert model.fast is not None
    compiled = [member.fast is not None for _, member, _ in model.fast.members]
    assert compiled == [COMPILES[family]], f"{family}: its compile hook gave {compiled}"
    rows = _hard_rows(mixed, "label")
    got = model.predict_proba(rows).to_numpy()
    np.testing.assert_allclose(got, _regular(model, rows), rtol=1e-6, atol=1e-8)
    single = model.predict_proba(rows.iloc[[len(rows) - 1]]).to_numpy()
    np.testing.assert_allclose(single, got[-1:], rtol=1e-6, atol=1e-8)


HOSTILE = ['a,b "q"', "{json}:[x]", "préço €", "1", "with space", "<lt>", "tab\tname"]


@pytest.mark.parametrize("family", ALL)
def test_each_family_takes_hostile_column_names(mixed: pd.DataFrame, family: str) -> None:
    """Uploads carry any header: LightGBM refuses JSON characters, XGBoost `[]<`, and neither may crash."""
    features = [c for c in mixed.columns if c != "label"]
    renamed = mixed.rename(columns={c: f"{HOSTILE[i % len(HOSTILE)]}{i}" for i, c in enumerate(features)})
    model = _fitted(renamed, "label", [family])
    assert model.compile_fast(), f"{family}: the fast path did not verify"
    rows = _hard_rows(renamed, "label")
    np.testing.assert_allclose(model.predict_proba(rows).to_numpy(), _regular(model, rows), rtol=1e-6, atol=1e-8)


def test_multiclass_and_regression_ensembles_match(iris: pd.DataFrame, diabetes: pd.DataFrame) -> None:
    clf = _fitted(iris, "target", ["lightgbm", "ridge", "xgboost", "hist_gradient_boosting", "random_forest"])
    assert clf.compile_fast()
    rows = iris.drop(columns=["target"]).astype(object)
    np.testing.assert_allclose(clf.predict_proba(rows).to_numpy(), _regular(clf, rows), rtol=1e-6, atol=1e-8)
    assert list(clf.predict(rows.head(3))) == list(_regular(clf, rows.head(3)).argmax(axis=1).choose(clf.classes_))

    reg = _fitted(diabetes, "target", ["lightgbm", "ridge", "extra_trees", "hist_gradient_boosting"])
    assert reg.compile_fast()
    rows = diabetes.drop(columns=["target"])
    np.testing.assert_allclose(reg.predict(rows), _regular(reg, rows), rtol=1e-6, atol=1e-6)


class _Noisy(TransformerMixin, BaseEstimator):
    """A transformer that gives different output on every call: no compiled form can agree with it."""

    def fit(self, X: object, y: object = None) -> _Noisy:
        self.rng_ = np.random.default_rng()
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(X, dtype=float) + self.rng_.normal(size=np.shape(X))


def test_a_disagreeing_compile_is_refused_and_the_regular_path_kept(breast_cancer: pd.DataFrame) -> None:
    X, y = breast_cancer.drop(columns=["target"]), breast_cancer["target"].to_numpy()
    prep = ColumnTransformer([("noisy", _Noisy(), list(X.columns))])
    pipe = Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=500))]).fit(X, y)
    kinds = dict.fromkeys(X.columns, "numeric")
    schema = [{"name": c, "kind": "numeric", "categories": None, "required": True} for c in X.columns]
    model = FittedModel(algorithm="noisy", problem_type="binary", classes=np.array([0, 1]), kinds=kinds,
                        input_schema=schema, members=[(pipe, 1.0)])
    assert not model.compile_fast()
    assert model.fast is None
    assert model.predict(X.head(5)).shape == (5,)


def _binary_model(breast_cancer: pd.DataFrame) -> tuple[FittedModel, pd.DataFrame]:
    X, y = breast_cancer.drop(columns=["target"]), breast_cancer["target"].to_numpy()
    prep = ColumnTransformer([("num", SimpleImputer(), list(X.columns))])
    pipe = Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=5000))]).fit(X, y)
    schema = [{"name": c, "kind": "numeric", "categories": None, "required": True} for c in X.columns]
    model = FittedModel(algorithm="lr", problem_type="binary", classes=np.array([0, 1]),
                        kinds=dict.fromkeys(X.columns, "numeric"), input_schema=schema, members=[(pipe, 1.0)])
    return model, X


def _verify(model: FittedModel, compile_model: object) -> object:
    return compile_verified(model.kinds, model.members, model.n_classes, regular=model._regular_raw,
                            sample=synthetic_rows(model.input_schema), compile_model=compile_model)


def test_a_disagreeing_compiled_model_is_refused(breast_cancer: pd.DataFrame) -> None:
    """A family's compiled model that is off by more than 1e-6, on a batch or on one row alone, is not used."""
    model, X = _binary_model(breast_cancer)
    assert _verify(model, compile_fitted) is not None  # the family's own compiled form agrees

    def shifted(est: object) -> object:
        right = compile_fitted(est)
        return lambda A, threads: right(A, threads) * (1 + 1e-4)  # type: ignore[misc]

    def wrong_alone(est: object) -> object:
        right = compile_fitted(est)
        return lambda A, threads: right(A, threads)[:, ::-1] if len(A) == 1 else right(A, threads)  # type: ignore[misc]

    assert _verify(model, shifted) is None
    assert _verify(model, wrong_alone) is None


def test_fast_coercion_is_the_training_coercion() -> None:
    """The fast path reads raw input through kinds.coerce_arrays, which must give what coerce_frame gives."""
    raw = pd.DataFrame({
        "n": [1, None, "2.5", "abc", True], "n_float": [1.5, np.nan, 3.0, -1.0, 0.0],
        "b": ["yes", "No", None, "1", "maybe"], "c": ["a", None, 3, np.nan, "a"],
        "d": ["2021-03-04", None, "bad", "2021-03-04 10:00", "2020-02-29"], "t": ["x y", None, "z", "", "q"],
    })
    kinds = {"n": "numeric", "n_float": "numeric", "b": "boolean", "c": "categorical", "d": "datetime",
             "t": "text", "absent": "numeric", "absent_cat": "categorical"}
    expected = coerce_frame(raw, kinds)
    for small in (raw, raw.head(1)):
        got = coerce_arrays(small, kinds)
        for name in kinds:
            want = expected[name].to_numpy()[: len(small)]
            assert got[name].dtype == want.dtype, name
            pd.testing.assert_series_equal(pd.Series(got[name]), pd.Series(want), check_names=False)


def test_artifacts_do_not_carry_the_compiled_form_and_loading_rebuilds_it(mixed: pd.DataFrame, tmp_path) -> None:
    model = _fitted(mixed, "label", ["lightgbm", "ridge"])
    assert model.compile_fast()
    path = tmp_path / "model.joblib"
    sha = save_model(model, path)
    assert joblib.load(path).fast is None  # derived state is never pickled
    loaded = load_model(path, sha)
    assert loaded.fast is not None and file_sha256(path) == sha
    rows = _hard_rows(mixed, "label")
    np.testing.assert_allclose(loaded.predict_proba(rows).to_numpy(), _regular(model, rows), rtol=1e-6, atol=1e-8)


def test_single_row_prediction_is_fast(mixed: pd.DataFrame) -> None:
    """The point of the fast path: a one-row predict of a 3-member ensemble well under the regular path
    (free text aside: its TF-IDF runs through scikit-learn either way)."""
    data = mixed.drop(columns=["review"])
    model = _fitted(data, "label", ["lightgbm", "ridge", "xgboost"])
    assert model.compile_fast()
    row = data.drop(columns=["label"]).head(1)

    def median_ms(fn: object) -> float:
        times = []
        for _ in range(30):
            start = time.perf_counter()
            fn()  # type: ignore[operator]
            times.append(time.perf_counter() - start)
        return float(np.median(times) * 1000)

    fast = median_ms(lambda: model.predict_proba(row))
    regular = median_ms(lambda: _regular(model, row))
    assert fast < regular / 3, (fast, regular)


def test_the_registry_refuses_a_duplicate_family() -> None:
    """Families are found by name and compiled by the first that claims a model: one entry per name."""
    before = dict(REGISTRY)

    class Again(type(REGISTRY["lightgbm"])):  # type: ignore[misc]
        pass

    with pytest.raises(ValueError, match="already registered"):
        register(Again)
    assert REGISTRY == before
