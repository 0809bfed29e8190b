"""`automl serve --workers 1` as a real process: stopping and restarting it while an experiment trains loses nothing."""
from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from jobsynth import add_dataset, classification_frame
from jobtools import free_port, get_json, serve, stop_group, wait_for
from sqlalchemy import select

from automl.db.models import Experiment, Job, TrainedModel
from automl.schemas.experiments import ExperimentCreate
from automl.services import experiments as svc
from automl.services.permissions import Principal
from automl.storage import Storage

LOCAL = Principal.local()  # accounts off: the operator


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Two `serve` start-ups cost about a minute on this box: PostgreSQL's run is in the slow set."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'automl.db'}"
    return request.getfixturevalue("pg_url")


def test_restarting_serve_while_training_loses_nothing(job_settings, job_db, tmp_path: Path) -> None:
    storage = Storage(job_settings.data_dir)
    ds_id = add_dataset(job_db, storage, classification_frame(300))
    with job_db.session() as s:
        body = ExperimentCreate(dataset_id=ds_id, target_column="label", time_budget_s=10)
        exp_id = svc.create_experiment(s, storage, body, by=LOCAL).id
    port = free_port()
    first = serve(job_settings, port, tmp_path / "serve.log")
    try:
        assert wait_for(lambda: _status(job_db, exp_id) == "running", 120, step=0.25)
        assert get_json(port, f"/api/experiments/{exp_id}")["status"] == "running"
    finally:
        took = stop_group(first)
    assert took < 10
    with job_db.session() as s:
        job = s.scalars(select(Job)).one()
        assert (job.status, job.attempts) == ("queued", 0)  # handed back, not counted as a failed attempt
    second = serve(job_settings, port, tmp_path / "serve.log")
    try:
        assert wait_for(lambda: _up(port), 120)
        events = _read_events(port, exp_id)  # the live stream, until it ends with the experiment
        exp = get_json(port, f"/api/experiments/{exp_id}")
    finally:
        stop_group(second)
    assert (exp["status"], exp["attempts"]) == ("completed", 1)
    names = [e for e, _ in events]
    assert names[0] == "status" and "progress" in names and names[-1] == "leaderboard"
    assert [d["status"] for e, d in events if e == "status"][-1] == "completed"
    assert len([d for e, d in events if e == "model"]) == len(exp["leaderboard"])
    ids = [row["model_id"] for row in exp["leaderboard"]]
    assert ids and len(ids) == len(set(ids))
    with job_db.session() as s:
        keys = set(s.scalars(select(TrainedModel.artifact_key)))
    assert keys == {p.stem for p in storage.artifact("x").parent.glob("*.joblib")}


def _status(db, exp_id: int) -> str:
    with db.session() as s:
        return s.get(Experiment, exp_id).status


def _up(port: int) -> bool:
    try:
        return get_json(port, "/healthz")["status"] == "ok"
    except OSError:
        return False


def _read_events(port: int, exp_id: int) -> list[tuple[str, Any]]:
    events, name = [], ""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/experiments/{exp_id}/events", timeout=120) as r:
        for raw in r:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    return events
