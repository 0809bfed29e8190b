"""Helpers for the job tests (a module of its own: `conftest` names clash between test folders)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

LEASE_S = 3.0
AUTOML = str(Path(sys.executable).with_name("automl"))


def wait_for(cond: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def pid_alive(pid: int) -> bool:
    """True unless the process is gone or a zombie (a container's init may not reap orphans at once)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(settings: Any, port: int, log: Path, *, workers: int = 1) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AUTOML_DATA_DIR": str(settings.data_dir), "AUTOML_DATABASE_URL": settings.db_url,
           "AUTOML_JOB_LEASE_S": str(settings.job_lease_s)}
    return subprocess.Popen([AUTOML, "serve", "--port", str(port), "--workers", str(workers)], env=env,
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


def get_json(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return json.loads(r.read())


def stop_group(proc: subprocess.Popen[bytes]) -> float:
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGTERM)  # what the acceptance harness does to the whole group
    proc.wait(10)
    return time.monotonic() - t0
