"""Profiling wide Parquet files: the one-pass profile against the old per-column one, in the same run.

Issue 13, row 4: a 2-row x 50,000-column CSV was still profiling after 7.5 minutes, because the old
`profile_parquet` reopened the file (and parsed its 50,000-column footer) for every column. For each width
this writes a 2-row Parquet file (integers, floats and short strings in turn), profiles it with the current
`automl.ingest.profile.profile_parquet`, then with the old one, loaded from git (`git show OLD_REV:...` into a
temporary module; nothing in the working tree changes). The old code stops at `--old-limit` seconds; its
figure is then the time projected from the columns it finished (each column costs the same in one file),
marked `~`. A tall table (1,000,000 rows x 20 columns) checks that the batching costs narrow files nothing.
Both profiles are compared for equality where the old one finished.

    uv run python bench/profile_wide.py                          # 1k, 10k, 50k columns; old stops at 60 s
    uv run python bench/profile_wide.py --widths 1000,2000 --old-limit 600 --no-tall
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import tempfile
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from automl.ingest.profile import profile_parquet

ROOT = Path(__file__).resolve().parents[1]
OLD_REV = "0924c6ac010063c317d0e907e0919927b54880c1"  # the last commit with the per-column profile
MODULE = "src/automl/ingest/profile.py"


class Stopped(Exception):
    pass


def wide_table(n_cols: int, n_rows: int = 2, *, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    kinds = (lambda: rng.integers(0, 100, n_rows), lambda: rng.normal(size=n_rows),
             lambda: [f"v{j}" for j in rng.integers(0, 5, n_rows)])
    return pa.table({f"c{i}": pa.array(kinds[i % 3]()) for i in range(n_cols)})


def old_module(rev: str, workdir: Path) -> ModuleType:
    source = subprocess.run(["git", "show", f"{rev}:{MODULE}"], cwd=ROOT, check=True, capture_output=True,
                            text=True).stdout
    path = workdir / "old_profile.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_profile", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def time_old(old: ModuleType, path: Path, n_cols: int, limit_s: float) -> tuple[float, bool, Any]:
    """(seconds, finished, profile or None): the old profile, stopped after `limit_s` and then projected.
    The old code opens the file once per column: that is where it is counted and stopped."""
    done = [0]
    t0 = time.perf_counter()

    def parquet_file(*args: Any, **kwargs: Any) -> pq.ParquetFile:
        if time.perf_counter() - t0 > limit_s:
            raise Stopped
        done[0] += 1
        return pq.ParquetFile(*args, **kwargs)

    old.pq = SimpleNamespace(read_metadata=pq.read_metadata, ParquetFile=parquet_file)
    try:
        profile = old.profile_parquet(path)
        return time.perf_counter() - t0, True, profile
    except Stopped:
        elapsed = time.perf_counter() - t0
        return elapsed * n_cols / max(1, done[0]), False, None


def run_one(old: ModuleType, path: Path, n_cols: int, limit_s: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    new = profile_parquet(path)
    new_s = time.perf_counter() - t0
    old_s, finished, old_profile = time_old(old, path, n_cols, limit_s)
    same = "-" if old_profile is None else str(old_profile == new)
    return {"columns": n_cols, "new_s": new_s, "old_s": old_s, "old_finished": finished, "same": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", default="1000,10000,50000")
    parser.add_argument("--old-limit", type=float, default=60.0, help="seconds before the old profile stops")
    parser.add_argument("--old-rev", default=OLD_REV)
    parser.add_argument("--no-tall", action="store_true", help="skip the 1,000,000 x 20 table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        old = old_module(args.old_rev, work)
        cases = [(int(w), wide_table(int(w))) for w in args.widths.split(",")]
        if not args.no_tall:
            cases.append((20, wide_table(20, 1_000_000)))
        warm = work / "warm.parquet"  # first-use costs (imports, Arrow's pools) are paid before any timing
        pq.write_table(wide_table(30, 1000), warm)
        profile_parquet(warm), old.profile_parquet(warm)
        print(f"{'rows x columns':>18} {'new (s)':>9} {'old (s)':>10} {'speed-up':>9} same")
        for n_cols, table in cases:
            path = work / f"t{n_cols}x{table.num_rows}.parquet"
            pq.write_table(table, path)
            r = run_one(old, path, n_cols, args.old_limit)
            mark = "" if r["old_finished"] else "~"
            shape = f"{table.num_rows:,} x {n_cols:,}"
            print(f"{shape:>18} {r['new_s']:9.2f} {mark + format(r['old_s'], '.1f'):>10} "
                  f"{r['old_s'] / r['new_s']:8.1f}x {r['same']}", flush=True)
            path.unlink()
    print("~ : the old profile was stopped at --old-limit; its time is projected from the columns it finished")


if __name__ == "__main__":
    main()
