"""Predictions: the single-request path (validated, cached model, counted in memory) and batch jobs."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from automl.db import Database
from automl.db.models import ACTIVE, BatchPrediction, JobStatus
from automl.errors import (
    Conflict,
    Forbidden,
    NotFound,
    TooLarge,
    Unprocessable,
)
from automl.files import new_key
from automl.jobs import queue
from automl.jobs.handlers.batch_prediction import OUTPUT, remove_files
from automl.jobs.registry import JobKind
from automl.observability import PREDICT_LATENCY, PREDICT_ROWS
from automl.services import audit
from automl.services.models import get_model
from automl.services.permissions import Kind, Permission, Principal
from automl.services.serving import ServingRuntime
from automl.serving.batch import BatchInputError, check_columns
from automl.serving.cache import LoadedModel
from automl.serving.explain import MAX_TOP_K, ExplainError, explain_rows
from automl.serving.predict import predict_rows
from automl.serving.schema import InputError
from automl.storage import Storage

MAX_ROWS_PER_REQUEST = 100_000  # a whole held-out set scores in one call; larger inputs belong in a batch job


def open_model(runtime: ServingRuntime, model_id: int, *, by: Principal, api_key: str | None) -> LoadedModel:
    """The served model, once the caller may use it: Unauthorized, Forbidden or NotFound otherwise."""
    authorize(runtime, by, model_id, api_key)
    return runtime.model(model_id)


def predict(runtime: ServingRuntime, model_id: int, body: Any, *, by: Principal, api_key: str | None,
            loaded: LoadedModel | None = None) -> dict[str, Any]:
    """Validate `{"data": [...], "return_probabilities": bool, "explain": bool}` and answer with the cached
    model (`loaded`: already opened by `open_model`, before the body was read)."""
    start = time.perf_counter()
    if loaded is None:
        loaded = open_model(runtime, model_id, by=by, api_key=api_key)
    rows, probabilities, explain = _parse_body(body)
    try:
        frame = loaded.validator.frame(rows)
    except InputError as exc:
        raise Unprocessable(exc.problems) from None
    try:
        predictions, probas = predict_rows(loaded, frame, probabilities=probabilities)
    except (ValueError, TypeError) as exc:  # values the pipeline cannot take, past the schema's checks
        raise Unprocessable(f"these rows cannot be scored: {exc}"[:500]) from None
    explained = _explanations(loaded, frame, predictions) if explain else None
    runtime.count(model_id, len(predictions))
    PREDICT_ROWS.labels(str(model_id), "api").inc(len(predictions))
    PREDICT_LATENCY.labels(str(model_id)).observe(time.perf_counter() - start)
    out: dict[str, Any] = {"model_id": model_id, "predictions": predictions}
    if probas is not None:
        out["probabilities"] = probas
    if explained is not None:
        out["explanations"], out["explanation_space"] = explained
    return out


def authorize(runtime: ServingRuntime, by: Principal, model_id: int, api_key: str | None,
              permission: Permission = Permission.PREDICT) -> None:
    """With accounts on the middleware has checked who it is; with them off, API keys if required."""
    if by.kind == Kind.LOCAL:
        runtime.keys.check(api_key)
        return
    by.require(permission)
    by.require_model(model_id)


def _parse_body(body: Any) -> tuple[Any, bool, bool]:
    if not isinstance(body, dict) or "data" not in body:
        raise Unprocessable([{"loc": ["body", "data"], "msg": "body must be an object with a 'data' list of rows"}])
    rows = body["data"]
    if isinstance(rows, dict):  # a single row is accepted as an object
        rows = [rows]
    if isinstance(rows, list) and len(rows) > MAX_ROWS_PER_REQUEST:
        raise TooLarge(f"at most {MAX_ROWS_PER_REQUEST} rows per request; use batch scoring for more")
    return rows, _flag(body, "return_probabilities"), _flag(body, "explain")


def _flag(body: dict[str, Any], name: str) -> bool:
    flag = body.get(name, False)
    if not isinstance(flag, bool):  # JSON true or false only: the string "no" is truthy in Python
        raise Unprocessable([{"loc": ["body", name], "type": "bool_type",
                              "msg": f"{name} must be true or false, got {flag!r:.40}"}])
    return flag


def _explanations(loaded: LoadedModel, frame: Any, predictions: list[Any]) -> tuple[list[dict[str, Any]], str]:
    """Each row's explanation of the label it was given (the regular pipelines: the fast path has no SHAP)."""
    try:
        return explain_rows(loaded.model, frame, predictions if loaded.is_classifier else None)
    except (ExplainError, ValueError, TypeError) as exc:
        raise Unprocessable(f"these rows cannot be explained: {exc}"[:500]) from None


