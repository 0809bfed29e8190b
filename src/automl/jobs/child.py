"""The child process that runs one job attempt.

It leads its own process group (so the worker can kill it together with any pool the engine starts, and a
terminal's Ctrl-C or the acceptance harness's SIGTERM to the API's group reaches the worker, which decides),
and it dies with its worker: a watchdog thread blocks on a pipe whose only write end the worker holds, so
`kill -9` of the worker leaves no orphan training forever.
"""
from __future__ import annotations

import importlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from typing import Any

from sqlalchemy import update

from automl.config import Settings
from automl.db import Database
from automl.db.base import utcnow
from automl.db.models import Job, JobStatus
from automl.jobs.queue import Claimed, progress_value
from automl.jobs.registry import JobCancelled, JobContext, JobFailed, JobLost, handler_for
from automl.logging import configure_logging
from automl.storage import Storage

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.5  # throttle progress writes to ~2 per second
CHILD_NICENESS = 10  # training yields the CPU to the API and to the workers' lease renewals


@dataclass(frozen=True)
class ChildSpec:
    job: Claimed
    worker_id: str
    settings: Settings
    claimed_at: float
    modules: tuple[str, ...] = field(default=())  # extra modules that register kinds (tests)


def _die_with_worker(alive: Connection) -> None:
    try:
        alive.recv()
    except (EOFError, OSError):
        pass
    os.killpg(os.getpgid(0), signal.SIGKILL)


def _progress_writer(db: Database, job: Claimed, worker_id: str) -> Any:
    """Throttled to ~2 writes a second (a new stage is always written), and only while this attempt owns the job."""
    last_at, last_stage = [0.0], [""]

    def report(stage: str, fraction: float, message: str = "") -> None:
        now = time.monotonic()
        if now - last_at[0] < PROGRESS_EVERY_S and stage == last_stage[0] and fraction < 1.0:
            return
        last_at[0], last_stage[0] = now, stage
        progress = progress_value(stage, fraction, message)
        with db.session() as s:
            s.execute(
                update(Job)
                .where(Job.id == job.id, Job.status == JobStatus.RUNNING, Job.worker_id == worker_id,
                       Job.attempts == job.attempt)
                .values(progress=progress, heartbeat_at=utcnow())
            )

    return report


def run_child(spec: ChildSpec, alive: Connection, result: Connection, stop: Event) -> None:
    """multiprocessing target: run the handler, send one (status, error) tuple back on `result`."""
    os.setpgid(0, 0)
    os.nice(CHILD_NICENESS)
    threading.Thread(target=_die_with_worker, args=(alive,), daemon=True, name="watchdog").start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(spec.settings.log_level, spec.settings.log_json)
    for name in spec.modules:
        importlib.import_module(name)
    db = Database(spec.settings.db_url)
    job = spec.job
    ctx = JobContext(
        job_id=job.id, kind=job.kind, payload=job.payload, attempt=job.attempt, db=db, settings=spec.settings,
        storage=Storage.from_settings(spec.settings), report_progress=_progress_writer(db, job, spec.worker_id),
        should_stop=stop.is_set, worker_id=spec.worker_id, claimed_at=spec.claimed_at,
    )
    try:
        handler_for(job.kind)(ctx)
        outcome: tuple[str, str | None] = (JobStatus.COMPLETED, None)
    except JobCancelled:
        outcome = (JobStatus.CANCELLED, None)
    except JobLost:
        outcome = ("lost", None)
    except JobFailed as exc:
        outcome = (JobStatus.FAILED, str(exc))
    except Exception as exc:  # noqa: BLE001 - any bug fails the job with a short message; the traceback is logged
        log.exception("job handler crashed", extra={"job_id": job.id, "kind": job.kind})
        outcome = (JobStatus.FAILED, f"Internal error: {type(exc).__name__}: {str(exc)[:300]}")
    finally:
        db.dispose()
    result.send(outcome)
