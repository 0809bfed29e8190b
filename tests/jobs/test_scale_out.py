"""Issue 14 item 3: 2 API processes (`automl serve --workers 0`) and 3 `automl worker` processes on one PostgreSQL
database and one data folder. 12 experiments and 4 batch jobs sent through either API run exactly once; after a
redeploy through one API both answer with the new model, and agree, within a bounded time."""
from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from jobtools import AUTOML, free_port, serve, stop_group, wait_for
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sqlalchemy import func, select

from automl.config import Settings
from automl.db import Database
from automl.db.migrate import upgrade
from automl.db.models import BatchPrediction, Job, TrainedModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from serving_support import add_model, fitted, table  # noqa: E402  (a real fitted model for the batch jobs)

pytestmark = [pytest.mark.postgres, pytest.mark.battery]
SWITCH_BOUND_S = 3.0  # revalidation every 0.5 s; generous for 2 loaded cores


@pytest.fixture
def scale_settings(pg_url: str, tmp_path: Path) -> Settings:
    s = Settings(data_dir=tmp_path / "data", database_url=pg_url, job_lease_s=30, _env_file=None)  # type: ignore[call-arg]
    s.ensure_dirs()
    upgrade(s.db_url)  # once, before the replicas start (each would otherwise race to create the schema)
    return s


@contextlib.contextmanager
def cluster(settings: Settings, logs: Path) -> Iterator[tuple[list[str], list[subprocess.Popen[bytes]]]]:
    env = {**os.environ, "AUTOML_DATA_DIR": str(settings.data_dir), "AUTOML_DATABASE_URL": settings.db_url,
           "AUTOML_JOB_LEASE_S": str(settings.job_lease_s)}
    ports = [free_port(), free_port()]
    apis = [serve(settings, port, logs / f"api-{i}.log", workers=0) for i, port in enumerate(ports)]
    workers = [subprocess.Popen([AUTOML, "worker"], env=env, stdout=open(logs / f"worker-{i}.log", "ab"),
                                stderr=subprocess.STDOUT, start_new_session=True) for i in range(3)]
    try:
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        assert all(wait_for(lambda b=b: _up(b), 150, step=0.5) for b in bases), "an API did not start"
        yield bases, workers
    finally:
        for p in workers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in apis:
            stop_group(p)
        for p in workers:
            p.wait(20)


