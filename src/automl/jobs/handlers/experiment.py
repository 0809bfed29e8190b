"""The job handler for kind "experiment", and the status hook that keeps an experiment in step with its job.

The handler runs in a worker's child process: it starts clean (an earlier attempt's models and files are
removed), loads the selected Parquet columns, and runs the engine with a budget net of the time already spent
since the claim. Each finished model is saved under a generated key and registered in one transaction that
also checks this attempt still owns the job, so a retried or taken-over experiment never duplicates rows.
"""
from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from automl.db.base import utcnow
from automl.db.models import Experiment, Job, JobStatus, TrainedModel
from automl.ingest.jsonable import jsonable
from automl.jobs.compute import experiment_executor, large_on_cluster
from automl.jobs.registry import JobCancelled, JobContext, JobFailed, JobKind, JobLost, on_status, register
from automl.storage import ObjectCorrupt, Storage

log = logging.getLogger(__name__)


REGISTER_BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)  # a model waits out a database restart (~30 s) before it fails


def overhead_reserve(budget_s: float) -> float:
    """Seconds kept out of the engine's budget for what follows it (final writes, the worker noticing)."""
    return min(1.0 + 0.03 * budget_s, 10.0)


def artifact_prefix(exp_id: int) -> str:
    return f"e{exp_id}x"


def remove_orphan_artifacts(session: Session, storage: Storage, exp_id: int) -> int:
    """Delete this experiment's artifacts in the store that no model row references (an attempt killed mid-save),
    and its local leftovers: artifacts being prepared in the scratch, temporaries of a write killed half-way
    (`.<key>.joblib.<random>.tmp`, see engine.artifacts)."""
    known = set(session.scalars(select(TrainedModel.artifact_key).where(TrainedModel.experiment_id == exp_id)))
    prefix = artifact_prefix(exp_id)
    stale = [o for o in storage.objects("artifacts", prefix=prefix) if o.key not in known]
    if not storage.remote:  # temporaries written in place, before artifacts were prepared in the scratch
        stale += [o for o in storage.objects("artifacts", prefix=f".{prefix}") if o.name.endswith(".tmp")]
    stale += [*storage.objects("uploads", prefix=prefix), *storage.objects("uploads", prefix=f".{prefix}")]
    removed = 0
    for obj in stale:
        try:
            if obj.area == "uploads":
                Storage.remove(Path(obj.ref))
            else:
                storage.delete(obj.area, obj.name)
        except Exception:  # noqa: BLE001 - the store unreachable: an unreferenced artifact is the janitor's later
            log.warning("could not delete %s/%s now; the janitor will", obj.area, obj.name, exc_info=True)
            continue
        removed += 1
    return removed


def store_ranks(session: Session, exp_id: int, metric: str) -> None:
    """Number the experiment's models in the engine's leaderboard order (ties: the one registered first)."""
    from automl.engine import leaderboard_key

    rows = session.scalars(select(TrainedModel).where(TrainedModel.experiment_id == exp_id)).all()
    ordered = sorted(rows, key=lambda r: (leaderboard_key(metric, r.cv_score, r.predict_ms_per_row), r.id))
    for rank, row in enumerate(ordered, start=1):
        row.rank = rank


@on_status(JobKind.EXPERIMENT)
def mirror_job(session: Session, job: Job, storage: Storage | None) -> None:
    exp = session.scalars(select(Experiment).where(Experiment.job_id == job.id)).first()
    if exp is None:
        return
    exp.status, exp.attempts = job.status, job.attempts
    if job.status == JobStatus.RUNNING:
        exp.started_at, exp.finished_at, exp.error = job.started_at, None, None
    elif job.status.finished:
        exp.finished_at = job.finished_at or utcnow()
        if job.status == JobStatus.FAILED:
            exp.error = job.error
        if storage is not None and job.status != JobStatus.COMPLETED:
            remove_orphan_artifacts(session, storage, exp.id)


