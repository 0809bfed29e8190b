"""LISTEN/NOTIFY on PostgreSQL: an idle worker claims a job within moments of its commit (its fallback poll is
5 s), keeps working when its listening connection is killed, and listens again once it reconnects."""
from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from jobtools import wait_for
from sqlalchemy import select, text

from automl.db.models import Job
from automl.jobs import queue

pytestmark = pytest.mark.postgres
QUICK_S = 1.0  # far below the 5 s fallback poll: only a notification explains a claim this fast


@pytest.fixture
def db_url(pg_url: str) -> str:
    return pg_url


def _claim_latency(job_db, log: Path) -> float:
    with job_db.session() as s:
        job_id = queue.enqueue(s, "test_sleep", {"log": str(log), "seconds": 0.01}).id
    committed = datetime.now(UTC)
    assert wait_for(lambda: _status(job_db, job_id) == "completed", 30, step=0.02)
    with job_db.session(readonly=True) as s:
        started = s.scalar(select(Job.started_at).where(Job.id == job_id))
    return (started - committed).total_seconds()


def _status(job_db, job_id: int) -> str:
    with job_db.session(readonly=True) as s:
        return s.scalar(select(Job.status).where(Job.id == job_id))


def _listeners(job_db) -> list[int]:
    with job_db.session(readonly=True) as s:
        return list(s.scalars(text("SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN automl_jobs%' "
                                   "AND datname = current_database()")))


def test_an_idle_worker_is_woken_by_notify_and_survives_losing_its_listener(job_db, start_worker,
                                                                           tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    start_worker()
    _claim_latency(job_db, log)  # the worker is up
    time.sleep(1.5)  # idle: its next look at the queue is seconds away
    latencies = [_claim_latency(job_db, log) for _ in range(3)]
    assert max(latencies) < QUICK_S, latencies
    pids = _listeners(job_db)
    assert len(pids) == 1
    with job_db.session() as s:
        s.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0]})
    assert _claim_latency(job_db, log) < 10  # polling meanwhile
    assert wait_for(lambda: len(_listeners(job_db)) == 1, 15)  # reconnected
    time.sleep(1.5)
    assert _claim_latency(job_db, log) < QUICK_S
