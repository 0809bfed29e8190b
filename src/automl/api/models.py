"""Trained models: read, list, deploy/undeploy, export (zip of artifact + card) and the model card."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from automl.api.deps import (
    DbDep,
    IdPath,
    IdQuery,
    Offset,
    PrincipalDep,
    SessionDep,
    StorageDep,
    WriteSessionDep,
    allow,
)
from automl.schemas.insights import InsightsPublic
from automl.schemas.models import BatchList, DeployRequest, ModelList, ModelPublic
from automl.services import audit, export, insights, models, predictions
from automl.services.permissions import Permission
from automl.services.serving import ServingRuntime
from automl.storage import Storage

router = APIRouter(prefix="/api/models", tags=["models"])
READ = [allow(Permission.READ)]
WRITE = [allow(Permission.WRITE)]


def _runtime(request: Request) -> ServingRuntime | None:
    return getattr(request.app.state, "serving", None)


def _public(request: Request, session: SessionDep, model: object) -> dict[str, object]:
    runtime = _runtime(request)
    pending = runtime.pending(model.id) if runtime is not None else 0  # type: ignore[attr-defined]
    return models.model_public(session, model, pending_predictions=pending)  # type: ignore[arg-type]


@router.get("", response_model=ModelList, dependencies=READ)
def list_models(
    request: Request,
    session: SessionDep,
    deployed: bool | None = None,
    experiment_id: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> dict[str, object]:
    rows, total = models.list_models(session, deployed=deployed, experiment_id=experiment_id, limit=limit,
                                     offset=offset)
    return {"items": [_public(request, session, m) for m in rows], "total": total}


@router.get("/{model_id}", response_model=ModelPublic, dependencies=READ)
def get_model(model_id: IdPath, request: Request, session: SessionDep) -> dict[str, object]:
    return _public(request, session, models.get_model(session, model_id))


@router.get("/{model_id}/insights", response_model=InsightsPublic, dependencies=READ)
def get_insights(model_id: IdPath, db: DbDep, storage: StorageDep) -> dict[str, object]:
    """Partial dependence, calibration, lift/gain, the threshold table (binary) and the SHAP summary on the rows
    the model was evaluated on; computed on the first request (seconds), then cached with the model."""
    return insights.model_insights(db, storage, model_id)


@router.post("/{model_id}/deploy", response_model=ModelPublic, dependencies=WRITE)
def deploy(
    model_id: IdPath, request: Request, session: SessionDep, storage: StorageDep, principal: PrincipalDep,
    body: Annotated[DeployRequest | None, Body()] = None,
) -> dict[str, object]:
    """Checks the artifact's sha256; deploying for the API also loads and warms the model. `threshold` (binary
    models) is the decision threshold every prediction of the model uses from then on."""
    body = body or DeployRequest(api=None, batch=None)
    runtime = _runtime(request)
    threshold = body.threshold if "threshold" in body.model_fields_set else ...
    model = models.deploy(session, storage, runtime.cache if runtime else None, model_id, api=body.api,
                          batch=body.batch, by=principal, threshold=threshold)
    return _public(request, session, model)


@router.post("/{model_id}/undeploy", response_model=ModelPublic, dependencies=WRITE)
def undeploy(
    model_id: IdPath, request: Request, session: SessionDep, principal: PrincipalDep,
    body: Annotated[DeployRequest | None, Body()] = None,
) -> dict[str, object]:
    body = body or DeployRequest(api=None, batch=None)
    runtime = _runtime(request)
    model = models.undeploy(session, runtime.cache if runtime else None, model_id, api=body.api, batch=body.batch,
                            by=principal)
    return _public(request, session, model)


@router.get("/{model_id}/download", response_class=FileResponse, dependencies=WRITE)
def download(model_id: IdPath, session: WriteSessionDep, storage: StorageDep, principal: PrincipalDep) -> FileResponse:
    """A zip: `model.joblib` (the whole fitted pipeline) and `model_card.json`; see docs/serving.md."""
    path, name = export.export_zip(session, storage, model_id)
    audit.record(session, principal, "model.download", f"model {model_id}")
    return FileResponse(path, media_type="application/zip", filename=name,
                        background=BackgroundTask(Storage.remove, path))


@router.get("/{model_id}/card", dependencies=READ)
def card(model_id: IdPath, session: SessionDep) -> dict[str, object]:
    """The model card: input schema, classes, metrics, library versions, artifact sha256."""
    return export.model_card(session, model_id)


@router.get("/{model_id}/batch-predictions", response_model=BatchList, dependencies=READ)
def batch_predictions(model_id: IdPath, session: SessionDep) -> dict[str, object]:
    rows = predictions.list_batches(session, model_id)
    return {"items": [predictions.batch_public(bp) for bp in rows], "total": len(rows)}
