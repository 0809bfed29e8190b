"""Job handler for kind "batch_prediction": score the uploaded file in chunks into a CSV.

Bad input (unreadable file, missing columns) fails the job at once with a clear message (JobFailed);
a crashed process is retried by the queue from the stored input. The status hook mirrors the job's
status onto the BatchPrediction row in the same transaction, and removes the files of a batch that
failed or was cancelled for good, so nothing is left behind.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from automl.db.base import utcnow
from automl.db.models import BatchPrediction, Job, JobStatus, TrainedModel
from automl.ingest.limits import ParseLimits
from automl.jobs.registry import JobCancelled, JobContext, JobFailed, JobKind, on_status, register
from automl.observability import PREDICT_ROWS
from automl.serving.batch import BatchInputError, score_file
from automl.storage import Storage, new_key

log = logging.getLogger(__name__)


def input_path(storage: Storage, bp: BatchPrediction) -> Path:
    return storage.prediction(bp.input_key, ".input" + Path(bp.input_name).suffix.lower())


def output_path(storage: Storage, bp: BatchPrediction) -> Path | None:
    return storage.prediction(bp.output_key, ".csv") if bp.output_key else None


@register(JobKind.BATCH_PREDICTION)
def run_batch_prediction(ctx: JobContext) -> None:
    batch_id = int(ctx.payload["batch_prediction_id"])
    with ctx.db.session() as s:
        bp = s.get(BatchPrediction, batch_id)
        model = s.get(TrainedModel, bp.model_id) if bp is not None else None
        if bp is None or model is None:  # deleted meanwhile: nothing to do
            return
        src, filename, old_output = input_path(ctx.storage, bp), bp.input_name, output_path(ctx.storage, bp)
        artifact, sha256, schema = ctx.storage.artifact(model.artifact_key), model.artifact_sha256, model.input_schema
        signature = (model.artifact_hmac, model.artifact_key)
        bp.output_key, bp.error, bp.n_rows = None, None, None

    Storage.remove(old_output)  # a previous attempt that died half-way
    output_key = new_key()
    dest = ctx.storage.prediction(output_key, ".csv")
    try:
        n_rows = _score(ctx, artifact, sha256, schema, src, dest, filename=filename, signature=signature)
    except BatchInputError as exc:
        Storage.remove(dest)
        raise JobFailed(str(exc)) from None
    except BaseException:
        Storage.remove(dest)
        raise
    with ctx.db.session() as s:
        bp = s.get(BatchPrediction, batch_id)
        model = s.get(TrainedModel, bp.model_id) if bp is not None else None
        if bp is None or model is None:
            Storage.remove(dest, src)
            return
        bp.status, bp.n_rows, bp.output_key, bp.finished_at = JobStatus.COMPLETED, n_rows, output_key, utcnow()
        model.n_predictions = model.n_predictions + n_rows
    PREDICT_ROWS.labels(str(model.id), "batch").inc(n_rows)
    Storage.remove(src)  # the scored file carries the input columns


def _score(
    ctx: JobContext, artifact: Path, sha256: str, schema: list[Any], src: Path, dest: Path, *, filename: str,
    signature: tuple[str | None, str],
) -> int:
    from automl.engine.artifacts import load_model, signing_key
    from automl.engine.errors import ArtifactIntegrityError

    if not src.exists():
        raise BatchInputError("the uploaded file is gone")
    try:
        secret = ctx.settings.secret_key
        key = signing_key(ctx.storage.root, secret.get_secret_value() if secret else None)
        model = load_model(artifact, sha256, key=key, signature=signature[0], context=signature[1])
    except (FileNotFoundError, ArtifactIntegrityError) as exc:
        raise BatchInputError(f"the model artifact cannot be used: {exc}") from None
    classifier = getattr(model, "classes_", None) is not None

    def on_chunk(rows: int) -> None:
        if ctx.should_stop():
            raise JobCancelled()
        ctx.report_progress("scoring", 0.0, f"{rows:,} rows scored")

    limits = ParseLimits(max_cells=ctx.settings.max_cells, memory_mb=ctx.settings.parse_memory_mb,
                         timeout_s=ctx.settings.parse_timeout_s)  # as services.datasets.parse_limits
    return score_file(model, schema, src, dest, filename=filename, classifier=classifier, on_chunk=on_chunk,
                      limits=limits)


@on_status(JobKind.BATCH_PREDICTION)
def mirror_status(session: Session, job: Job, storage: Storage | None) -> None:
    """Keep the BatchPrediction's status in step with its job's."""
    bp = session.scalars(select(BatchPrediction).where(BatchPrediction.job_id == job.id)).first()
    if bp is None or bp.status == JobStatus.COMPLETED:
        return
    if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        bp.status, bp.finished_at = job.status, None
    elif job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
        bp.status, bp.finished_at = job.status, utcnow()
        bp.error = job.error or str(job.status)
        if storage is not None:
            Storage.remove(input_path(storage, bp), output_path(storage, bp))
        bp.output_key = None
    elif job.status == JobStatus.COMPLETED:  # the handler found nothing to do (row deleted meanwhile)
        bp.status, bp.finished_at = JobStatus.COMPLETED, bp.finished_at or utcnow()
