"""Job handler for kind "batch_prediction": score the uploaded file in chunks into a CSV.

Bad input (unreadable file, missing columns) fails the job at once with a clear message (JobFailed);
a crashed process is retried by the queue from the stored input. The status hook mirrors the job's
status onto the BatchPrediction row in the same transaction, and removes the files of a batch that
failed or was cancelled for good, so nothing is left behind.
"""
from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from automl.db.base import utcnow
from automl.db.models import BatchPrediction, Job, JobStatus, TrainedModel
from automl.files import new_key
from automl.ingest.limits import ParseLimits
from automl.jobs.registry import JobCancelled, JobContext, JobFailed, JobKind, on_status, register
from automl.observability import PREDICT_ROWS
from automl.serving.batch import BatchInputError, score_file
from automl.storage import ObjectCorrupt, Storage

log = logging.getLogger(__name__)


OUTPUT = ".csv"


def input_suffix(bp: BatchPrediction) -> str:
    """The input object is `predictions/<input_key><suffix>`, keeping the client's file type."""
    return ".input" + Path(bp.input_name).suffix.lower()


def remove_files(storage: Storage, bp: BatchPrediction) -> None:
    """Delete a batch's input and output objects from the store (gone already is fine). Called with the rows'
    transaction open: an object that cannot be deleted now (the store unreachable) is logged and left to the
    janitor rather than failing the status change."""
    names = [f"{bp.input_key}{input_suffix(bp)}", *([f"{bp.output_key}{OUTPUT}"] if bp.output_key else [])]
    for name in names:
        try:
            storage.delete("predictions", name)
        except Exception:  # noqa: BLE001 - unreferenced once the rows change: the janitor's
            log.warning("could not delete predictions/%s now; the janitor will", name, exc_info=True)


@register(JobKind.BATCH_PREDICTION)
def run_batch_prediction(ctx: JobContext) -> None:
    batch_id = int(ctx.payload["batch_prediction_id"])
    with ctx.db.session() as s:
        bp = s.get(BatchPrediction, batch_id)
        model = s.get(TrainedModel, bp.model_id) if bp is not None else None
        if bp is None or model is None:  # deleted meanwhile: nothing to do
            return
        src, filename, old_output = (bp.input_key, input_suffix(bp)), bp.input_name, bp.output_key
        artifact = _Artifact(model.artifact_key, model.artifact_sha256, model.artifact_hmac, model.threshold)
        schema = model.input_schema
        bp.output_key, bp.error, bp.n_rows = None, None, None

    storage = ctx.storage
    if old_output:  # a previous attempt that died half-way
        storage.delete("predictions", f"{old_output}{OUTPUT}")
    output_key = new_key()
    dest = storage.scratch(output_key, OUTPUT)  # scored locally, then put into the store whole
    put = False
    try:
        n_rows = _score(ctx, artifact, schema, src, dest, filename=filename,
                        explain_top_k=int(ctx.payload.get("explain_top_k", 0)))
        put = True
        storage.put_file("predictions", output_key, dest, suffix=OUTPUT, cache=False)
    except BaseException as exc:
        Storage.remove(dest)
        if put:
            storage.delete("predictions", f"{output_key}{OUTPUT}")
        if isinstance(exc, BatchInputError):
            raise JobFailed(str(exc)) from None
        raise
    with ctx.db.session() as s:
        bp = s.get(BatchPrediction, batch_id)
        model = s.get(TrainedModel, bp.model_id) if bp is not None else None
        if bp is None or model is None:
            storage.delete("predictions", f"{output_key}{OUTPUT}")
            storage.delete("predictions", "".join(src))
            return
        bp.status, bp.n_rows, bp.output_key, bp.finished_at = JobStatus.COMPLETED, n_rows, output_key, utcnow()
        model.n_predictions = model.n_predictions + n_rows
    PREDICT_ROWS.labels(str(model.id), "batch").inc(n_rows)
    storage.delete("predictions", "".join(src))  # the scored file carries the input columns


@dataclass(frozen=True)
class _Artifact:
    key: str
    sha256: str
    hmac: str | None
    threshold: float | None  # the model's decision threshold when the job started


def _score(
    ctx: JobContext, artifact: _Artifact, schema: list[Any], src: tuple[str, str], dest: Path, *, filename: str,
    explain_top_k: int = 0,
) -> int:
    from automl.engine.artifacts import load_model, signing_key
    from automl.engine.errors import ArtifactIntegrityError

    try:
        secret = ctx.settings.secret_key
        key = signing_key(ctx.storage.root, secret.get_secret_value() if secret else None)
        path = ctx.storage.local_copy("artifacts", artifact.key, artifact.sha256, suffix=".joblib")
        model = load_model(path, artifact.sha256, key=key, signature=artifact.hmac, context=artifact.key)
    except (FileNotFoundError, ArtifactIntegrityError, ObjectCorrupt) as exc:
        raise BatchInputError(f"the model artifact cannot be used: {exc}") from None
    classifier = getattr(model, "classes_", None) is not None

    def on_chunk(rows: int) -> None:
        if ctx.should_stop():
            raise JobCancelled()
        ctx.report_progress("scoring", 0.0, f"{rows:,} rows scored")

    limits = ParseLimits(max_cells=ctx.settings.max_cells, memory_mb=ctx.settings.parse_memory_mb,
                         timeout_s=ctx.settings.parse_timeout_s)  # as services.datasets.parse_limits
    with ExitStack() as stack:
        try:
            local = stack.enter_context(ctx.storage.fetched("predictions", src[0], suffix=src[1]))
        except FileNotFoundError:
            raise BatchInputError("the uploaded file is gone") from None
        return score_file(model, schema, local, dest, filename=filename, classifier=classifier, on_chunk=on_chunk,
                          limits=limits, threshold=artifact.threshold, explain_top_k=explain_top_k)


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
            remove_files(storage, bp)
        bp.output_key = None
    elif job.status == JobStatus.COMPLETED:  # the handler found nothing to do (row deleted meanwhile)
        bp.status, bp.finished_at = JobStatus.COMPLETED, bp.finished_at or utcnow()
