"""Claim latency on PostgreSQL: enqueue (commit) -> running, with LISTEN/NOTIFY and with the old polling.

    uv run python bench/wakeup.py [--jobs 40] [--workers 2] [--database-url postgresql+psycopg://...]

Creates a scratch database on the server (dropped afterwards), starts `--workers` real worker processes that
run a no-op job kind, first polling (`Worker(listen=False)`, the behaviour before NOTIFY: a look every 0.5 s),
then listening; enqueues `--jobs` jobs one at a time, each once the previous has finished, with a random pause
so enqueues land anywhere in the poll cycle. The latency is the job's `started_at` (set by the claiming worker)
minus the enqueuing transaction's commit, on one clock. Prints one JSON object: per mode p50 / mean / p95 / max
in ms, and the ratio of the means.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from automl.jobs.registry import JobContext, known_kinds, register

ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
KIND = "bench_noop"


def noop(ctx: JobContext) -> None:
    pass


if KIND not in known_kinds():  # imported as `wakeup` by the workers, and run again as a forkserver's main
    register(KIND)(noop)


def _worker(mode: str) -> None:
    from automl.config import Settings
    from automl.jobs.worker import Worker

    Worker(Settings(), modules=("wakeup",), preload=(), listen=mode == "listen").run()


def _measure(url: str, data_dir: Path, mode: str, *, jobs: int, workers: int) -> list[float]:
    from sqlalchemy import select

    from automl.db import Database
    from automl.db.models import Job
    from automl.jobs import queue

    env = {**os.environ, "AUTOML_DATABASE_URL": url, "AUTOML_DATA_DIR": str(data_dir), "AUTOML_LOG_LEVEL": "WARNING",
           "PYTHONPATH": str(Path(__file__).parent)}
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", mode], env=env, start_new_session=True)
             for _ in range(workers)]
    db = Database(url)
    lat: list[float] = []
    try:
        time.sleep(3.0)  # the workers' forkservers start
        for i in range(jobs + 2):  # the first two warm up
            with db.session() as s:
                job_id = queue.enqueue(s, KIND, {}).id
            committed = datetime.now(UTC)
            deadline = time.monotonic() + 30
            while True:
                with db.session(readonly=True) as s:
                    status, started = s.execute(select(Job.status, Job.started_at).where(Job.id == job_id)).one()
                if status == "completed":
                    break
                assert time.monotonic() < deadline, f"job {job_id} not done ({status})"
                time.sleep(0.01)
            if i >= 2:
                lat.append((started - committed).total_seconds() * 1000)
            time.sleep(random.uniform(0.0, 0.6))
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            p.wait(15)
        db.dispose()
    return lat


def _summary(lat: list[float]) -> dict[str, float]:
    q = sorted(lat)
    return {"n": len(q), "p50_ms": round(statistics.median(q), 1), "mean_ms": round(statistics.fmean(q), 1),
            "p95_ms": round(q[int(0.95 * (len(q) - 1))], 1), "max_ms": round(q[-1], 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=40)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--admin-url", default=ADMIN, help="a database on the server, to create the scratch one")
    ap.add_argument("--worker", choices=["poll", "listen"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return _worker(args.worker)
    import tempfile

    from sqlalchemy import create_engine, make_url, text

    from automl.db.migrate import upgrade

    name = f"automl_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        with tempfile.TemporaryDirectory() as tmp:
            out = {mode: _summary(_measure(url, Path(tmp), mode, jobs=args.jobs, workers=args.workers))
                   for mode in ("poll", "listen")}
        out["workers"] = args.workers  # type: ignore[assignment]
        out["mean_ratio_poll_over_listen"] = round(out["poll"]["mean_ms"] / out["listen"]["mean_ms"], 1)  # type: ignore[assignment]
        print(json.dumps(out, indent=1))
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
