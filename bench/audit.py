"""The leakage audit's cost on a 1,000,000-row table, beside the dataset profile of the same file, in one run.

Writes a Parquet file like a real upload (20 columns: numbers, categories of low and high cardinality, a date,
a boolean, a text key, a row id, with planted problems: a noisy copy of the target, a column present only when
the target is 1, and 2 % duplicated rows), profiles it with `automl.ingest.profile.profile_parquet` (the
baseline: what every upload already pays), then audits it with `services.audit_leakage.audit_parquet` (what
GET /api/datasets/{id}/audit does after the sha256-checked local copy), `--repeat` times each, best and median
printed; then checks that the planted problems were found and nothing else.

    uv run python bench/audit.py                 # 1,000,000 rows, 3 repeats
    uv run python bench/audit.py --rows 200000 --repeat 1
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl.ingest.profile import profile_parquet
from automl.services.audit_leakage import audit_parquet


def table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8))
    logit = x[:, 0] - 0.8 * x[:, 1] + 0.5 * x[:, 2]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    df = pd.DataFrame({f"x{i}": x[:, i].round(4) for i in range(8)})
    df.insert(0, "row_id", np.arange(n))
    df["city"] = rng.choice([f"city_{i}" for i in range(40)], n)
    df["store"] = rng.choice([f"store_{i}" for i in range(5000)], n)
    df["plan"] = rng.choice(["basic", "plus", "pro", None], n)
    df["signup"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, n), unit="D")
    df["newsletter"] = rng.random(n) < 0.3
    df["order_key"] = [f"o{v:08x}" for v in rng.permutation(n)]
    df["age"] = rng.integers(18, 90, n)
    df["visits"] = rng.poisson(3, n)
    df["leak"] = y + rng.normal(0, 0.1, n)  # planted: the target plus noise
    df["refund_date"] = np.where(y == 1, df["signup"] + pd.Timedelta(days=30), pd.NaT)  # only after a churn
    df["churn"] = y
    dup = rng.choice(n, n // 50, replace=False)
    df.iloc[dup[: len(dup) // 2]] = df.iloc[dup[len(dup) // 2:]].to_numpy()  # 1 % of rows copied over others
    return df


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.parquet"
        t0 = time.perf_counter()
        df = table(args.rows)
        df.to_parquet(path, index=False)
        print(f"table: {args.rows:,} rows x {df.shape[1]} columns, {path.stat().st_size / 2**20:.0f} MiB Parquet "
              f"(made in {time.perf_counter() - t0:.1f} s)")
        del df
        profile_times, profile = timed(lambda: profile_parquet(path), args.repeat)
        kinds = {c["name"]: c["kind"] for c in profile["columns"]}
        audit_times, result = timed(lambda: audit_parquet(path, "churn", kinds), args.repeat)
    for label, times in (("profile (baseline)", profile_times), ("leakage audit", audit_times)):
        print(f"{label:20s} best {min(times):6.2f} s   median {statistics.median(times):6.2f} s   "
              f"runs {', '.join(f'{t:.2f}' for t in times)}")
    print(f"audit / profile (best): {min(audit_times) / min(profile_times):.2f}x; "
          f"per-column checks on {result['sampled_rows']:,} sampled rows, duplicates on all {result['n_rows']:,}")
    for f in result["findings"]:
        print(f"  {f['severity']:6s} {f['kind']}/{f['check']:18s} {', '.join(f['columns']) or '(rows)':12s} "
              f"{f['evidence']}")
    found = {(f["check"], tuple(f["columns"])) for f in result["findings"]}
    expected = {("target_proxy", ("leak",)), ("future_leak", ("refund_date",)), ("id_like", ("row_id",)),
                ("id_like", ("order_key",)), ("time_column", ("signup",)), ("duplicate_rows", ())}
    print("planted problems found, nothing else:", "yes" if found == expected else f"NO: {sorted(found)}")


if __name__ == "__main__":
    main()
