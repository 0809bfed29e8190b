"""`automl cluster up`: a local Dask scheduler and N workers from this environment, for trying scale-out.

The processes are Dask's own (`dask scheduler`, `dask worker`), started with this interpreter, so the workers
import the same automl and libraries the jobs do. Each worker defaults to one thread with its BLAS/OpenMP
pools pinned to one: the models are single-threaded and the parallelism is the workers'.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Annotated

import typer

cluster_app = typer.Typer(no_args_is_help=True, help="A local Dask cluster for AUTOML_DASK_SCHEDULER.")

PINNED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
          # Arrow's default pool kept ~100 MB per worker after a few Parquet reads (docs/large-data.md)
          "ARROW_DEFAULT_MEMORY_POOL": "jemalloc"}


def scheduler_command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "dask", "scheduler", "--host", host, "--port", str(port), "--no-dashboard"]


def worker_command(address: str, *, name: str, nthreads: int, memory_limit: str) -> list[str]:
    # --preload: the engine is imported once at start, not by the first task of the first experiment
    return [sys.executable, "-m", "dask", "worker", address, "--name", name, "--nthreads", str(nthreads),
            "--memory-limit", memory_limit, "--no-dashboard", "--preload", "automl.engine"]


def worker_env() -> dict[str, str]:
    return {**os.environ, **PINNED}


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _wait_for_port(host: str, port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    import socket

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            _fail(f"the scheduler exited with code {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    _fail(f"the scheduler did not listen on {host}:{port} within {timeout:.0f} s")


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


@cluster_app.command("up")
def up(
    workers: Annotated[int, typer.Option(min=1, help="Dask worker processes.")] = 2,
    threads: Annotated[int, typer.Option(min=1, help="Threads per worker (one model each).")] = 1,
    memory_limit: Annotated[str, typer.Option(help="Per worker, e.g. 4GB or auto.")] = "auto",
    host: Annotated[str, typer.Option(help="Interface the scheduler binds.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Scheduler port.")] = 8786,
) -> None:
    """Start a scheduler and its workers; print the address for AUTOML_DASK_SCHEDULER; stop all on Ctrl-C."""
    address = f"tcp://{host}:{port}"
    procs = [subprocess.Popen(scheduler_command(host, port))]
    try:
        _wait_for_port(host, port, procs[0])
        for i in range(workers):
            cmd = worker_command(address, name=f"automl-{i + 1}", nthreads=threads, memory_limit=memory_limit)
            procs.append(subprocess.Popen(cmd, env=worker_env()))
        typer.echo(f"Dask cluster up: {workers} workers x {threads} threads.\n"
                   f"  export AUTOML_DASK_SCHEDULER={address}\nCtrl-C stops it.", err=True)
        signal.signal(signal.SIGTERM, _interrupt)
        reported: set[int] = set()
        while procs[0].poll() is None:  # a lost worker costs only its tasks; the scheduler going ends it all
            for i, p in enumerate(procs[1:], start=1):
                if p.poll() is not None and i not in reported:
                    reported.add(i)
                    typer.echo(f"worker automl-{i} exited with code {p.returncode}", err=True)
            time.sleep(0.5)
        typer.echo("the scheduler exited; stopping the workers", err=True)
    except KeyboardInterrupt:
        pass
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
