"""The job queue in the database: enqueue, atomic claim, lease renewal, completion, recovery and cancellation.

Every status change runs the kind's status hook in the same transaction (see registry.on_status) and sets the
job's progress, the one place progress is stored (handlers report the rest through their JobContext).
A claim is one transaction: pick the oldest queued job (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite
write transactions begin IMMEDIATE, so they are serialised) and flip it with a conditional UPDATE. Idle polling
(nothing queued, nothing expired) and the watch loop's reads are read-only sessions that take no write lock.
On PostgreSQL every change that makes a job claimable (enqueue, hand-back, re-queue) or asks a running one to
stop sends a NOTIFY in its own transaction (see jobs/notify.py), delivered on commit, which wakes idle workers.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from automl.db import Database
from automl.db.base import utcnow
from automl.db.models import ACTIVE, FINISHED, Job, JobStatus
from automl.jobs import handlers  # noqa: F401  (registers the built-in kinds' status hooks)
from automl.jobs.notify import CANCEL, QUEUED, notify
from automl.jobs.registry import status_hook_for
from automl.storage import Storage

log = logging.getLogger(__name__)

_END_MESSAGE = {JobStatus.COMPLETED: "Done", JobStatus.FAILED: "Failed", JobStatus.CANCELLED: "Cancelled"}


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    payload: dict[str, Any]
    attempt: int


def progress_value(stage: str, fraction: float, message: str) -> dict[str, Any]:
    """The shape of `Job.progress`, written by the queue and by the handlers' `report_progress`."""
    return {"stage": stage, "fraction": round(float(fraction), 4), "message": message}


def _ended(job: Job) -> None:
    last = (job.progress or {}).get("fraction", 0.0)
    fraction = 1.0 if job.status == JobStatus.COMPLETED else last
    job.progress = progress_value(job.status, fraction, _END_MESSAGE[job.status])


def _changed(session: Session, job: Job, storage: Storage | None) -> None:
    if job.status in FINISHED:
        _ended(job)
    session.flush()
    hook = status_hook_for(job.kind)
    if hook is not None:
        hook(session, job, storage)


def enqueue(session: Session, kind: str, payload: dict[str, Any], *, max_attempts: int = 3) -> Job:
    job = Job(kind=kind, payload=payload, status=JobStatus.QUEUED, max_attempts=max_attempts,
              progress=progress_value("queued", 0.0, "Waiting for a worker"))
    session.add(job)
    session.flush()
    notify(session, QUEUED)  # delivered when the caller commits
    return job


def _exists(db: Database, *where: Any) -> bool:
    """A read that takes no write lock: idle polling (claim, recovery) must not queue behind the writers."""
    with db.session(readonly=True) as s:
        return s.execute(select(Job.id).where(*where).limit(1)).first() is not None