def _up(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _csv(frame) -> bytes:
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode()


def _tables() -> list[tuple[str, bytes]]:
    out = []
    for name, loader in (("iris", load_iris), ("wine", load_wine), ("cancer", load_breast_cancer)):
        df = loader(as_frame=True).frame
        df.columns = [c.replace(" ", "_") for c in df.columns]
        out.append((name, _csv(df)))
    return out


def test_two_apis_three_workers_each_job_once_and_a_redeploy_everywhere(scale_settings: Settings,
                                                                        tmp_path: Path) -> None:
    batch_model = add_model(scale_settings, fitted("binary"), deployed_batch=True)
    batch_csv = _csv(table(40).drop(columns=["label", "amount"]))
    with cluster(scale_settings, tmp_path) as (bases, workers):
        clients = [httpx.Client(base_url=b, timeout=60) for b in bases]
        datasets = []
        for i, (name, body) in enumerate(_tables()):
            r = clients[i % 2].post("/api/datasets/upload", files={"file": (f"{name}.csv", body, "text/csv")})
            assert r.status_code == 201, r.text
            datasets.append(r.json()["id"])
        exps, batches = [], []
        for i in range(12):  # alternate APIs and tables; the batch jobs interleaved with them
            r = clients[i % 2].post("/api/experiments", json={"dataset_id": datasets[i % 3], "target_column": "target",
                                                              "time_budget_s": 3 + i % 3})
            assert r.status_code == 202, r.text
            exps.append(r.json()["id"])
            if i % 3 == 0:
                r = clients[(i + 1) % 2].post(f"/api/v1/predict/{batch_model}/batch",
                                              files={"file": (f"b{i}.csv", batch_csv, "text/csv")})
                assert r.status_code == 202, r.text
                batches.append(r.json()["id"])

        def settled() -> bool:
            got = [clients[0].get(f"/api/experiments/{e}").json()["status"] for e in exps]
            got += [clients[1].get(f"/api/batch-predictions/{b}").json()["status"] for b in batches]
            return all(s in ("completed", "failed", "cancelled") for s in got)

        assert wait_for(settled, 200, step=1.0), "the jobs did not finish"
        _assert_each_ran_once(scale_settings, workers, n_jobs=16)
        for b in batches:
            assert clients[1].get(f"/api/batch-predictions/{b}").json()["n_rows"] == 40

        iris = [e for i, e in enumerate(exps) if i % 3 == 0]
        first, second = (clients[0].get(f"/api/experiments/{e}").json()["leaderboard"][0]["model_id"]
                         for e in iris[:2])
        probe = {"data": load_iris(as_frame=True).frame.drop(columns=["target"])
                 .rename(columns=lambda c: c.replace(" ", "_")).iloc[::10].to_dict(orient="records"),
                 "return_probabilities": True}
        assert clients[0].post(f"/api/models/{first}/deploy", json={"api": True}).status_code == 200
        answers = [c.post(f"/api/v1/predict/{first}", json=probe) for c in clients]
        assert [a.status_code for a in answers] == [200, 200] and answers[0].json() == answers[1].json()

        assert clients[0].post(f"/api/models/{first}/undeploy", json={"api": True}).status_code == 200
        assert clients[0].post(f"/api/models/{second}/deploy", json={"api": True}).status_code == 200
        t0 = time.monotonic()

        def switched() -> bool:
            old = [c.post(f"/api/v1/predict/{first}", json=probe).status_code for c in clients]
            new = [c.post(f"/api/v1/predict/{second}", json=probe) for c in clients]
            return old == [403, 403] and all(n.status_code == 200 for n in new) and \
                new[0].json() == new[1].json() and new[0].json()["model_id"] == second

        assert wait_for(switched, SWITCH_BOUND_S, step=0.05), "the replicas disagree after the redeploy"
        print(f"both APIs serve the redeployed model after {(time.monotonic() - t0) * 1000:.0f} ms")
        for c in clients:
            c.close()


def _assert_each_ran_once(settings: Settings, workers: list[subprocess.Popen[bytes]], *, n_jobs: int) -> None:
    db = Database(settings.db_url)
    try:
        with db.session(readonly=True) as s:
            jobs = s.execute(select(Job.kind, Job.status, Job.attempts, Job.worker_id, Job.error)).all()
            dup_models = s.execute(select(TrainedModel.experiment_id, TrainedModel.candidate_key)
                                   .group_by(TrainedModel.experiment_id, TrainedModel.candidate_key)
                                   .having(func.count() > 1)).all()
            per_exp = dict(s.execute(select(TrainedModel.experiment_id, func.count())
                                     .where(TrainedModel.experiment_id.is_not(None))
                                     .group_by(TrainedModel.experiment_id)).all())
            batch_rows = s.scalar(select(func.count()).select_from(BatchPrediction))
    finally:
        db.dispose()
    assert len(jobs) == n_jobs and batch_rows == 4
    assert all(j.status == "completed" and j.attempts == 1 for j in jobs), jobs
    pids = {int(j.worker_id.split(":")[1]) for j in jobs}
    assert pids <= {p.pid for p in workers}, (pids, [p.pid for p in workers])  # only the 3 workers claimed
    assert len(pids) >= 2  # and the work was shared
    assert not dup_models, dup_models
    assert len(per_exp) == 13 and all(n >= 1 for n in per_exp.values())  # 12 experiments + the batch model's
