"""Job kinds and their handlers. A handler gets a JobContext and runs in a worker process, never in the API."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from automl.config import Settings
from automl.db import Database
from automl.storage import Storage


class JobCancelled(Exception):
    """Raised inside a handler when it notices that its job was cancelled."""


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


Handler = Callable[[JobContext], None]
_HANDLERS: dict[str, Handler] = {}


def register(kind: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        if kind in _HANDLERS and _HANDLERS[kind] is not fn:
            raise ValueError(f"job kind {kind!r} already has a handler")
        _HANDLERS[kind] = fn
        return fn

    return deco


def handler_for(kind: str) -> Handler:
    import automl.jobs.handlers  # noqa: F401  (imports every module that registers a kind)

    try:
        return _HANDLERS[kind]
    except KeyError:
        raise LookupError(f"no handler for job kind {kind!r}") from None
