"""`/metrics` in the Prometheus text format: HTTP, per-model prediction and job-queue figures."""
from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy import func, select

from automl.api.deps import SessionDep, allow
from automl.db.models import BatchPrediction, Job
from automl.observability import CACHED_BYTES, CACHED_MODELS, render, set_queue_gauges
from automl.services.permissions import Permission

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False, dependencies=[allow(Permission.METRICS)])
def metrics(request: Request, session: SessionDep) -> Response:
    jobs = session.execute(select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)).all()
    batches = session.execute(select(BatchPrediction.status, func.count()).group_by(BatchPrediction.status)).all()
    set_queue_gauges({(k, s): n for k, s, n in jobs}, {s: n for s, n in batches})
    runtime = getattr(request.app.state, "serving", None)
    if runtime is not None:
        CACHED_MODELS.set(len(runtime.cache.ids()))
        CACHED_BYTES.set(runtime.cache.total_bytes)
    body, content_type = render()
    return Response(body, media_type=content_type)
