"""Job kinds and their handlers. A handler gets a JobContext and runs in a worker's child process, never in the API.

A kind may also register a status hook: it runs inside every transaction that changes one of its jobs' status
(claimed, re-queued, completed, failed, cancelled), so a domain row (an experiment, a batch prediction) mirrors
its job atomically, whichever process makes the change. The built-in kinds register when `automl.jobs.handlers`
is imported (the queue and the worker do); tests register more kinds the same way.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from automl.config import Settings
from automl.db import Database
from automl.db.models import Job, JobStatus
from automl.storage import Storage


class JobKind(StrEnum):
    EXPERIMENT = "experiment"
    BATCH_PREDICTION = "batch_prediction"


class JobCancelled(Exception):
    """Raised inside a handler when it notices that its job was cancelled."""


class JobFailed(Exception):
    """Raised by a handler for a user error: the job fails at once with this message (no retry, no traceback)."""


class JobLost(Exception):
    """Raised when this attempt no longer owns its job (lease expired and taken over, or cancelled)."""


class ProgressFn(Protocol):
    def __call__(self, stage: str, fraction: float, message: str = "") -> None: ...


@dataclass
class JobContext:
    """What a handler may use. It opens its own sessions from `db`; nothing crosses from a request."""

    job_id: int
    kind: str
    payload: dict[str, Any]
    attempt: int
    db: Database
    settings: Settings
    storage: Storage
    report_progress: ProgressFn
    should_stop: Callable[[], bool] = field(default=lambda: False)
    worker_id: str = ""
    claimed_at: float = field(default_factory=time.time)  # epoch seconds; budgets count from the claim

    def owns_job(self, session: Session) -> bool:
        """True while this attempt still holds the job; check it in the transaction that registers results.

        A pending cancel does not count: a model that finishes before the worker stops the child is kept.
        """
        row = session.execute(
            select(Job.status, Job.worker_id, Job.attempts).where(Job.id == self.job_id)
        ).one_or_none()
        return row is not None and tuple(row) == (JobStatus.RUNNING, self.worker_id, self.attempt)


Handler = Callable[[JobContext], None]
StatusHook = Callable[[Session, Job, Storage | None], None]
_HANDLERS: dict[str, Handler] = {}
_HOOKS: dict[str, StatusHook] = {}


def register(kind: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        if kind in _HANDLERS and _HANDLERS[kind] is not fn:
            raise ValueError(f"job kind {kind!r} already has a handler")
        _HANDLERS[kind] = fn
        return fn

    return deco


def on_status(kind: str) -> Callable[[StatusHook], StatusHook]:
    """Register `fn(session, job, storage)`, called in the transaction that changes a `kind` job's status."""

    def deco(fn: StatusHook) -> StatusHook:
        if kind in _HOOKS and _HOOKS[kind] is not fn:
            raise ValueError(f"job kind {kind!r} already has a status hook")
        _HOOKS[kind] = fn
        return fn

    return deco


def handler_for(kind: str) -> Handler:
    try:
        return _HANDLERS[kind]
    except KeyError:
        raise LookupError(f"no handler for job kind {kind!r}") from None


def status_hook_for(kind: str) -> StatusHook | None:
    return _HOOKS.get(kind)


def known_kinds() -> list[str]:
    return sorted(_HANDLERS)
