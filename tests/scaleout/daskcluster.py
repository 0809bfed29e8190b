"""A real Dask cluster for tests: `dask scheduler` and `dask worker` processes from this venv, on loopback.

    with dask_cluster(2, memory_limit="300MB", nthreads=1) as cluster:
        client = distributed.Client(cluster.address)
        ...
        cluster.kill_worker(0)  # SIGKILL to the worker and its nanny: it is gone, not restarted

Ports are the operating system's choice (`--port 0`; the scheduler writes its address to a scheduler file),
so parallel test runs never collide. Every process runs in its own session and its whole process group is
killed on exit, whatever the test did. Workers are pinned to their thread count (OMP/BLAS pools too), so a
2-core machine is not oversubscribed, and use Arrow's jemalloc pool (see `_env`).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DASK = str(Path(sys.executable).with_name("dask"))
START_TIMEOUT_S = 60.0


@dataclass
class DaskCluster:
    address: str  # tcp://127.0.0.1:PORT
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]
    directory: Path
    memory_limit: str
    nthreads: int
    killed: set[int] = field(default_factory=set)

    def kill_worker(self, index: int = 0) -> None:
        """SIGKILL worker `index` and its nanny (so it is not restarted); the scheduler notices the lost worker."""
        _kill_group(self.workers[index])
        self.killed.add(index)

    def worker_logs(self) -> dict[str, str]:
        """Each process's stderr so far (for failure messages)."""
        return {p.name: p.read_text(errors="replace") for p in sorted(self.directory.glob("*.log"))}


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=10)


def _env(nthreads: int) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[var] = str(nthreads)
    env["PYTHONUNBUFFERED"] = "1"
    # Arrow's default pool here (mimalloc) keeps what each Parquet read freed: +100 MB a worker after a few
    # partitions, measured; jemalloc gives it back
    env.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
    return env


def _spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as fh:
        return subprocess.Popen([DASK, *args], stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _wait_address(scheduler_file: Path, proc: subprocess.Popen[bytes], deadline: float) -> str:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("dask scheduler exited at start")
        try:
            return str(json.loads(scheduler_file.read_text())["address"])
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            time.sleep(0.1)
    raise TimeoutError("dask scheduler did not write its address")


def _wait_workers(address: str, n: int, deadline: float) -> None:
    from distributed import Client

    with Client(address, timeout=max(1.0, deadline - time.monotonic())) as client:
        client.wait_for_workers(n, timeout=max(1.0, deadline - time.monotonic()))


@contextmanager
def dask_cluster(
    n_workers: int = 2, memory_limit: str = "300MB", nthreads: int = 1, *, nanny: bool = True,
    extra_env: dict[str, str] | None = None,
) -> Iterator[DaskCluster]:
    """A scheduler and `n_workers` worker processes on 127.0.0.1; everything is killed on exit."""
    directory = Path(tempfile.mkdtemp(prefix="dask-cluster-"))
    env = {**_env(nthreads), **(extra_env or {})}
    scheduler_file = directory / "scheduler.json"
    scheduler = _spawn(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                        "--scheduler-file", str(scheduler_file)], directory / "scheduler.log", env)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        address = _wait_address(scheduler_file, scheduler, deadline)
        for i in range(n_workers):
            workers.append(_spawn([
                "worker", address, "--host", "127.0.0.1", "--nthreads", str(nthreads), "--memory-limit", memory_limit,
                "--no-dashboard", "--name", f"w{i}", "--local-directory", str(directory / f"w{i}"),
                "--nanny" if nanny else "--no-nanny", "--death-timeout", "30",
            ], directory / f"worker{i}.log", env))
        _wait_workers(address, n_workers, deadline)
        yield DaskCluster(address=address, scheduler=scheduler, workers=workers, directory=directory,
                          memory_limit=memory_limit, nthreads=nthreads)
    finally:
        for proc in [*workers, scheduler]:
            _kill_group(proc)
        shutil.rmtree(directory, ignore_errors=True)


class MemoryPeaks:
    """The highest process memory (bytes, as the scheduler's heartbeats report it) of each worker while in use.

        with MemoryPeaks(client) as peaks:
            ...
        peaks.peak  # {worker address: bytes}
    """

    def __init__(self, client: Any, interval_s: float = 0.2) -> None:
        self.client, self.interval_s = client, interval_s
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                workers = self.client.scheduler_info()["workers"]
            except Exception:  # noqa: BLE001 - a busy scheduler: try again
                continue
            for address, info in workers.items():
                memory = int(info.get("metrics", {}).get("memory", 0))
                self.peak[address] = max(self.peak.get(address, 0), memory)

    def __enter__(self) -> MemoryPeaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
