"""The server-sent-event stream of one experiment: a small poller over the database (reads in a threadpool)."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from automl.db import Database
from automl.db.models import FINISHED
from automl.services import experiments as svc

POLL_S = 0.5
KEEPALIVE_S = 15.0


def _snapshot(db: Database, exp_id: int) -> dict[str, Any] | None:
    with db.session(readonly=True) as session:
        exp = session.get(svc.Experiment, exp_id)
        return None if exp is None else svc.public(session, exp)


def _default(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data, default=_default)}\n\n"


async def event_stream(
    db: Database, exp_id: int, *, is_disconnected: Callable[[], Awaitable[bool]], poll_s: float = POLL_S
) -> AsyncIterator[str]:
    sent_models: set[int] = set()
    last_progress: Any = None
    last_status: Any = None
    idle = 0.0
    while True:
        snap = await run_in_threadpool(_snapshot, db, exp_id)
        if snap is None:
            yield _event("status", {"status": "deleted"})
            return
        out = []
        if snap["status"] != last_status:
            last_status = snap["status"]
            out.append(_event("status", {k: snap[k] for k in ("status", "attempts", "error", "finished_at")}))
        if snap["progress"] != last_progress:
            last_progress = snap["progress"]
            out.append(_event("progress", last_progress))
        for row in snap["leaderboard"]:
            if row["model_id"] not in sent_models:
                sent_models.add(row["model_id"])
                out.append(_event("model", row))
        if out:
            idle = 0.0
            yield "".join(out)
        if snap["status"] in FINISHED:
            yield _event("leaderboard", snap["leaderboard"])
            return
        if await is_disconnected():
            return
        await asyncio.sleep(poll_s)
        idle += poll_s
        if idle >= KEEPALIVE_S:
            idle = 0.0
            yield ": keep-alive\n\n"
