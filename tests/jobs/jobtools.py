"""Helpers for the job tests (a module of its own: `conftest` names clash between test folders)."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

LEASE_S = 3.0


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