@register(JobKind.EXPERIMENT)
def run_experiment(ctx: JobContext) -> None:
    import pandas as pd

    from automl.engine import AutoML, EngineError, fit_large

    exp_id = int(ctx.payload["experiment_id"])
    spec = _start_clean(ctx, exp_id)
    progress = ctx.report_progress
    register_model = _ModelRegistrar(ctx, exp_id, spec["metric"])
    stop = lambda: ctx.should_stop() or register_model.lost  # noqa: E731
    columns = [*spec["features"], spec["target"]]
    try:
        with experiment_executor(ctx.settings, name=f"automl-e{exp_id}") as executor:
            common = dict(metric=spec["metric"], problem_type=spec["problem_type"], seed=0)
            if executor is not None and large_on_cluster(ctx.settings, executor.client, spec["url"],
                                                         storage_options=spec["storage_options"], columns=columns):
                progress("loading", 0.0, "Larger than a worker's share of memory: training on the partitions")
                result = fit_large(
                    executor.client, spec["url"], storage_options=spec["storage_options"], target=spec["target"],
                    features=spec["features"], kinds=spec["kinds"], time_budget_s=_budget(ctx, spec),
                    should_stop=stop, on_progress=progress, on_model=register_model, **common,
                )
            else:
                progress("loading", 0.0, "Loading the dataset")
                df = pd.read_parquet(spec["path"], columns=columns)
                automl = AutoML(time_budget_s=_budget(ctx, spec), on_progress=progress, on_model=register_model,
                                should_stop=stop, executor=executor, holdout=spec["holdout"], **common)
                result = automl.fit(df, target=spec["target"], features=spec["features"], kinds=spec["kinds"])
    except EngineError as exc:
        _raise_if_stopped(ctx, register_model.lost)
        raise JobFailed(str(exc)) from None
    _raise_if_stopped(ctx, register_model.lost)
    progress("finalizing", 1.0, "Saving results")
    _finish(ctx, exp_id, result, register_model.ids)


def _budget(ctx: JobContext, spec: dict[str, Any]) -> float:
    """The engine's budget: the experiment's, net of the time spent since the claim and of what follows."""
    spent = time.time() - ctx.claimed_at
    return max(1.0, spec["budget"] - spent - overhead_reserve(spec["budget"]))


def _raise_if_stopped(ctx: JobContext, lost: bool) -> None:
    if lost:
        raise JobLost()
    if ctx.should_stop():
        raise JobCancelled()


def _start_clean(ctx: JobContext, exp_id: int) -> dict[str, Any]:
    """Remove what an earlier (crashed or handed-back) attempt registered; return what the fit needs.

    The dataset comes three ways: `path`, a local copy whose sha256 matched the recorded one (via the read
    cache when the store is remote); `url` with `storage_options`, for readers on other machines (Dask workers)
    that open the stored Parquet themselves."""
    with ctx.db.session() as s:
        if not ctx.owns_job(s):
            raise JobLost()
        exp = s.get(Experiment, exp_id)
        if exp is None:
            raise JobFailed(f"Experiment {exp_id} no longer exists.")
        s.execute(delete(TrainedModel).where(TrainedModel.experiment_id == exp_id))
        key, sha = exp.dataset.storage_key, exp.dataset.parquet_sha256
        spec = {
            "target": exp.target_column,
            "features": list(exp.feature_columns), "problem_type": exp.problem_type, "metric": exp.metric,
            "budget": float(exp.time_budget_s),
            "holdout": (exp.summary or {}).get("holdout_choice", "auto"),  # as the request asked
            "kinds": {c["name"]: c["kind"] for c in (exp.dataset.profile or {}).get("columns", [])
                      if c["name"] in exp.feature_columns},
        }
    with ctx.db.session() as s:
        remove_orphan_artifacts(s, ctx.storage, exp_id)
    try:
        spec["path"] = ctx.storage.local_copy("datasets", key, sha, suffix=".parquet")
    except FileNotFoundError:
        raise JobFailed("The dataset's stored file is missing; upload the data again.") from None
    except ObjectCorrupt:
        raise JobFailed("The dataset's stored file is damaged (its sha256 does not match); upload the data again."
                        ) from None
    spec["url"] = ctx.storage.url_of("datasets", key, ".parquet")
    spec["storage_options"] = dict(ctx.storage.storage_options)
    return spec


