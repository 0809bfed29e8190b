"""Predictions: the low-latency predict route, batch scoring uploads and their downloads.

The predict route parses its body with orjson and answers with orjson (no Pydantic round trip on the hot
path); validation, the model lookup (in-memory cache) and the CPU-bound predict run in the threadpool.
"""
from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from automl.api.bodylimit import discard_body
from automl.api.deps import DbDep, IdPath, PrincipalDep, SessionDep, SettingsDep, StorageDep, WriteSessionDep, allow
from automl.api.errors import status_of
from automl.api.uploads import receive_upload
from automl.errors import DomainError, NotFound, Unprocessable
from automl.files import new_key
from automl.ingest import SUFFIXES
from automl.observability import PREDICT_ERRORS, PREDICT_REQUESTS
from automl.schemas.models import BatchPublic, BatchQueued, PredictRequest, PredictResponse
from automl.services import predictions
from automl.services.apikeys import secret_from_headers
from automl.services.permissions import Permission
from automl.services.serving import ServingRuntime
from automl.storage import Storage

router = APIRouter(tags=["predictions"])
JSON_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
AuthHeader = Annotated[str | None, Header(description="Bearer <API token>")]
KeyHeader = Annotated[str | None, Header(alias="X-API-Key")]


def _runtime(request: Request) -> ServingRuntime:
    return request.app.state.serving  # type: ignore[no-any-return]


@router.post(
    "/api/v1/predict/{model_id}",
    response_model=PredictResponse,
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": PredictRequest.model_json_schema()}}}},
    dependencies=[allow(Permission.PREDICT)],
    responses={401: {"description": "API token missing or invalid"},
               403: {"description": "Not deployed, or the token may not use this model"},
               404: {"description": "Unknown model"}, 422: {"description": "Missing columns or wrong types"}},
)
async def predict(
    model_id: IdPath, request: Request, principal: PrincipalDep, authorization: AuthHeader = None,
    x_api_key: KeyHeader = None,
) -> Response:
    """Who may call and whether the model is served are settled before a byte of the body is read (its
    size is bounded by AUTOML_MAX_JSON_MB as it arrives, api/bodylimit.py)."""
    runtime, secret = _runtime(request), secret_from_headers(authorization, x_api_key)
    try:
        try:
            loaded = await run_in_threadpool(predictions.open_model, runtime, model_id, by=principal, api_key=secret)
        except DomainError:
            await discard_body(request)
            raise
        out = await run_in_threadpool(predictions.predict, runtime, model_id, _json(await request.body()),
                                      by=principal, api_key=secret, loaded=loaded)
    except DomainError as exc:
        label = "unknown" if isinstance(exc, NotFound) else str(model_id)  # client ids must not create series
        status = str(status_of(exc))
        PREDICT_ERRORS.labels(label, status).inc()
        PREDICT_REQUESTS.labels(label, status).inc()
        raise
    PREDICT_REQUESTS.labels(str(model_id), "200").inc()
    return Response(orjson.dumps(out, option=JSON_OPTS), media_type="application/json")


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Unprocessable(f"the body is not valid JSON: {exc}") from None


@router.post("/api/v1/predict/{model_id}/batch", status_code=202, response_model=BatchQueued,
             dependencies=[allow(Permission.WRITE)])
async def submit_batch(
    model_id: IdPath, request: Request, db: DbDep, storage: StorageDep, settings: SettingsDep, principal: PrincipalDep,
    authorization: AuthHeader = None, x_api_key: KeyHeader = None,
) -> dict[str, object]:
    """Multipart field `file` (.csv .tsv .txt .parquet .xlsx .xls); scored by a worker, then downloadable. Optional
    field `explain_top_k` (0-10, default 0): each row's k largest contributions as `reason_i` columns."""
    runtime = _runtime(request)
    try:
        await run_in_threadpool(predictions.authorize, runtime, principal, model_id,
                                secret_from_headers(authorization, x_api_key), Permission.WRITE)
        await run_in_threadpool(predictions.check_batch_deployed, db, model_id)
    except DomainError:
        async for _ in request.stream():  # read the upload out, so the client gets the answer, not a reset
            pass
        raise
    received = storage.upload(new_key())
    received.parent.mkdir(parents=True, exist_ok=True)
    form = {"explain_top_k": "0"}
    upload = await receive_upload(request, received, max_bytes=settings.max_upload_mb << 20, suffixes=SUFFIXES,
                                  form=form)
    bp = await run_in_threadpool(predictions.submit_batch, db, storage, model_id, upload.path,
                                 filename=upload.filename, by=principal, top_k=form["explain_top_k"])
    return {"id": bp.id, "status": bp.status}


@router.get("/api/batch-predictions/{batch_id}", response_model=BatchPublic, dependencies=[allow(Permission.READ)])
def get_batch(batch_id: IdPath, session: SessionDep) -> dict[str, object]:
    return predictions.batch_public(predictions.get_batch(session, batch_id))


@router.get("/api/batch-predictions/{batch_id}/download", response_class=FileResponse,
            dependencies=[allow(Permission.WRITE)])
def download_batch(
    batch_id: IdPath, session: WriteSessionDep, storage: StorageDep, principal: PrincipalDep
) -> Response:
    """CSV: the input columns, `prediction`, then `proba_<class>` per class, then the `reason_i`,
    `reason_i_contribution` columns asked for (formulas neutralised)."""
    key, name = predictions.download(session, storage, batch_id, by=principal)
    return stored_file("predictions", key, storage=storage, suffix=predictions.OUTPUT, media_type="text/csv",
                       filename=name)


def stored_file(area: str, key: str, *, storage: Storage, suffix: str, media_type: str, filename: str) -> Response:
    """A store object as an attachment, streamed: a FileResponse from a local folder, else chunks read from the
    object store as the client takes them (never the whole object in memory)."""
    if not storage.remote:
        return FileResponse(storage.path(area, key, suffix), media_type=media_type, filename=filename)
    size = storage.size(area, key, suffix=suffix)
    if size is None:
        raise NotFound(f"{filename}: the stored file is gone")
    quoted = quote(filename)
    disposition = (f'attachment; filename="{filename}"' if quoted == filename
                   else f"attachment; filename*=utf-8''{quoted}")
    return StreamingResponse(storage.iter_bytes(area, key, suffix=suffix), media_type=media_type,
                             headers={"content-disposition": disposition, "content-length": str(size)})


@router.delete("/api/batch-predictions/{batch_id}", status_code=204, dependencies=[allow(Permission.WRITE)])
def delete_batch(batch_id: IdPath, session: SessionDep, storage: StorageDep, principal: PrincipalDep) -> Response:
    predictions.delete_batch(session, storage, batch_id, by=principal)
    return Response(status_code=204)


