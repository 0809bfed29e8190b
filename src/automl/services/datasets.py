"""Dataset use cases: upload (stream, parse once, keep Parquet, profile), list, detail, preview, delete."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from automl.config import Settings
from automl.db import Database
from automl.db.models import ACTIVE, BatchPrediction, Dataset, Experiment
from automl.errors import Conflict, NotFound
from automl.files import new_key
from automl.ingest.filenames import UploadedFile
from automl.ingest.growing import UploadProgress
from automl.ingest.jsonable import jsonable
from automl.ingest.limits import ParseLimits
from automl.ingest.pipeline import Ingested, ingest_upload
from automl.services import audit
from automl.services.permissions import Principal
from automl.storage import ObjectCorrupt, Storage

log = logging.getLogger(__name__)
MAX_PREVIEW_ROWS = 1000
PARQUET = ".parquet"


Receiver = Callable[[Path, UploadProgress], Awaitable[UploadedFile]]


def parse_limits(settings: Settings) -> ParseLimits:
    """The limits on one untrusted file, from the settings (AUTOML_MAX_CELLS, AUTOML_PARSE_MEMORY_MB, ...)."""
    return ParseLimits(max_cells=settings.max_cells, memory_mb=settings.parse_memory_mb,
                       timeout_s=settings.parse_timeout_s)


async def upload_dataset(receive: Receiver, *, db: Database, storage: Storage, by: Principal,
                         limits: ParseLimits | None = None) -> Dataset:
    """Convert the file `receive(path, progress)` writes to Parquet with its profile, and record it.

    The receiver (the API's multipart reader) writes the client's bytes to `path`, reporting to `progress`;
    parsing starts in the parsing sandbox (a child process with memory and time limits, see
    automl.ingest.sandbox) while they are still arriving, so the two overlap. Only the Parquet copy is kept; on
    any failure no file and no row are left behind.
    """
    key = new_key()
    raw, parquet = storage.upload(key), storage.scratch(key, PARQUET)  # local scratch, then into the store
    stored = storage.ref("datasets", key, PARQUET)
    storage.hold(raw, parquet, stored)  # the janitor keeps off files a request is writing
    progress = UploadProgress()
    ingesting = asyncio.ensure_future(run_in_threadpool(ingest_upload, raw, progress, parquet, limits))
    put = False
    try:
        t0 = time.perf_counter()
        try:
            upload = await receive(raw, progress)
        except BaseException:
            await asyncio.gather(ingesting, return_exceptions=True)  # let the reader stop before cleaning up
            raise
        log.info("received %s (%d bytes) in %.2fs", upload.filename, upload.size, time.perf_counter() - t0)
        ingested = await ingesting
        Storage.remove(raw)  # parsed: only the Parquet is kept
        put = True
        sha = await run_in_threadpool(storage.put_file, "datasets", key, parquet, suffix=PARQUET)
        dataset = await run_in_threadpool(_record_upload, db, key, upload, ingested, by, sha)  # off the event loop
        log.info("dataset %s uploaded: %s, %d rows x %d cols in %.2fs", dataset.id, upload.filename,
                 ingested.n_rows, ingested.n_cols, time.perf_counter() - t0)
        return dataset
    except BaseException:
        Storage.remove(parquet)
        if put:
            _delete_quietly(storage, [("datasets", f"{key}{PARQUET}")])
        raise
    finally:
        Storage.remove(raw)
        storage.release(raw, parquet, stored)


def _record_upload(db: Database, key: str, upload: UploadedFile, ingested: Ingested, by: Principal,
                   parquet_sha256: str) -> Dataset:
    with db.session() as session:
        dataset = Dataset(
            name=upload.filename, storage_key=key, source_format=ingested.source_format, size_bytes=upload.size,
            sha256=upload.sha256, parquet_sha256=parquet_sha256, n_rows=ingested.n_rows, n_cols=ingested.n_cols,
            profile=ingested.profile, created_by_id=by.user_id,
        )
        session.add(dataset)
        session.flush()
        audit.record(session, by, "dataset.upload", f"dataset {dataset.id} {upload.filename!r}")
    return dataset


def list_datasets(session: Session, *, limit: int = 50, offset: int = 0) -> tuple[Sequence[Dataset], int]:
    total = session.scalar(select(func.count()).select_from(Dataset)) or 0
    rows = session.scalars(
        select(Dataset).order_by(Dataset.created_at.desc(), Dataset.id.desc()).limit(limit).offset(offset)
    ).all()
    return rows, total


def get_dataset(session: Session, dataset_id: int) -> Dataset:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFound(f"dataset {dataset_id} not found")
    return dataset


def dataset_file(storage: Storage, dataset: Dataset) -> Path:
    """A local copy of the dataset's Parquet whose sha256 matches the recorded one (NotFound / Conflict)."""
    try:
        return storage.local_copy("datasets", dataset.storage_key, dataset.parquet_sha256, suffix=PARQUET)
    except FileNotFoundError:
        raise NotFound(f"the stored data of dataset {dataset.id} is missing; upload it again") from None
    except ObjectCorrupt:
        log.error("dataset %s: the stored Parquet does not match its sha256", dataset.id)
        raise Conflict(f"the stored data of dataset {dataset.id} is damaged (sha256 mismatch); upload it again"
                       ) from None


def preview(storage: Storage, dataset: Dataset, *, rows: int = 20) -> dict[str, Any]:
    """The first `rows` rows as records (JSON-safe values), read from the stored Parquet."""
    rows = max(0, min(rows, MAX_PREVIEW_ROWS))
    parquet = pq.ParquetFile(dataset_file(storage, dataset))
    names = parquet.schema_arrow.names
    records: list[dict[str, Any]] = []
    if rows:
        for batch in parquet.iter_batches(batch_size=rows):
            records = [{k: jsonable(v) for k, v in r.items()} for r in batch.slice(0, rows).to_pylist()]
            break
    return {"columns": names, "rows": records}


def delete_dataset(session: Session, storage: Storage, dataset_id: int, *, by: Principal) -> None:
    """Delete the dataset with its experiments, their models and prediction jobs, rows first, then files.

    Refused (409) while one of its experiments is queued or running.
    """
    dataset = session.scalars(select(Dataset).where(Dataset.id == dataset_id).with_for_update()).first()
    if dataset is None:
        raise NotFound(f"dataset {dataset_id} not found")
    by.require_owner(dataset.created_by_id, f"dataset {dataset_id}")
    experiments = session.scalars(select(Experiment).where(Experiment.dataset_id == dataset_id)).all()
    active = [e.id for e in experiments if e.status in ACTIVE]
    if active:
        raise Conflict(f"dataset {dataset_id} is in use by experiment(s) {active} that are queued or running;"
                       " cancel them or wait until they finish")
    files = [("datasets", f"{dataset.storage_key}{PARQUET}")]
    for experiment in experiments:
        for model in experiment.models:
            files.append(("artifacts", f"{model.artifact_key}.joblib"))
            batches = session.scalars(select(BatchPrediction).where(BatchPrediction.model_id == model.id)).all()
            for batch in batches:
                files.extend(_files_named(storage, batch.input_key, batch.output_key))
                session.delete(batch)
        session.delete(experiment)
    session.delete(dataset)
    audit.record(session, by, "dataset.delete", f"dataset {dataset_id} {dataset.name!r}")
    session.commit()  # rows go first: a crash now leaves unreachable files (the janitor's), never rows without files
    _delete_quietly(storage, files)


def _files_named(storage: Storage, *keys: str | None) -> list[tuple[str, str]]:
    """Objects a batch prediction may own: its input and output, whatever suffix they were stored with."""
    found: list[tuple[str, str]] = []
    for key in keys:
        if key and key.isalnum():
            found.extend((o.area, o.name) for o in storage.objects("predictions", prefix=key))
    return found


def _delete_quietly(storage: Storage, objects: list[tuple[str, str]]) -> None:
    """Delete store objects after their rows: one that cannot be deleted now is the janitor's later."""
    for area, name in objects:
        try:
            storage.delete(area, name)
        except Exception:  # noqa: BLE001 - the rows are gone already; an unreachable object is swept later
            log.warning("could not delete %s/%s now; the janitor will", area, name, exc_info=True)
