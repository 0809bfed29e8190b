"""Generated features (engine/features.py, style "lightgbm_fe", family "lightgbm_fe"): fitted on the training fold
only, capped, passing degenerate tables through, and served and explained like every other family."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from automl.engine import AutoML, FittedModel
from automl.engine.candidates import REGISTRY, TaskContext
from automl.engine.dataprep import prepare
from automl.engine.features import GeneratedFeatures
from automl.engine.kinds import coerce_frame
from automl.engine.portfolio import portfolio
from automl.engine.preprocess import ColumnPlan, build_preprocessor
from automl.engine.shapley import source_map
from automl.engine.validation import fit_fold
from automl.ingest import column_kinds

NUMERIC = ("a", "b", "n1", "n2", "n3", "n4", "code")
CATEGORICAL = ("u", "v", "w", "z")


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """y depends on a + b and on the crossing of u and v; `code` is a repeated integer code, `const` constant."""
    rng = np.random.default_rng(0)
    n = 1200
    df = pd.DataFrame({c: rng.normal(size=n) for c in ("a", "b", "n1", "n2", "n3", "n4")})
    df["code"] = rng.integers(0, 60, n).astype(float)
    df["const"] = 1.0
    for c, levels in (("u", "pqr"), ("v", "xyz"), ("w", "stuvw"), ("z", "lm")):
        df[c] = rng.choice(list(levels), n).astype(object)
    df.loc[::9, "u"] = None
    df.loc[::7, "a"] = np.nan
    cross = ((df["u"] == "p") & (df["v"] == "x")).to_numpy()
    df["y"] = df["a"].fillna(0) + df["b"] + 2 * cross + rng.normal(size=n) * 0.2
    return df


def _plan(df: pd.DataFrame, numeric: tuple[str, ...], categorical: tuple[str, ...]) -> ColumnPlan:
    kinds = {**dict.fromkeys(numeric, "numeric"), **dict.fromkeys(categorical, "categorical")}
    return ColumnPlan.from_kinds(df, kinds)


def _fit(df: pd.DataFrame, y: np.ndarray, target_type: str = "continuous", **kw: object) -> GeneratedFeatures:
    gen = GeneratedFeatures((*NUMERIC, "const"), CATEGORICAL, target_type=target_type, **kw)
    gen.fit_transform(df[[*NUMERIC, "const", *CATEGORICAL]], y)
    return gen


def test_pairs_crossings_and_codes_are_generated(table: pd.DataFrame) -> None:
    gen = _fit(table, table["y"].to_numpy(), ops=("+", "-", "*", "/"))
    names = list(gen.get_feature_names_out())
    assert {op for _, op, _ in gen.pairs_} == {"+", "-", "*", "/"}
    assert {frozenset((a, b)) for a, _, b in gen.pairs_} >= {frozenset(("a", "b"))}  # the informative pair
    assert "const" not in {c for a, _, b in gen.pairs_ for c in (a, b)}
    assert ("u", "v") in gen.keys_ or ("v", "u") in gen.keys_  # the informative crossing
    assert ("code",) in gen.keys_  # 60 repeated integer levels
    assert len(names) == len(set(names)) == len(gen.sources_) <= gen.max_columns
    assert sum(len(k) == 2 for k in gen.keys_) <= gen.max_crossings


def test_outputs_are_capped_and_multiclass_encodes_per_class(table: pd.DataFrame) -> None:
    three = np.digitize(table["b"].to_numpy(), [-0.5, 0.5])
    gen = _fit(table, three, "multiclass", max_columns=10)
    out = gen.transform(table[list(gen.feature_names_in_)])
    assert out.shape == (len(table), len(gen.names_)) and out.shape[1] <= 10
    assert len(gen.keys_) >= 1 and sum(n.startswith(f"fe:te({'&'.join(gen.keys_[0])})[") for n in gen.names_) == 3


def test_training_rows_are_encoded_out_of_fold(table: pd.DataFrame) -> None:
    """A training row's target encoding does not see its own target (TargetEncoder's cross-fitting)."""
    X = table[["u", "v"]]
    y = table["y"].to_numpy()
    gen = GeneratedFeatures((), ("u", "v"), target_type="continuous")
    first = gen.fit_transform(X, y)
    moved = y.copy()
    moved[5] += 100.0
    again = GeneratedFeatures((), ("u", "v"), target_type="continuous").fit_transform(X, moved)
    assert first.shape[1] == 1
    assert again[5, 0] == pytest.approx(first[5, 0])
    assert not np.allclose(again, first)  # other rows do see it


def test_validation_rows_depend_on_the_training_fold_only(table: pd.DataFrame) -> None:
    data = prepare(table, "y", features=None, problem_type="regression", metric="auto", seed=0,
                   kinds=column_kinds(table))
    ctx = TaskContext(problem_type="regression", n_classes=0, n_rows=900, n_features=data.X.shape[1], n_jobs=1)
    plan = ColumnPlan.from_kinds(data.X, data.kinds)
    fold = (np.arange(900), np.arange(900, len(data.y)))
    cand = REGISTRY["lightgbm_fe"]

    def validation_matrix(y: np.ndarray) -> pd.DataFrame:
        res = fit_fold(cand, cand.portfolio(ctx)[0], ctx, plan, data.X, y, fold, index=0,
                       deadline_at=time.time() + 60)
        return res.pipeline[0].transform(data.X.iloc[fold[1]])

    shuffled = data.y.copy()
    shuffled[fold[1]] = np.random.default_rng(1).permutation(shuffled[fold[1]]) * 5
    before, after = validation_matrix(data.y), validation_matrix(shuffled)
    assert any(c.startswith("fe:te(") for c in before.columns)
    pd.testing.assert_frame_equal(before, after)


def test_degenerate_tables_pass_through(table: pd.DataFrame) -> None:
    y = table["y"].to_numpy()
    only_const = GeneratedFeatures(("const",), (), target_type="continuous")
    assert only_const.fit_transform(table[["const"]], y).shape == (len(table), 0)
    numbers = GeneratedFeatures(("a", "b"), (), target_type="continuous")
    assert numbers.fit_transform(table[["a", "b"]], y).shape[1] == len(numbers.ops) and not numbers.keys_
    words = GeneratedFeatures((), ("z",), target_type="continuous")
    assert words.fit_transform(table[["z"]], y).shape[1] == 0 and not words.pairs_
    # the style adds nothing to a table the generator has nothing to make from
    plan = _plan(table, ("const",), ())
    plain = build_preprocessor(plan, "lightgbm", target_type="continuous", n_rows=len(y)).fit_transform(table, y)
    generated = build_preprocessor(plan, "lightgbm_fe", target_type="continuous", n_rows=len(y))
    pd.testing.assert_frame_equal(generated.fit_transform(table, y), plain)


def test_nulls_and_unseen_levels_and_pickling(table: pd.DataFrame) -> None:
    y = table["y"].to_numpy()
    plan = _plan(table, (*NUMERIC, "const"), CATEGORICAL)
    ct = build_preprocessor(plan, "lightgbm_fe", target_type="continuous", n_rows=len(y))
    ct.fit_transform(table, y)
    odd = table.head(3).copy()
    odd.loc[odd.index[0], ["a", "b", "code"]] = np.nan
    odd.loc[odd.index[1], list(CATEGORICAL)] = "never-seen"
    odd.loc[odd.index[2], "b"] = 0.0  # a / b
    out = ct.transform(odd)
    encoded = out[[c for c in out.columns if c.startswith("fe:te(")]]
    assert np.isfinite(encoded.to_numpy()).all()
    assert np.isnan(out.filter(like="/").iloc[2]).any() or "b" not in {b for *_, b in ct.named_transformers_[
        "fe"].pairs_}
    copy = pickle.loads(pickle.dumps(ct))
    pd.testing.assert_frame_equal(copy.transform(table), ct.transform(table))


def _model(df: pd.DataFrame, target: str) -> FittedModel:
    data = prepare(df, target, features=None, problem_type="auto", metric="auto", seed=0, kinds=column_kinds(df))
    n_classes = 0 if data.classes is None else len(data.classes)
    ctx = TaskContext(problem_type=data.problem_type, n_classes=n_classes, n_rows=len(data.y),
                      n_features=data.X.shape[1], n_jobs=1)
    cand = REGISTRY["lightgbm_fe"]
    prep = build_preprocessor(ColumnPlan.from_kinds(data.X, data.kinds), cand.style, target_type=ctx.target_type,
                              n_rows=len(data.y))
    Xt = prep.fit_transform(data.X, data.y)
    est = cand.estimator(cand.portfolio(ctx)[0], ctx).set_params(n_estimators=60)
    est = cand.fit(est, Xt, data.y, X_val=None, y_val=None, deadline=time.monotonic() + 60)
    return FittedModel(algorithm=cand.algorithm, problem_type=data.problem_type, classes=data.classes,
                       kinds=data.kinds, input_schema=data.input_schema, members=[(Pipeline([("prep", prep),
                                                                                              ("model", est)]), 1.0)])


@pytest.mark.parametrize("target", ["binary", "three", "y"])
def test_fast_path_and_explanations_match(table: pd.DataFrame, target: str) -> None:
    df = table.assign(binary=np.where(table["y"] > 0, "hi", "lo"),
                      three=np.digitize(table["y"], [-0.5, 0.5]).astype(str))
    df = df.drop(columns=[c for c in ("binary", "three", "y") if c != target])
    model = _model(df, target)
    rows = df.drop(columns=[target]).sample(40, random_state=2)
    rows.iloc[0, :] = None
    regular = model.predict_raw(coerce_frame(rows, model.kinds))
    assert model.compile_fast()
    fast = model.predict(rows) if model.classes_ is None else model.predict_proba(rows).to_numpy()
    np.testing.assert_allclose(fast, regular, rtol=1e-6, atol=1e-9)
    exp = model.explain(rows)
    served = fast if model.classes_ is None else fast[np.arange(len(rows)), regular.argmax(axis=1)]
    np.testing.assert_allclose(exp.base + exp.values.sum(axis=1), served, rtol=1e-6, atol=1e-8)
    prep = model.members[0][0][0]
    mapping = source_map(prep, exp.columns)
    np.testing.assert_allclose(mapping.sum(axis=1), 1.0)
    gen = prep.named_transformers_["fe"]
    first = prep.output_indices_["fe"].start + gen.names_.index(next(n for n in gen.names_ if "(" not in n))
    assert sorted(mapping[first][mapping[first] > 0]) == [0.5, 0.5]  # a pair is split between its sources


def test_automl_fits_the_family(table: pd.DataFrame) -> None:
    first = ("lightgbm_fe", REGISTRY["lightgbm_fe"].portfolio(TaskContext("regression", 0, 1000, 12))[0])
    result = AutoML(time_budget_s=20, n_jobs=1, seed=0, holdout="none", portfolio=[first, *portfolio("regression")]
                    ).fit(table, "y", kinds=column_kinds(table))
    fe = [r for r in result.leaderboard if r.algorithm == REGISTRY["lightgbm_fe"].algorithm]
    assert fe and np.isfinite(fe[0].cv_score)
    assert fe[0].model.predict(table.head(5)).shape == (5,)
