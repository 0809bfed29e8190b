"""Column kinds, statistics and dataset warnings on real tables."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from automl.ingest import read_table
from automl.ingest.convert import ParquetSink, convert
from automl.ingest.profile import profile_parquet, profile_table


def customers(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "row_id": np.arange(n) + 100000,
        "age": rng.integers(18, 90, n).astype(float),
        "city": rng.choice(["Recife", "Porto", "Lisboa", "São Paulo"], n),
        "signup": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        "active": rng.choice(["true", "false"], n),
        "const": ["x"] * n,
        "comment": [f"customer wrote a long free text note number {i} about service {rng.integers(1e6)}"
                    for i in range(n)],
        "income": rng.normal(3000, 500, n).round(2),
        "children": rng.integers(0, 4, n),
        "churned": rng.integers(0, 2, n),
        "answer": rng.choice(["yes", "no"], n),
        "sku": [f"SKU{i:05d}" for i in rng.permutation(n)],
    })
    df.loc[::7, "age"] = np.nan
    return df


def by_name(profile: dict) -> dict[str, dict]:
    return {c["name"]: c for c in profile["columns"]}


@pytest.fixture
def latin1_semicolon_csv(tmp_path: Path) -> Path:
    path = tmp_path / "clientes"
    path.write_bytes(customers().to_csv(index=False, sep=";", decimal=",").encode("latin-1"))
    return path


def test_kinds_of_a_latin1_semicolon_csv_with_decimal_commas(latin1_semicolon_csv: Path) -> None:
    cols = by_name(profile_table(read_table(latin1_semicolon_csv, "clientes.csv")))
    kinds = {name: c["kind"] for name, c in cols.items()}
    assert kinds == {
        "row_id": "id", "age": "numeric", "city": "categorical", "signup": "datetime", "active": "boolean",
        "const": "constant", "comment": "text", "income": "numeric", "children": "numeric",
        "churned": "boolean", "answer": "boolean", "sku": "id",
    }
    assert cols["age"]["n_missing"] == 58 and cols["age"]["missing_pct"] == 14.5
    assert cols["city"]["n_unique"] == 4
    assert "São Paulo" in [v["value"] for v in cols["city"]["stats"]["top_values"]]
    assert cols["signup"]["stats"] == {"min": "2024-01-01", "max": "2025-02-03"}
    assert len(cols["comment"]["samples"]) == 5


def test_numeric_stats_are_exact(tmp_path: Path) -> None:
    values = [1.0, 2.0, 2.0, 3.0, 4.0, None, 10.0]
    table = pa.table({"x": values, "y": list("abcdefg")})
    stats = by_name(profile_table(table))["x"]["stats"]
    s = pd.Series(values, dtype=float).dropna()
    assert stats["min"] == 1.0 and stats["max"] == 10.0
    assert stats["mean"] == pytest.approx(s.mean())
    assert stats["std"] == pytest.approx(s.std())
    assert stats["quantiles"]["p50"] == s.quantile(0.5, interpolation="lower")
    assert sum(stats["histogram"]["counts"]) == 6


def test_nan_counts_as_missing_and_json_has_no_nan() -> None:
    table = pa.table({"x": pa.array([1.0, float("nan"), None, 2.0]), "y": ["a", "b", "c", "d"]})
    x = by_name(profile_table(table))["x"]
    assert x["n_missing"] == 2 and x["n_unique"] == 2


def test_warnings_duplicates_constant_id_cardinality_missing() -> None:
    n = 1000
    rng = np.random.default_rng(1)
    df = pd.DataFrame({
        "id": np.arange(n),
        "flat": ["same"] * n,
        "zip": [f"Z{v}" for v in rng.integers(0, 600, n)],
        "sparse": [float(i) if i % 4 == 0 else None for i in range(n)],
        "x": rng.integers(0, 3, n),
    })
    table = pa.Table.from_pandas(pd.concat([df, df.drop(columns="id").head(5).assign(id=-1)]), preserve_index=False)
    warnings = profile_table(table)["warnings"]
    codes = {(w["code"], w["column"]) for w in warnings}
    assert ("constant", "flat") in codes
    assert ("high_cardinality", "zip") in codes
    assert ("mostly_missing", "sparse") in codes
    assert all(w["message"] for w in warnings)
    doubled = pd.concat([df.drop(columns="id")] * 2)
    dups = [w for w in profile_table(pa.Table.from_pandas(doubled, preserve_index=False))["warnings"]
            if w["code"] == "duplicate_rows"]
    assert dups[0]["message"].startswith(f"{doubled.duplicated().sum()} rows")
    assert ("id_like", "id") in {(w["code"], w["column"]) for w in profile_table(pa.Table.from_pandas(df))["warnings"]}


def test_duplicate_rows_are_counted_exactly() -> None:
    table = pa.table({"a": [1, 1, 2, 2, 1], "b": ["x", "x", "y", "z", "x"]})
    dups = [w for w in profile_table(table)["warnings"] if w["code"] == "duplicate_rows"]
    assert dups[0]["message"].startswith("2 rows")


def test_profile_from_parquet_matches_profile_of_table(latin1_semicolon_csv: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out.parquet"
    convert(latin1_semicolon_csv, "clientes.csv", lambda: ParquetSink(dest))
    from_parquet = profile_parquet(dest)
    from_table = profile_table(read_table(latin1_semicolon_csv, "clientes.csv"))
    assert from_parquet == from_table


def test_short_distinct_phrases_are_text_and_short_codes_are_not() -> None:
    """Titles (mostly distinct, a few words, ~15 characters) are text: their words carry signal. Repeated
    two-word labels stay categorical, distinct codes without spaces are ids."""
    rng = np.random.default_rng(0)
    words = ["star", "wars", "night", "of", "the", "living", "dead", "big", "sleep", "blue", "moon", "river"]
    titles = [" ".join(rng.choice(words, 3)) + f" {i}" for i in range(300)]
    table = pa.table({
        "title": titles,
        "label": [f"group {i % 4}" for i in range(300)],
        "sku": [f"SKU-{i:05d}" for i in range(300)],
    })
    kinds = {c["name"]: c["kind"] for c in profile_table(table)["columns"]}
    assert kinds == {"title": "text", "label": "categorical", "sku": "id"}


def wide_table(n_cols: int, n_rows: int = 2) -> pa.Table:
    """Integers, floats and short strings in turn: a 2-row, very wide table like a transposed CSV."""
    rng = np.random.default_rng(0)
    kinds = (lambda: rng.integers(0, 100, n_rows), lambda: rng.normal(size=n_rows),
             lambda: [f"v{j}" for j in rng.integers(0, 5, n_rows)])
    return pa.table({f"c{i}": pa.array(kinds[i % 3]()) for i in range(n_cols)})


def test_profile_from_parquet_is_the_same_in_any_batching(
    latin1_semicolon_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from automl.ingest import profile as module

    dest = tmp_path / "out.parquet"
    convert(latin1_semicolon_csv, "clientes.csv", lambda: ParquetSink(dest))
    whole = profile_parquet(dest)
    monkeypatch.setattr(module, "BATCH_COLUMNS", 5)
    assert profile_parquet(dest) == whole
    monkeypatch.setattr(module, "BATCH_BYTES", 1)  # every column a batch of its own
    assert profile_parquet(dest) == whole
    names = [c["name"] for c in whole["columns"]]
    assert [len(b) for b in module.column_batches(pq.read_metadata(dest), names)] == [1] * len(names)


@pytest.mark.battery
def test_a_wide_parquet_file_is_profiled_in_one_pass(tmp_path: Path) -> None:
    """Issue 13, row 4: 2 rows x 50,000 columns were still profiling after 7.5 minutes (the file and its
    footer reopened per column: quadratic). 20,000 columns took about 25 minutes; now seconds."""
    table = wide_table(20_000)
    dest = tmp_path / "wide.parquet"
    pq.write_table(table, dest)
    t0 = time.perf_counter()
    profile = profile_parquet(dest)
    elapsed = time.perf_counter() - t0
    assert len(profile["columns"]) == 20_000
    assert elapsed < 90, f"20,000 columns profiled in {elapsed:.0f} s"
    assert profile["columns"][:300] == profile_table(table.select(range(300)))["columns"]
