"""The queue with real worker processes: exactly-once under concurrency, crash recovery, cancel, SIGTERM, retries."""
from __future__ import annotations

import os
import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from jobtools import LEASE_S, pid_alive, wait_for
from sqlalchemy import update

from automl.db.base import utcnow
from automl.db.models import Job
from automl.jobs import queue
from automl.storage import Storage


def _enqueue(db, n: int, log: Path, **payload) -> list[int]:
    with db.session() as s:
        return [queue.enqueue(s, "test_sleep", {"log": str(log), **payload}).id for _ in range(n)]


def _statuses(db, ids: list[int]) -> dict[int, str]:
    with db.session() as s:
        return {i: s.get(Job, i).status for i in ids}


def _job(db, job_id: int) -> Job:
    with db.session() as s:
        return s.get(Job, job_id)


def _runs(log: Path, what: str) -> list[tuple[int, int, int]]:
    lines = log.read_text().splitlines() if log.exists() else []
    return [tuple(map(int, ln.split()[1:])) for ln in lines if ln.startswith(what + " ")]  # (job, attempt, pid)


def test_three_workers_run_twelve_jobs_exactly_once(job_db, start_worker, tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    ids = _enqueue(job_db, 12, log, seconds=0.3)
    for _ in range(3):
        start_worker()
    assert wait_for(lambda: set(_statuses(job_db, ids).values()) == {"completed"}, 90)
    done = Counter(job for job, _, _ in _runs(log, "done"))
    started = Counter(job for job, _, _ in _runs(log, "start"))
    assert done == started == Counter(ids)  # each job ran once and only once
    with job_db.session() as s:
        workers = {s.get(Job, i).attempts for i in ids}
    assert workers == {1}


def _owner_pid(db, job_id: int) -> int:
    return int(_job(db, job_id).worker_id.split(":")[1])  # worker ids are host:pid:nonce


def test_kill_9_and_sigterm_of_workers_mid_job(job_db, start_worker, tmp_path: Path) -> None:
    """kill -9: the child dies with its worker and another worker runs the job again after the lease (attempt 2).
    SIGTERM: the worker hands its job back at once, not counted as an attempt, and another worker finishes it."""
    log = tmp_path / "runs.log"
    [job_id] = _enqueue(job_db, 1, log, seconds=4)
    workers = {p.pid: p for p in (start_worker(), start_worker())}
    assert wait_for(lambda: _runs(log, "start"), 60)
    child = _runs(log, "start")[0][2]
    os.kill(_owner_pid(job_db, job_id), signal.SIGKILL)  # the worker alone: its child must notice and die too
    assert wait_for(lambda: not pid_alive(child), 5), "the job's child process outlived its worker"
    assert wait_for(lambda: _job(job_db, job_id).status == "completed", LEASE_S + 30)
    assert _job(job_db, job_id).attempts == 2
    assert [r[1] for r in _runs(log, "done")] == [2]

    log = tmp_path / "runs2.log"
    [job_id] = _enqueue(job_db, 1, log, seconds=3)
    new = start_worker()
    workers[new.pid] = new
    assert wait_for(lambda: _runs(log, "start"), 60)
    owner = workers[_owner_pid(job_db, job_id)]
    t0 = time.monotonic()
    owner.send_signal(signal.SIGTERM)
    owner.wait(10)
    assert time.monotonic() - t0 < 5
    assert not pid_alive(_runs(log, "start")[0][2])
    assert wait_for(lambda: _job(job_db, job_id).status == "completed", 60)  # the other worker finishes it
    assert _job(job_db, job_id).attempts == 1  # the interrupted attempt did not count
    assert [r[1] for r in _runs(log, "done")] == [1]


def test_cancel_and_handler_errors(job_db, start_worker, tmp_path: Path) -> None:
    """A running job is cancelled within 5 s (even one that ignores should_stop), a queued one at once;
    a handler's JobFailed fails its job with the message and no retry."""
    log = tmp_path / "runs.log"
    running, waiting = _enqueue(job_db, 2, log, seconds=60, ignore_stop=True)
    [failing] = _enqueue(job_db, 1, log, seconds=0.1, fail=True)
    start_worker()
    assert wait_for(lambda: _job(job_db, running).status == "running", 60)
    with job_db.session() as s:
        queue.request_cancel(s, s.get(Job, waiting), storage=None)
    assert _job(job_db, waiting).status == "cancelled"
    t0 = time.monotonic()
    with job_db.session() as s:
        queue.request_cancel(s, s.get(Job, running), storage=None)
    assert wait_for(lambda: _job(job_db, running).status == "cancelled", 5)
    assert time.monotonic() - t0 < 5
    assert not pid_alive(_runs(log, "start")[0][2])
    assert wait_for(lambda: _job(job_db, failing).status == "failed", 30)
    job = _job(job_db, failing)
    assert (job.error, job.attempts) == ("asked to fail", 1)
    assert [r[0] for r in _runs(log, "start")] == [running, failing]


def test_expired_leases_are_retried_then_failed_with_the_reason(job_db, job_settings, tmp_path) -> None:
    storage = Storage(job_settings.data_dir)
    [job_id] = _enqueue(job_db, 1, tmp_path / "runs.log")
    for attempt in (1, 2, 3):
        claimed = queue.claim(job_db, "ghost", lease_s=60, kinds=["test_sleep"], storage=storage)
        assert claimed is not None and claimed.attempt == attempt
        assert queue.claim(job_db, "other", lease_s=60, kinds=["test_sleep"], storage=storage) is None
        queue.recover_expired(job_db, storage=storage)
        assert _job(job_db, job_id).status == "running"  # lease still valid
        with job_db.session() as s:
            s.execute(update(Job).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
        assert queue.recover_expired(job_db, storage=storage) == 1
    job = _job(job_db, job_id)
    assert job.status == "failed" and job.attempts == 3
    assert "lease expired" in job.error and "3 attempts" in job.error
    # the dead worker's late report changes nothing
    assert not queue.finish(job_db, claimed, "ghost", "completed", storage=storage)
