"""Datasets: upload (multipart, streamed), list, detail with profile, preview, delete."""
from __future__ import annotations

import contextlib
from collections.abc import Awaitable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from automl.api.deps import DbDep, IdPath, Offset, PrincipalDep, SessionDep, SettingsDep, StorageDep, allow
from automl.api.uploads import receive_upload
from automl.errors import InsufficientStorage
from automl.files import full_disk_as_507, is_disk_full
from automl.ingest import SUFFIXES
from automl.ingest.filenames import UploadedFile
from automl.ingest.growing import UploadProgress
from automl.schemas.datasets import DatasetList, DatasetPreview, DatasetPublic, DatasetSummary
from automl.schemas.leakage import LeakageAudit
from automl.services import audit_leakage, datasets
from automl.services.permissions import Permission

router = APIRouter(prefix="/api/datasets", tags=["datasets"])

# The body is parsed by hand (streamed to disk), so describe it for /docs explicitly.
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary",
                                    "description": ".csv .tsv .txt .xlsx .xls or .parquet"}},
        }}},
    }
}


@router.post("/upload", status_code=201, response_model=DatasetPublic, openapi_extra=_UPLOAD_BODY,
             dependencies=[allow(Permission.WRITE)],
             responses={413: {"description": "over AUTOML_MAX_UPLOAD_MB"}, 415: {"description": "unsupported type"},
                        507: {"description": "the data disk is full; nothing was kept"}})
async def upload_dataset(request: Request, db: DbDep, storage: StorageDep, settings: SettingsDep,
                         principal: PrincipalDep) -> DatasetPublic:
    def receive(dest: Path, progress: UploadProgress) -> Awaitable[UploadedFile]:
        return receive_or_507(request, dest, max_bytes=settings.max_upload_mb << 20, suffixes=SUFFIXES,
                              progress=progress)

    with full_disk_as_507():  # ENOSPC while parsing or storing, SQLITE_FULL on the insert: 507, nothing kept
        dataset = await datasets.upload_dataset(receive, db=db, storage=storage, by=principal,
                                                limits=datasets.parse_limits(settings))
    return DatasetPublic.of(dataset)


async def receive_or_507(request: Request, dest: Path, **kwargs: Any) -> UploadedFile:
    """`receive_upload`, but a full disk is a 507 sent after the rest of the body is read (not a 500 and a
    connection reset); the partial file is already gone."""
    try:
        return await receive_upload(request, dest, **kwargs)
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        with contextlib.suppress(Exception):
            async for _ in request.stream():
                pass
        raise InsufficientStorage() from exc


@router.get("", response_model=DatasetList, dependencies=[allow(Permission.READ)])
def list_datasets(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> DatasetList:
    rows, total = datasets.list_datasets(session, limit=limit, offset=offset)
    return DatasetList(items=[DatasetSummary.of(d) for d in rows], total=total)


@router.get("/{dataset_id}", response_model=DatasetPublic, dependencies=[allow(Permission.READ)])
def get_dataset(dataset_id: IdPath, session: SessionDep) -> DatasetPublic:
    return DatasetPublic.of(datasets.get_dataset(session, dataset_id))


@router.get("/{dataset_id}/preview", response_model=DatasetPreview, dependencies=[allow(Permission.READ)])
def preview_dataset(
    dataset_id: IdPath, session: SessionDep, storage: StorageDep,
    rows: Annotated[int, Query(ge=0, le=datasets.MAX_PREVIEW_ROWS)] = 20,
) -> DatasetPreview:
    dataset = datasets.get_dataset(session, dataset_id)
    return DatasetPreview(**datasets.preview(storage, dataset, rows=rows))


@router.get("/{dataset_id}/audit", response_model=LeakageAudit, dependencies=[allow(Permission.READ)],
            responses={422: {"description": "unknown target column"}})
def audit_dataset(
    dataset_id: IdPath, session: SessionDep, storage: StorageDep,
    target: Annotated[str, Query(min_length=1, max_length=1000, description="The target column.")],
) -> LeakageAudit:
    """Leakage audit for training on `target`: columns that leak it, id-like columns, duplicate rows, dates."""
    dataset = datasets.get_dataset(session, dataset_id)
    return LeakageAudit(**audit_leakage.audit_dataset(storage, dataset, target))


@router.delete("/{dataset_id}", status_code=204, dependencies=[allow(Permission.WRITE)])
def delete_dataset(dataset_id: IdPath, session: SessionDep, storage: StorageDep, principal: PrincipalDep) -> Response:
    """Editors delete what they created; admins anything."""
    datasets.delete_dataset(session, storage, dataset_id, by=principal)
    return Response(status_code=204)
