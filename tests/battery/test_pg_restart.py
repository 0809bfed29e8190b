"""Issue 13 item 8, faults: PostgreSQL restarted while a job runs. A private cluster (initdb on a free port,
run as the `postgres` user) so the shared server other tests use is never touched. Afterwards the experiment
has completed or failed with a reason, the API serves reads and writes again, and nothing acknowledged is lost.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from batterytools import load

pytestmark = pytest.mark.battery
BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def _as_postgres(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runuser", "-u", "postgres", "--", *cmd], capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.fixture
def private_pg(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(URL, data folder) of a fresh PostgreSQL cluster on a free port, stopped and removed afterwards."""
    if not BIN or os.geteuid() != 0 or not shutil.which("runuser"):
        pytest.skip("needs root, runuser and the PostgreSQL server binaries")
    try:
        pg = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no postgres user")
    home = Path(f"/tmp/automl-pg-{os.getpid()}-{time.monotonic_ns()}")
    home.mkdir()
    os.chown(home, pg.pw_uid, pg.pw_gid)
    data, port = home / "data", load.free_port()
    done = _as_postgres(f"{BIN[-1]}/initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    assert done.returncode == 0, done.stderr
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"
    done = _as_postgres(f"{BIN[-1]}/pg_ctl", "-D", str(data), "-o", options, "-l", str(home / "log"), "-w", "start")
    assert done.returncode == 0, done.stderr
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", data
    finally:
        _as_postgres(f"{BIN[-1]}/pg_ctl", "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(home, ignore_errors=True)


def test_postgresql_restarted_while_training_loses_nothing(tmp_path: Path, private_pg: tuple[str, Path]) -> None:
    url, data = private_pg
    with load.server(tmp_path / "data", database_url=url, log=tmp_path / "serve.log") as base:
        scene = load.prepare(base, train_s=20)
        with httpx.Client(base_url=base, timeout=30) as c:
            key = c.post("/api/keys", json={"name": "before"}).json()["id"]
            done = _as_postgres(f"{BIN[-1]}/pg_ctl", "-D", str(data), "-l", str(data.parent / "log"), "-m", "fast",
                                "-w", "restart")  # -l: else the server keeps our output pipe open
            assert done.returncode == 0, done.stderr
            deadline, exp = time.monotonic() + 180, {}
            while time.monotonic() < deadline:
                r = c.get(f"/api/experiments/{scene.experiment_id}")
                if r.status_code == 200 and (exp := r.json())["status"] in ("completed", "failed", "cancelled"):
                    break
                assert r.status_code < 500 or r.status_code == 503, r.text
                time.sleep(1)
            print("after the restart:", exp.get("status"), exp.get("error"), len(exp.get("leaderboard", [])), "models")
            assert exp.get("status") == "completed" or (exp.get("status") == "failed" and exp.get("error")), exp
            assert c.get("/healthz").status_code == 200
            keys = {k["id"] for k in c.get("/api/keys").json()["items"]}
            assert key in keys  # acknowledged before the restart, still there
            assert c.post("/api/keys", json={"name": "after"}).status_code == 201
            r = c.post(f"/api/v1/predict/{scene.model_id}", json={"data": scene.rows})
            assert r.status_code == 200, r.text
