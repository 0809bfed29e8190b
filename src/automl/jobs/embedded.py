"""`automl serve --workers N`: N worker processes beside the API, stopped (SIGTERM, then SIGKILL) on the way out."""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from types import FrameType

log = logging.getLogger(__name__)

STOP_WAIT_S = 6.0  # the acceptance harness allows 10 s for the whole group to exit


def _exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


@contextlib.contextmanager
def embedded_workers(n: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """uvicorn restores the handler it found and re-raises SIGTERM once it has shut down: with this handler
    that becomes SystemExit, so the workers are stopped (and their jobs handed back) before `serve` exits."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    cmd = [sys.executable, "-m", "automl.jobs", "--parent-pid", str(os.getpid())]
    procs = [subprocess.Popen(cmd) for _ in range(max(0, n))]
    if procs:
        log.info("embedded workers started", extra={"pids": [p.pid for p in procs]})
    try:
        yield procs
    finally:
        stop(procs)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT_S
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("worker did not stop in time; killing it", extra={"pid": p.pid})
            p.kill()
            p.wait()
