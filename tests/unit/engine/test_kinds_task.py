import pickle

import numpy as np
import pandas as pd
import pytest

import automl.engine.kinds as engine_kinds
from automl.engine import METRICS, PROBLEM_TYPES, EngineError, detect_problem_type
from automl.engine.dataprep import prepare
from automl.engine.kinds import Kind, coerce_frame, fit_kinds, kinds_from_schema
from automl.ingest import column_kinds


def test_the_engine_infers_no_kinds() -> None:
    assert not hasattr(engine_kinds, "infer_kind")


def test_without_kinds_the_dtypes_are_read_literally(mixed: pd.DataFrame) -> None:
    """No id, text, word or number-in-text rules: those are the profile's (ingest), not the engine's."""
    data = prepare(mixed, "label", features=None, problem_type="auto", metric="auto", seed=0)
    assert data.kinds == {
        "row_id": "numeric", "x": "numeric", "x_str": "categorical", "color": "categorical",
        "city": "categorical", "flag": "categorical", "when": "categorical", "review": "categorical",
    }
    assert data.dropped_columns == {"const": "constant"}
    n = 40
    typed = pd.DataFrame({
        "b": [True, False] * (n // 2), "d": pd.date_range("2020-01-01", periods=n), "i": np.arange(n),
        "words": ["sim", "não"] * (n // 2), "y": ["p", "q"] * (n // 2),
    })
    data = prepare(typed, "y", features=None, problem_type="auto", metric="auto", seed=0)
    assert data.kinds == {"b": "boolean", "d": "datetime", "i": "numeric", "words": "categorical"}


def test_given_kinds_are_used_and_id_and_constant_columns_dropped(mixed: pd.DataFrame) -> None:
    kinds = column_kinds(mixed)
    data = prepare(mixed, "label", features=None, problem_type="auto", metric="auto", seed=0, kinds=kinds)
    assert data.kinds == {
        "x": "numeric", "x_str": "numeric", "color": "categorical", "city": "categorical", "flag": "boolean",
        "when": "datetime", "review": "text",
    }
    assert data.dropped_columns == {"row_id": "id", "const": "constant"}
    assert [c["kind"] for c in data.input_schema] == list(data.kinds.values())
    with pytest.raises(EngineError, match="Unknown column kind"):
        prepare(mixed, "label", features=None, problem_type="auto", metric="auto", seed=0, kinds={"x": "number"})


def test_a_boolean_column_of_words_learns_its_levels_at_fit() -> None:
    n = 40
    df = pd.DataFrame({"b": [" Sim", "não"] * (n // 2), "y": ["p", "q"] * (n // 2)})
    df.loc[3, "b"] = None
    data = prepare(df, "y", features=None, problem_type="auto", metric="auto", seed=0, kinds={"b": "boolean"})
    entry = data.input_schema[0]
    assert entry["kind"] == "boolean" and entry["levels"] == ["não", "sim"]
    assert data.X["b"].tolist()[:3] == [1.0, 0.0, 1.0] and np.isnan(data.X["b"].iloc[3])
    # predict time: the levels come from the schema entry; unknown strings are missing
    out = coerce_frame(pd.DataFrame({"b": ["SIM", "não", "yes", None, True]}), kinds_from_schema(data.input_schema))
    assert out["b"].tolist()[:2] == [1.0, 0.0] and out["b"].iloc[2:].isna().all()
    assert pickle.loads(pickle.dumps(data.kinds))["b"].levels == ("não", "sim")
    with pytest.raises(EngineError, match="at most two"):
        fit_kinds(pd.DataFrame({"b": ["a", "b", "c"]}), {"b": "boolean"})


def test_a_boolean_column_of_numbers_or_bools_reads_0_and_1() -> None:
    kinds = fit_kinds(pd.DataFrame({"n": [0, 1, 1], "t": [True, False, None]}), {"n": "boolean", "t": "boolean"})
    assert kinds["n"].levels is None and kinds["t"].levels is None
    raw = pd.DataFrame({"n": [1, 0, 2], "t": [True, "False", "maybe"], "extra": [1, 2, 3]})
    out = coerce_frame(raw, {"n": Kind("boolean"), "t": "boolean", "missing": "categorical"})
    assert list(out.columns) == ["n", "t", "missing"]
    assert out["n"].tolist()[:2] == [1.0, 0.0] and np.isnan(out["n"].iloc[2])
    assert out["t"].tolist()[:2] == [1.0, 0.0] and np.isnan(out["t"].iloc[2])
    assert out["missing"].isna().all()


def test_coerce_frame_handles_bad_values() -> None:
    raw = pd.DataFrame({"n": ["3.5", "oops", None], "extra": [1, 2, 3]})
    out = coerce_frame(raw, {"n": "numeric"})
    assert out["n"].iloc[0] == 3.5 and np.isnan(out["n"].iloc[1]) and np.isnan(out["n"].iloc[2])


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["a", "b", "a"], "binary"), ([0, 1, 1], "binary"), (["x", "y", "z"], "multiclass"),
        ([1, 2, 3, 2, 1], "multiclass"), (list(np.linspace(0, 1, 50)), "regression"), (list(range(40)), "regression"),
    ],
)
def test_detect_problem_type(values: list, expected: str) -> None:
    assert detect_problem_type(pd.Series(values)) == expected
    assert expected in PROBLEM_TYPES


def test_metric_registry_directions() -> None:
    assert METRICS["roc_auc"].direction == "maximize" and METRICS["rmse"].direction == "minimize"


def _prepare(df: pd.DataFrame, target: str = "y") -> None:
    prepare(df, target, features=None, problem_type="auto", metric="auto", seed=0, kinds=column_kinds(df))


def test_engine_errors() -> None:
    good = pd.DataFrame({"a": np.arange(50) % 7, "y": ["p", "q"] * 25})
    with pytest.raises(EngineError, match="not found"):
        _prepare(good, "nope")
    with pytest.raises(EngineError, match="single value"):
        _prepare(good.assign(y="p"))
    with pytest.raises(EngineError, match="fewer than 2 rows"):
        _prepare(good.assign(y=["p"] * 49 + ["r"]))
    with pytest.raises(EngineError, match="at least 20"):
        _prepare(good.head(10))
    with pytest.raises(EngineError, match="No usable feature"):
        _prepare(pd.DataFrame({"id": np.arange(50), "c": 1, "y": ["p", "q"] * 25}))
    with pytest.raises(EngineError, match="does not apply"):
        prepare(good, "y", features=None, problem_type="auto", metric="rmse", seed=0)


def test_a_concrete_problem_type_and_metric_are_checked_not_decided_again() -> None:
    """The platform stores what it resolved; the engine keeps it (only auto / classification are decided)."""
    df = pd.DataFrame({"a": np.arange(60) % 7, "y": np.arange(60) % 3})
    assert prepare(df, "y", features=None, problem_type="auto", metric="auto", seed=0).problem_type == "multiclass"
    data = prepare(df, "y", features=None, problem_type="regression", metric="mae", seed=0)
    assert (data.problem_type, data.metric.name) == ("regression", "mae")
    with pytest.raises(EngineError, match="exactly 2"):
        prepare(df, "y", features=None, problem_type="binary", metric="auto", seed=0)


def test_missing_target_rows_dropped_and_leak_warned() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=200)
    df = pd.DataFrame({"noise": rng.normal(size=200), "leak": y * 2 + 1, "y": y})
    df.loc[:9, "y"] = np.nan
    data = prepare(df, "y", features=None, problem_type="auto", metric="auto", seed=0)
    assert data.rows_dropped_missing_target == 10 and len(data.y) == 190
    assert any("leak" in w and "'leak'" in w for w in data.warnings)
    assert not any("'noise'" in w for w in data.warnings)


def test_the_schema_marks_numeric_columns_whose_words_were_read_as_missing() -> None:
    n = 60
    values = np.random.default_rng(0).normal(size=n).round(2)
    df = pd.DataFrame({
        "clean": values, "stray": [str(v) for v in values[:-1]] + ["unknown"], "y": ["a", "b"] * (n // 2),
    })
    data = prepare(df, "y", features=None, problem_type="auto", metric="auto", seed=0, kinds=column_kinds(df))
    schema = {c["name"]: c for c in data.input_schema}
    assert data.kinds["stray"] == "numeric" and schema["stray"]["words_as_missing"] is True
    assert schema["clean"]["words_as_missing"] is False


def test_the_fast_path_coerces_a_boolean_of_words_with_its_levels() -> None:
    """The levels travel with the kinds into FittedModel and its verified fast path (coerce_arrays)."""
    from sklearn.pipeline import Pipeline

    from automl.engine import FittedModel
    from automl.engine.candidates import REGISTRY, TaskContext
    from automl.engine.kinds import coerce_arrays
    from automl.engine.preprocess import ColumnPlan, build_preprocessor

    rng = np.random.default_rng(0)
    n = 300
    member = rng.choice(["sim", "não"], n)
    df = pd.DataFrame({"member": member, "x": rng.normal(size=n)})
    df["y"] = np.where((member == "sim") * 1.5 + df["x"] + rng.normal(scale=0.5, size=n) > 0.75, "a", "b")
    data = prepare(df, "y", features=None, problem_type="auto", metric="auto", seed=0, kinds=column_kinds(df))
    assert data.kinds["member"] == "boolean" and data.kinds["member"].levels == ("não", "sim")
    raw = pd.DataFrame({"member": ["sim", "NÃO ", "talvez", None], "x": [0.1, 0.2, None, 0.4]})
    arrays = coerce_arrays(raw, data.kinds)
    np.testing.assert_array_equal(arrays["member"], coerce_frame(raw, data.kinds)["member"].to_numpy())
    assert arrays["member"][:2].tolist() == [1.0, 0.0] and np.isnan(arrays["member"][2:]).all()
    ctx = TaskContext(problem_type="binary", n_classes=2, n_rows=n, n_features=2, n_jobs=1)
    cand = REGISTRY["lightgbm"]
    prep = build_preprocessor(ColumnPlan.from_kinds(data.X, data.kinds), cand.style, target_type="binary", n_rows=n)
    est = cand.estimator(cand.portfolio(ctx)[0], ctx).fit(prep.fit_transform(data.X, data.y), data.y)
    model = FittedModel(algorithm="lightgbm", problem_type="binary", classes=data.classes, kinds=data.kinds,
                        input_schema=data.input_schema, members=[(Pipeline([("prep", prep), ("model", est)]), 1.0)])
    assert model.compile_fast()
    words = pd.DataFrame({"member": ["sim", "não"], "x": [0.0, 0.0]})
    fast = model.predict_proba(words).to_numpy()
    model.fast = None
    np.testing.assert_allclose(fast, model.predict_proba(words).to_numpy(), rtol=1e-6)
    assert fast[0, 0] > fast[1, 0] + 0.2  # "sim" is read, not missing
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(restored.predict_proba(words).to_numpy(), fast, rtol=1e-6)