# -- batch -----------------------------------------------------------------------------------------
def batch_public(bp: BatchPrediction) -> dict[str, Any]:
    return {"id": bp.id, "model_id": bp.model_id, "status": bp.status, "n_rows": bp.n_rows, "error": bp.error,
            "input_name": bp.input_name, "created_at": bp.created_at, "finished_at": bp.finished_at}


def check_batch_deployed(db: Database, model_id: int) -> list[dict[str, Any]]:
    """The model's input schema; NotFound / Forbidden unless it is deployed for batch scoring."""
    with db.session() as s:
        model = get_model(s, model_id)
        if not model.deployed_batch:
            raise Forbidden(f"model {model_id} is not deployed for batch scoring")
        return list(model.input_schema)


def explain_top_k(text: str | None) -> int:
    """The form field `explain_top_k`: an integer from 0 (no reasons, the default) to MAX_TOP_K."""
    value = (text or "0").strip()
    k = int(value) if value.isascii() and value.isdigit() else -1
    if not 0 <= k <= MAX_TOP_K:
        raise Unprocessable([{"loc": ["body", "explain_top_k"], "type": "int_range",
                              "msg": f"explain_top_k must be an integer from 0 to {MAX_TOP_K}, got {text!r:.40}"}])
    return k


def submit_batch(db: Database, storage: Storage, model_id: int, received: Path, *, filename: str,
                 by: Principal, top_k: str | None = None) -> BatchPrediction:
    """Take over the received upload (into the store), check its columns and queue a scoring job, all or nothing.
    `top_k`: the form's `explain_top_k` as sent (reason columns per row, see explain_top_k)."""
    key, suffix = new_key(), ".input" + Path(filename).suffix.lower()
    put = False
    try:
        k = explain_top_k(top_k)
        schema = check_batch_deployed(db, model_id)
        try:
            check_columns(schema, received, filename=filename)
        except BatchInputError as exc:
            raise Unprocessable(str(exc)) from None
        put = True
        storage.put_file("predictions", key, received, suffix=suffix, cache=False)
        with db.session() as s:
            bp = BatchPrediction(model_id=model_id, input_name=filename[:255], input_key=key, created_by_id=by.user_id)
            s.add(bp)
            s.flush()
            audit.record(s, by, "batch.submit", f"batch {bp.id} of model {model_id} {filename[:100]!r}")
            payload = {"batch_prediction_id": bp.id, **({"explain_top_k": k} if k else {})}
            bp.job_id = queue.enqueue(s, JobKind.BATCH_PREDICTION, payload).id
        return bp
    except BaseException:
        Storage.remove(received)
        if put:
            storage.delete("predictions", f"{key}{suffix}")
        raise


def get_batch(session: Session, batch_id: int) -> BatchPrediction:
    bp = session.get(BatchPrediction, batch_id)
    if bp is None:
        raise NotFound(f"batch prediction {batch_id} not found")
    return bp


def list_batches(session: Session, model_id: int) -> list[BatchPrediction]:
    get_model(session, model_id)
    query = select(BatchPrediction).where(BatchPrediction.model_id == model_id).order_by(BatchPrediction.id.desc())
    return list(session.scalars(query))


def download(session: Session, storage: Storage, batch_id: int, *, by: Principal) -> tuple[str, str]:
    """The scored CSV's key in the store (`predictions/<key>.csv`) and a download name; Conflict until the job
    has completed."""
    bp = get_batch(session, batch_id)
    if bp.status != JobStatus.COMPLETED or bp.output_key is None:
        raise Conflict(f"batch prediction {batch_id} is {bp.status}; the file is ready once it has completed")
    if not storage.exists("predictions", bp.output_key, suffix=OUTPUT):
        raise NotFound(f"batch prediction {batch_id}: the scored file is gone")
    audit.record(session, by, "batch.download", f"batch {batch_id} of model {bp.model_id}")
    return bp.output_key, f"{Path(bp.input_name).stem or 'batch'}-predictions.csv"


def delete_batch(session: Session, storage: Storage, batch_id: int, *, by: Principal) -> None:
    bp = get_batch(session, batch_id)
    by.require_owner(bp.created_by_id, f"batch prediction {batch_id}")
    if bp.status in ACTIVE:
        raise Conflict(f"batch prediction {batch_id} is {bp.status}; delete it once it has finished")
    session.delete(bp)
    audit.record(session, by, "batch.delete", f"batch {batch_id} of model {bp.model_id}")
    session.commit()  # rows first: a crash now leaves an unreachable file, never a row without its file
    remove_batch_files(storage, [bp])


def remove_batch_files(storage: Storage, batches: list[BatchPrediction]) -> None:
    """For whoever deletes models or experiments: the rows cascade, the files do not."""
    for bp in batches:
        remove_files(storage, bp)