class _ModelRegistrar:
    """on_model: save the artifact, then insert its row in one transaction (the file goes if the insert does).

    The artifact is written and hashed in the local scratch, then put into the store whole under its final key."""

    def __init__(self, ctx: JobContext, exp_id: int, metric: str) -> None:
        self.ctx, self.exp_id, self.metric = ctx, exp_id, metric
        self.lost = False
        self.ids: dict[str, int] = {}

    def __call__(self, result: Any) -> None:
        from automl.engine import artifact_hmac, save_model, signing_key

        if self.lost:
            return
        storage = self.ctx.storage
        key = f"{artifact_prefix(self.exp_id)}{uuid.uuid4().hex}"
        scratch = storage.scratch(key, ".joblib")
        put = False
        try:
            save_model(result.model, scratch)  # atomic: a temporary beside it, fsync, rename
            size = scratch.stat().st_size
            put = True
            sha = storage.put_file("artifacts", key, scratch, suffix=".joblib")
            secret = self.ctx.settings.secret_key
            mac = artifact_hmac(signing_key(storage.root, secret.get_secret_value() if secret else None), sha, key)
            fields = dict(candidate_key=result.key, artifact_key=key, artifact_sha256=sha, artifact_hmac=mac,
                          artifact_size=size, **_model_fields(result))
            for wait in (*REGISTER_BACKOFF_S, None):
                try:
                    self._register(result.key, fields)
                    break
                except OperationalError:  # the database restarting: the model is kept, not the attempt lost
                    if wait is None:
                        raise
                    log.warning("model registration waits for the database", extra={"experiment_id": self.exp_id})
                    time.sleep(wait)
        except JobLost:
            self._discard(key, scratch, put)
        except IntegrityError:
            self._discard(key, scratch, put)
            log.warning("model already registered", extra={"experiment_id": self.exp_id, "key": result.key})
        except BaseException:
            self._discard(key, scratch, put)
            raise

    def _register(self, candidate_key: str, fields: dict[str, Any]) -> None:
        """The model's row, and the new ranks, in one transaction that also checks this attempt owns the job."""
        with self.ctx.db.session() as s:
            if not self.ctx.owns_job(s):
                self.lost = True
                raise JobLost()
            owner = select(Experiment.created_by_id).where(Experiment.id == self.exp_id).scalar_subquery()
            row = TrainedModel(experiment_id=self.exp_id, created_by_id=owner, **fields)
            s.add(row)
            s.flush()
            self.ids[candidate_key] = row.id
            store_ranks(s, self.exp_id, self.metric)

    def _discard(self, key: str, scratch: Path, put: bool) -> None:
        Storage.remove(scratch)
        if put:
            self.ctx.storage.delete("artifacts", f"{key}.joblib")


def _model_fields(result: Any) -> dict[str, Any]:
    model = result.model
    classes = getattr(model, "classes_", None)
    return jsonable({
        "algorithm": result.algorithm, "params": result.params, "is_ensemble": result.is_ensemble,
        "cv_score": result.cv_score, "cv_std": result.cv_std, "cv_fold_scores": result.cv_fold_scores,
        "metrics": result.metrics, "fit_seconds": result.fit_seconds, "predict_ms_per_row": result.predict_ms_per_row,
        "feature_importance": result.feature_importance,
        "plots": result.plots, "input_schema": getattr(model, "input_schema", []),
        "classes": None if classes is None else list(classes),
    })


def _finish(ctx: JobContext, exp_id: int, result: Any, ids: dict[str, int]) -> None:
    """Record what the engine learned; importance computed after a model was registered is saved too."""
    with ctx.db.session() as s:
        if not ctx.owns_job(s):
            raise JobLost()
        exp = s.get(Experiment, exp_id)
        assert exp is not None
        exp.problem_type, exp.metric = result.problem_type, result.metric
        queued = list((exp.summary or {}).get("warnings", []))  # e.g. an id-like target, said at creation
        warnings = queued + [w for w in result.summary.get("warnings", []) if w not in queued]
        # the leakage audit and the holdout asked for, from creation
        kept = {k: v for k, v in (exp.summary or {}).items() if k in ("audit", "holdout_choice")}
        best = ids.get(result.best.key)
        exp.summary = jsonable({**result.summary, **kept, "warnings": warnings, "best_model_id": best})
        for r in result.leaderboard:
            row = s.get(TrainedModel, ids[r.key]) if r.key in ids else None
            if row is not None and r.feature_importance and not row.feature_importance:
                row.feature_importance = jsonable(r.feature_importance)
        store_ranks(s, exp_id, result.metric)


