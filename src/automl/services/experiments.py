"""Experiments: validate and queue, read (with the leaderboard ranked in the metric's direction), cancel."""
from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from automl.db.base import utcnow
from automl.db.models import ACTIVE, Dataset, Experiment, JobStatus, TrainedModel
from automl.engine.errors import EngineError
from automl.engine.holdout import resolve_holdout
from automl.engine.task import resolve_metric, resolve_problem_type
from automl.errors import Conflict, NotFound, Unprocessable
from automl.jobs import queue
from automl.jobs.registry import JobKind
from automl.schemas.experiments import ExperimentCreate
from automl.services import audit, audit_leakage
from automl.services import leaderboard as board
from automl.services.permissions import Principal
from automl.storage import ObjectCorrupt, Storage

PROBLEM_TYPES = ("auto", "classification", "binary", "multiclass", "regression")
UNUSABLE_KINDS = ("id", "constant")


def create_experiment(session: Session, storage: Storage, body: ExperimentCreate, *, by: Principal) -> Experiment:
    """Check everything cheap (profile, the target column) so a doomed experiment is a 422, then queue it."""
    ds = session.get(Dataset, body.dataset_id)
    if ds is None:
        raise NotFound(f"Dataset {body.dataset_id} not found.")
    profile = {c["name"]: c for c in (ds.profile or {}).get("columns", [])}
    target = body.target_column
    if target not in profile:
        raise Unprocessable(f"Unknown target column {target!r}; the dataset's columns are: {_names(profile)}.")
    warnings = _id_target(profile[target], target, allowed=body.allow_id_target)
    features = _features(body.feature_columns, target, profile)
    if body.problem_type not in PROBLEM_TYPES:
        raise Unprocessable(f"Unknown problem_type {body.problem_type!r}; use one of {', '.join(PROBLEM_TYPES)}.")
    y = _target_values(storage, ds, target)
    problem_type, metric = _resolve(body.problem_type, body.metric, y, target)
    evaluation = _evaluation(body.holdout, y)
    leakage = audit_leakage.experiment_record(storage, ds, target, features)  # cached from the form's request
    warnings += audit_leakage.warnings_for(leakage)
    exp = Experiment(
        name=body.name or f"{target} on {ds.name}", dataset_id=ds.id, target_column=target,
        feature_columns=features, problem_type=problem_type, metric=metric, time_budget_s=body.time_budget_s,
        status=JobStatus.QUEUED, created_by_id=by.user_id,
        summary={"warnings": warnings, "audit": leakage, **evaluation},
    )
    session.add(exp)
    session.flush()
    audit.record(session, by, "experiment.start", f"experiment {exp.id} {exp.name!r}")
    exp.job = queue.enqueue(session, JobKind.EXPERIMENT, {"experiment_id": exp.id})
    session.flush()
    return exp


def _id_target(column: dict[str, Any], target: str, *, allowed: bool) -> list[str]:
    """A target of kind `id` (unique per row: a row number, a key) has nothing to learn: a regression on it
    fits the row order. Refused unless the request says `allow_id_target`; then the summary warns."""
    if column.get("kind") != "id":
        return []
    if not allowed:
        raise Unprocessable(f"The target column {target!r} looks like an id (a distinct value per row); a model "
                            "would learn the row order. Pick another target, or send allow_id_target: true.")
    return [f"The target column {target!r} looks like an id (a distinct value per row); it was kept because the "
            "request set allow_id_target."]


def _names(profile: dict[str, Any], limit: int = 30) -> str:
    names = list(profile)
    return ", ".join(names[:limit]) + (f" (and {len(names) - limit} more)" if len(names) > limit else "")


def _features(requested: list[str] | None, target: str, profile: dict[str, Any]) -> list[str]:
    if requested is None:
        features = [n for n, c in profile.items() if n != target and c.get("kind") not in UNUSABLE_KINDS]
    else:
        features = list(dict.fromkeys(requested))
        unknown = [f for f in features if f not in profile]
        if unknown:
            raise Unprocessable(f"Unknown feature column(s): {', '.join(map(repr, unknown))}.")
        if target in features:
            raise Unprocessable(f"The target column {target!r} cannot also be a feature.")
    if not features:
        raise Unprocessable("No usable feature columns: pick at least one column besides the target.")
    return features


