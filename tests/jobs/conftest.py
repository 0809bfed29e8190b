"""Real worker processes against a real database (SQLite file, or PostgreSQL via `pg_url`)."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from jobtools import LEASE_S

from automl.config import Settings
from automl.db import Database
from automl.db.migrate import upgrade

HERE = Path(__file__).parent


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'automl.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def job_settings(tmp_path: Path, db_url: str) -> Settings:
    s = Settings(data_dir=tmp_path / "data", database_url=db_url, job_lease_s=LEASE_S, _env_file=None)  # type: ignore[call-arg]
    s.ensure_dirs()
    upgrade(s.db_url)
    return s


@pytest.fixture
def job_db(job_settings: Settings) -> Iterator[Database]:
    db = Database(job_settings.db_url)
    yield db
    db.dispose()


def worker_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ, "AUTOML_DATA_DIR": str(settings.data_dir), "AUTOML_DATABASE_URL": settings.db_url,
        "AUTOML_JOB_LEASE_S": str(settings.job_lease_s), "PYTHONPATH": str(HERE),
    }


@pytest.fixture
def start_worker(job_settings: Settings, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `tests/jobs/run_worker.py` (the real Worker plus test kinds); every one is stopped afterwards."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(concurrency: int = 1, *, engine: bool = False) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"worker-{len(procs)}.log", "ab")
        args = [sys.executable, str(HERE / "run_worker.py"), str(concurrency), *(["--engine"] if engine else [])]
        p = subprocess.Popen(args,
                             env=worker_env(job_settings), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(p)
        return p

    yield start
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)
