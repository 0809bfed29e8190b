"""Experiments: create (queued for a worker), list, read with the leaderboard, cancel, live events (SSE)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from automl.api.deps import DbDep, IdPath, IdQuery, Offset, PrincipalDep, SessionDep, StorageDep, allow
from automl.schemas.experiments import ExperimentCreate, ExperimentList, ExperimentPublic, LeaderboardRow, Queued
from automl.services import experiments as svc
from automl.services.experiment_events import event_stream
from automl.services.permissions import Permission

router = APIRouter(prefix="/api/experiments", tags=["experiments"])
READ = [allow(Permission.READ)]
WRITE = [allow(Permission.WRITE)]


@router.post("", status_code=202, response_model=Queued, dependencies=WRITE)
def create_experiment(body: ExperimentCreate, session: SessionDep, storage: StorageDep,
                      principal: PrincipalDep) -> Queued:
    exp = svc.create_experiment(session, storage, body, by=principal)
    return Queued(id=exp.id, status=exp.status)


@router.get("", response_model=ExperimentList, dependencies=READ)
def list_experiments(
    session: SessionDep,
    dataset_id: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> dict:
    items, total = svc.list_experiments(session, dataset_id=dataset_id, limit=limit, offset=offset)
    return {"items": [svc.summary(e) for e in items], "total": total}


@router.get("/{exp_id}", response_model=ExperimentPublic, dependencies=READ)
def get_experiment(exp_id: IdPath, session: SessionDep) -> dict:
    return svc.public(session, svc.get_experiment(session, exp_id))


@router.get("/{exp_id}/leaderboard", response_model=list[LeaderboardRow], dependencies=READ)
def get_leaderboard(exp_id: IdPath, session: SessionDep) -> list[dict]:
    return svc.leaderboard(session, svc.get_experiment(session, exp_id))


@router.post("/{exp_id}/cancel", response_model=ExperimentPublic, status_code=202, dependencies=WRITE)
def cancel_experiment(exp_id: IdPath, session: SessionDep, storage: StorageDep, principal: PrincipalDep) -> dict:
    """Editors cancel what they started; admins anything."""
    exp, pending = svc.cancel_experiment(session, storage, exp_id, by=principal)
    return {**svc.public(session, exp), "cancel_requested": pending}


class EventStream(StreamingResponse):
    media_type = "text/event-stream"  # so /openapi.json documents what the route sends


_EVENT = {"type": "object", "required": ["event", "data"], "properties": {
    "event": {"type": "string", "enum": ["progress", "model", "leaderboard", "status"]},
    "data": {"type": "string", "description": "JSON"}}}


_EVENTS = {200: {"description": "Server-sent events", "content": {"text/event-stream": {"schema": _EVENT}}}}


@router.get("/{exp_id}/events", dependencies=READ, response_class=EventStream, responses=_EVENTS)
def experiment_events(exp_id: IdPath, request: Request, db: DbDep) -> EventStream:
    """Server-sent events: `progress`, `model` (a leaderboard row) and `status`; ends when the experiment does."""
    with db.session() as session:
        svc.get_experiment(session, exp_id)  # 404 before the stream starts
    return EventStream(
        event_stream(db, exp_id, is_disconnected=request.is_disconnected),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
