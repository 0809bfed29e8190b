"""Experiments through real workers and the real engine: kill -9 mid-training, cancel during training."""
from __future__ import annotations

import os
import signal
import time

import pytest
from jobsynth import add_dataset, classification_frame
from jobtools import LEASE_S, wait_for
from sqlalchemy import select

from automl.db.models import Experiment, TrainedModel
from automl.schemas.experiments import ExperimentCreate
from automl.services import experiments as svc
from automl.services.permissions import Principal
from automl.storage import Storage

LOCAL = Principal.local()  # accounts off: the operator


@pytest.fixture
def storage(job_settings) -> Storage:
    return Storage(job_settings.data_dir)


def _create(db, storage: Storage, budget: float) -> int:
    ds_id = add_dataset(db, storage, classification_frame(300))
    with db.session() as s:
        body = ExperimentCreate(name="t", dataset_id=ds_id, target_column="label", time_budget_s=budget)
        return svc.create_experiment(s, storage, body, by=LOCAL).id


def _exp(db, exp_id: int) -> Experiment:
    with db.session() as s:
        return s.get(Experiment, exp_id)


def _models(db, exp_id: int) -> list[TrainedModel]:
    with db.session() as s:
        return list(s.scalars(select(TrainedModel).where(TrainedModel.experiment_id == exp_id)))


def _artifact_files(storage: Storage, exp_id: int) -> set[str]:
    return {p.stem for p in storage.artifact("x").parent.glob(f"e{exp_id}x*.joblib")}


def test_kill_9_mid_training_then_cancel_during_training(job_db, storage, start_worker) -> None:
    """One pair of workers for both checks (each start imports the engine): kill -9 of the one training leaves
    exactly one set of rows once the other has retried; then a cancel during training lands within 5 s."""
    exp_id = _create(job_db, storage, budget=8)
    workers = {p.pid: p for p in (start_worker(engine=True), start_worker(engine=True))}
    assert wait_for(lambda: len(_models(job_db, exp_id)) >= 1, 90), _exp(job_db, exp_id).progress
    with job_db.session() as s:
        owner = int(svc.get_experiment(s, exp_id).job.worker_id.split(":")[1])
    os.killpg(workers[owner].pid, signal.SIGKILL)  # the worker and its forkserver; the job's child follows
    assert wait_for(lambda: _exp(job_db, exp_id).status in ("completed", "failed"), LEASE_S + 60)
    exp = _exp(job_db, exp_id)
    assert (exp.status, exp.attempts, exp.error) == ("completed", 2, None)
    models = _models(job_db, exp_id)
    keys = [m.candidate_key for m in models]
    assert len(keys) == len(set(keys)) >= 2
    assert {m.artifact_key for m in models} == _artifact_files(storage, exp_id)  # no orphan, none missing
    assert exp.summary["best_model_id"] in {m.id for m in models}

    exp_id = _create(job_db, storage, budget=60)  # the surviving worker takes it
    assert wait_for(lambda: len(_models(job_db, exp_id)) >= 1, 90), _exp(job_db, exp_id).progress
    t0 = time.monotonic()
    with job_db.session() as s:
        svc.cancel_experiment(s, storage, exp_id, by=LOCAL)
    assert wait_for(lambda: _exp(job_db, exp_id).status == "cancelled", 5)
    assert time.monotonic() - t0 < 5
    time.sleep(1)  # nothing registers after the cancel
    models = _models(job_db, exp_id)
    assert models and {m.artifact_key for m in models} == _artifact_files(storage, exp_id)
    exp = _exp(job_db, exp_id)
    assert exp.finished_at is not None and exp.progress["stage"] == "cancelled"