def _target_values(storage: Storage, ds: Dataset, target: str) -> pd.Series:
    try:
        path = storage.local_copy("datasets", ds.storage_key, ds.parquet_sha256, suffix=".parquet")
        table = pq.read_table(path, columns=[target])
    except (OSError, pa.ArrowException, ObjectCorrupt):  # the message would name the server's file: say what it means
        raise Conflict(f"Dataset {ds.id}'s stored file is missing or damaged; upload the data again.") from None
    return table.column(0).to_pandas()


def _resolve(requested: str, metric_name: str, y: pd.Series, target: str) -> tuple[str, str]:
    y = y.dropna()
    if y.empty:
        raise Unprocessable(f"The target column {target!r} has no values (all missing).")
    if y.nunique() < 2:
        raise Unprocessable(f"The target column {target!r} has a single value; there is nothing to learn.")
    try:
        problem_type = resolve_problem_type(requested, y)
        metric = resolve_metric(metric_name or "auto", problem_type)
    except EngineError as exc:
        raise Unprocessable(str(exc)) from None
    if problem_type != "regression":
        counts = y.astype(str).value_counts()
        rare = counts[counts < 2]
        if len(rare):
            raise Unprocessable(
                f"Target class(es) {', '.join(map(str, rare.index[:5]))} have a single row; "
                "each class needs at least 2 rows (remove or merge the rare classes)."
            )
    return problem_type, metric.name


def _evaluation(choice: str | float, y: pd.Series) -> dict[str, Any]:
    """The holdout choice as asked (`holdout_choice`, what the worker passes to the engine) and as the engine
    will resolve it for this many labelled rows (`holdout`, `evaluation`: the engine's summary says the same)."""
    fraction = resolve_holdout(choice, int(y.notna().sum()))
    return {"holdout_choice": choice, "holdout": "none" if fraction is None else fraction,
            "evaluation": "out_of_fold" if fraction is None else "holdout"}


def get_experiment(session: Session, exp_id: int) -> Experiment:
    exp = session.get(Experiment, exp_id)
    if exp is None:
        raise NotFound(f"Experiment {exp_id} not found.")
    return exp


def list_experiments(
    session: Session, *, dataset_id: int | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Experiment], int]:
    query = select(Experiment)
    if dataset_id is not None:
        query = query.where(Experiment.dataset_id == dataset_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    newest_first = query.order_by(Experiment.created_at.desc(), Experiment.id.desc())
    items = session.scalars(newest_first.limit(limit).offset(offset))
    return list(items), total


def ranked_models(session: Session, exp: Experiment) -> list[TrainedModel]:
    """In the stored rank (the engine's leaderboard order)."""
    query = select(TrainedModel).where(TrainedModel.experiment_id == exp.id)
    return list(session.scalars(query.order_by(TrainedModel.rank.is_(None), TrainedModel.rank, TrainedModel.id)))


def leaderboard(session: Session, exp: Experiment) -> list[dict[str, Any]]:
    return board.rows(exp, ranked_models(session, exp))


def summary(exp: Experiment) -> dict[str, Any]:
    fields = (
        "id", "name", "dataset_id", "target_column", "feature_columns", "problem_type", "metric", "time_budget_s",
        "status", "attempts", "error", "summary", "created_at", "started_at", "finished_at",
    )
    return {**{f: getattr(exp, f) for f in fields}, "progress": exp.progress}


def public(session: Session, exp: Experiment) -> dict[str, Any]:
    return {**summary(exp), "leaderboard": leaderboard(session, exp)}


def cancel_experiment(session: Session, storage: Storage, exp_id: int, *, by: Principal) -> tuple[Experiment, bool]:
    """Cancel now if queued, else ask its worker to stop (it does within about a second).

    Returns the experiment and whether a stop is still pending. Cancelling a cancelled experiment is a no-op;
    a completed or failed one is a 409.
    """
    exp = get_experiment(session, exp_id)
    by.require_owner(exp.created_by_id, f"experiment {exp_id}")
    if exp.status in (JobStatus.COMPLETED, JobStatus.FAILED):
        raise Conflict(f"Experiment {exp_id} has already {exp.status}; there is nothing to cancel.")
    job = exp.job
    if job is not None:
        session.refresh(job, with_for_update=True)
    if job is not None and job.status in ACTIVE:
        queue.request_cancel(session, job, storage=storage)
    elif exp.status != JobStatus.CANCELLED:  # no live job behind it (should not happen): settle the row itself
        exp.status, exp.finished_at = JobStatus.CANCELLED, utcnow()
    audit.record(session, by, "experiment.cancel", f"experiment {exp_id}")
    session.refresh(exp)
    return exp, not exp.status.finished
