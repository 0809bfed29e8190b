import numpy as np
import pandas as pd
import pytest

from automl.engine import METRICS, PROBLEM_TYPES, EngineError, detect_problem_type
from automl.engine.dataprep import prepare
from automl.engine.kinds import coerce_frame, infer_kind


def test_infer_kind(mixed: pd.DataFrame) -> None:
    kinds = {c: infer_kind(mixed[c]) for c in mixed.columns if c != "label"}
    assert kinds == {
        "row_id": "id", "x": "numeric", "x_str": "numeric", "color": "categorical", "city": "categorical",
        "flag": "boolean", "when": "datetime", "review": "text", "const": "constant",
    }
    assert infer_kind(pd.Series([True, False, True])) == "boolean"
    assert infer_kind(pd.Series(pd.to_datetime(["2020-01-01", "2021-01-01"]))) == "datetime"


def test_coerce_frame_handles_bad_values() -> None:
    raw = pd.DataFrame({"n": ["3.5", "oops", None], "b": ["Yes", "no", "maybe"], "extra": [1, 2, 3]})
    out = coerce_frame(raw, {"n": "numeric", "b": "boolean", "missing": "categorical"})
    assert list(out.columns) == ["n", "b", "missing"]
    assert out["n"].iloc[0] == 3.5 and np.isnan(out["n"].iloc[1])
    assert out["b"].tolist()[:2] == [1.0, 0.0] and np.isnan(out["b"].iloc[2])
    assert out["missing"].isna().all()


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
    prepare(df, target, features=None, problem_type="auto", metric="auto", seed=0)


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
    data = prepare(df, "y", features=None, problem_type="auto", metric="auto", seed=0)
    schema = {c["name"]: c for c in data.input_schema}
    assert data.kinds["stray"] == "numeric" and schema["stray"]["words_as_missing"] is True
    assert schema["clean"]["words_as_missing"] is False