def claim(db: Database, worker_id: str, *, lease_s: float, kinds: list[str], storage: Storage) -> Claimed | None:
    if not _exists(db, Job.status == JobStatus.QUEUED, Job.kind.in_(kinds)):
        return None
    with db.session() as s:
        job_id = s.execute(
            select(Job.id)
            .where(Job.status == JobStatus.QUEUED, Job.kind.in_(kinds))
            .order_by(Job.created_at, Job.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).scalar_one_or_none()
        if job_id is None:
            return None
        now = utcnow()
        won = s.execute(  # type: ignore[attr-defined]
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
            .values(status=JobStatus.RUNNING, worker_id=worker_id, attempts=Job.attempts + 1, started_at=now,
                    heartbeat_at=now, lease_expires_at=now + timedelta(seconds=lease_s), finished_at=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        if won != 1:
            return None
        job = s.get(Job, job_id, populate_existing=True)
        assert job is not None
        job.progress = progress_value("starting", 0.0, f"Attempt {job.attempts} started")
        _changed(s, job, storage)
        return Claimed(job.id, job.kind, dict(job.payload), job.attempts)


def renew(db: Database, worker_id: str, job_ids: list[int], *, lease_s: float) -> None:
    if not job_ids:
        return
    now = utcnow()
    with db.session() as s:
        s.execute(
            update(Job)
            .where(Job.id.in_(job_ids), Job.worker_id == worker_id, Job.status == JobStatus.RUNNING)
            .values(heartbeat_at=now, lease_expires_at=now + timedelta(seconds=lease_s))
            .execution_options(synchronize_session=False)
        )


def states(db: Database, job_ids: list[int]) -> dict[int, tuple[str, str | None, int, bool]]:
    """id -> (status, worker_id, attempts, cancel_requested) for the worker's watch loop."""
    if not job_ids:
        return {}
    with db.session(readonly=True) as s:
        rows = s.execute(
            select(Job.id, Job.status, Job.worker_id, Job.attempts, Job.cancel_requested).where(Job.id.in_(job_ids))
        )
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


def finish(
    db: Database, job: Claimed, worker_id: str, status: JobStatus, *, error: str | None = None, storage: Storage
) -> bool:
    """Record the outcome of an attempt, unless the job was taken from this worker meanwhile."""
    status = JobStatus(status)
    assert status.finished
    with db.session() as s:
        row = _owned(s, job, worker_id)
        if row is None:
            return False
        row.status, row.error, row.finished_at, row.lease_expires_at = status, error, utcnow(), None
        _changed(s, row, storage)
        return True


def retry_or_fail(db: Database, job: Claimed, worker_id: str, *, reason: str, storage: Storage) -> bool:
    """The attempt died (a crashed process): queue the job again, or fail it after its last attempt."""
    with db.session() as s:
        row = _owned(s, job, worker_id)
        if row is None:
            return False
        _retry_or_fail(s, row, reason, storage)
        return True


def release(db: Database, job: Claimed, worker_id: str, *, storage: Storage) -> bool:
    """Hand the job back (worker shutting down); the interrupted attempt is not counted."""
    with db.session() as s:
        row = _owned(s, job, worker_id)
        if row is None:
            return False
        if row.cancel_requested:
            row.status, row.finished_at = JobStatus.CANCELLED, utcnow()
        else:
            row.status, row.attempts = JobStatus.QUEUED, max(row.attempts - 1, 0)
            row.progress = progress_value("queued", 0.0, "Worker stopped; waiting for another")
            notify(s, QUEUED)
        row.worker_id = row.lease_expires_at = None
        _changed(s, row, storage)
        return True


def recover_expired(db: Database, *, storage: Storage) -> int:
    """Re-queue (or fail, after the last attempt) running jobs whose worker stopped renewing the lease."""
    if not _exists(db, Job.status == JobStatus.RUNNING, Job.lease_expires_at < utcnow()):
        return 0
    with db.session() as s:
        rows = s.scalars(
            select(Job)
            .where(Job.status == JobStatus.RUNNING, Job.lease_expires_at < utcnow())
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            log.warning("job lease expired", extra={"job_id": row.id, "worker": row.worker_id})
            if row.cancel_requested:
                row.status, row.finished_at = JobStatus.CANCELLED, utcnow()
                row.worker_id = row.lease_expires_at = None
                _changed(s, row, storage)
            else:
                _retry_or_fail(s, row, f"worker {row.worker_id} stopped responding (lease expired)", storage)
        return len(rows)


def request_cancel(session: Session, job: Job, *, storage: Storage | None) -> None:
    """Queued (or abandoned) jobs are cancelled at once; a running one is flagged for its worker to stop."""
    if job.status not in ACTIVE:
        return
    expired = job.lease_expires_at is not None and job.lease_expires_at < utcnow()
    if job.status == JobStatus.QUEUED or expired:
        job.status, job.finished_at, job.cancel_requested = JobStatus.CANCELLED, utcnow(), True
        job.worker_id = job.lease_expires_at = None
        _changed(session, job, storage)
    else:
        job.cancel_requested = True
        session.flush()
        notify(session, CANCEL)


def _owned(s: Session, job: Claimed, worker_id: str) -> Job | None:
    row = s.get(Job, job.id, with_for_update=True, populate_existing=True)
    if row is None or row.status != JobStatus.RUNNING or row.worker_id != worker_id or row.attempts != job.attempt:
        return None
    return row


def _retry_or_fail(s: Session, row: Job, reason: str, storage: Storage | None) -> None:
    if row.attempts < row.max_attempts:
        row.status, row.error = JobStatus.QUEUED, f"attempt {row.attempts} lost: {reason}"
        row.progress = progress_value("queued", 0.0, f"Retrying after: {reason}")
        notify(s, QUEUED)
    else:
        row.status, row.finished_at = JobStatus.FAILED, utcnow()
        row.error = f"Gave up after {row.attempts} attempts: {reason}"
    row.worker_id = row.lease_expires_at = None
    _changed(s, row, storage)
