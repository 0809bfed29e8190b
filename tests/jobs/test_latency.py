"""The API stays responsive while two experiments train beside it (`serve --workers 2`). A benchmark: -m slow."""
from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest
from jobsynth import add_dataset, classification_frame
from jobtools import free_port, get_json, serve, stop_group, wait_for

from automl.schemas.experiments import ExperimentCreate
from automl.services import experiments as svc
from automl.services.permissions import Principal
from automl.storage import Storage

LOCAL = Principal.local()  # accounts off: the operator

pytestmark = pytest.mark.slow


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'automl.db'}"


def _p(lat: list[float], q: float) -> float:
    return sorted(lat)[max(0, int(len(lat) * q) - 1)] * 1000


def _measure(port: int, paths: list[str], n: int = 200) -> list[float]:
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{paths[i % len(paths)]}", timeout=5) as r:
            r.read()
        lat.append(time.perf_counter() - t0)
    return lat


def test_api_p99_under_100_ms_while_two_experiments_train(job_settings, job_db, tmp_path: Path) -> None:
    storage = Storage(job_settings.data_dir)
    ds_id = add_dataset(job_db, storage, classification_frame(5000))
    port = free_port()
    proc = serve(job_settings, port, tmp_path / "serve.log", workers=2)
    try:
        assert wait_for(lambda: _up(port), 120)
        with job_db.session() as s:
            ids = [svc.create_experiment(s, storage, ExperimentCreate(dataset_id=ds_id, target_column="label",
                                                                      time_budget_s=60), by=LOCAL).id for _ in range(2)]
        paths = ["/api/experiments", *[f"/api/experiments/{i}" for i in ids]]
        assert wait_for(lambda: _statuses(port, ids) == {"running"}, 60)
        busy = _measure(port, paths)
        assert _statuses(port, ids) == {"running"}
        for i in ids:
            urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/api/experiments/{i}/cancel",
                                                          method="POST"), timeout=5).read()
        assert wait_for(lambda: _statuses(port, ids) == {"cancelled"}, 10)
        idle = _measure(port, paths)  # the baseline: the same server with nothing training
    finally:
        stop_group(proc)
    print(f"idle p50 {_p(idle, .5):.1f} p99 {_p(idle, .99):.1f} ms; "
          f"two training p50 {_p(busy, .5):.1f} p99 {_p(busy, .99):.1f} ms")
    assert _p(busy, 0.99) < 100


def _statuses(port: int, ids: list[int]) -> set[str]:
    return {get_json(port, f"/api/experiments/{i}")["status"] for i in ids}


def _up(port: int) -> bool:
    try:
        return get_json(port, "/healthz")["status"] == "ok"
    except OSError:
        return False
