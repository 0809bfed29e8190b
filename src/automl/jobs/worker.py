"""The worker: claims jobs, runs each attempt in a child process, renews leases, honours cancel and SIGTERM.

One loop in the main thread, ticking every `poll_s` (<= 0.5 s): recover expired leases, reap finished
children, watch running jobs (cancel requested? lease taken over?), renew leases, claim more work.
Children come from a forkserver that preloads the handlers, so a job starts in milliseconds.
"""
from __future__ import annotations

import importlib
import logging
import multiprocessing as mp
import os
import signal
import socket
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from types import FrameType

from automl.config import Settings
from automl.db import Database
from automl.db.models import JobStatus
from automl.jobs import queue
from automl.jobs.child import ChildSpec, run_child
from automl.jobs.handlers import PRELOAD
from automl.jobs.registry import known_kinds
from automl.storage import Storage

log = logging.getLogger(__name__)

CANCEL_GRACE_S = 1.0  # a cancelled child may stop on its own this long before it is killed
RECOVER_EVERY_S = 1.0


@dataclass
class _Running:
    job: queue.Claimed
    process: BaseProcess
    alive: Connection  # the only write end of the child's watchdog pipe
    result: Connection
    stop: Event
    kill_at: float | None = None
    reason: str | None = None  # why we are stopping it: "cancelled" | "shutdown" | "lost"


class Worker:
    def __init__(
        self, settings: Settings, *, concurrency: int = 1, poll_s: float = 0.5, modules: tuple[str, ...] = (),
        preload: tuple[str, ...] = PRELOAD, parent_pid: int | None = None,
    ) -> None:
        self.settings = settings
        self.concurrency = max(1, concurrency)
        self.poll_s = min(poll_s, 0.5)
        self.modules = modules
        self.parent_pid = parent_pid  # embedded workers exit when `automl serve` goes away
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.db = Database(settings.db_url)
        self.storage = Storage.from_settings(settings)
        self.lease_s = settings.job_lease_s
        self.renew_s = max(0.2, min(self.lease_s / 4, 10.0))
        self.running: dict[int, _Running] = {}
        self.stopping = False
        self.mp = mp.get_context("forkserver")
        for name in modules:  # test kinds register on import; the parent needs them in `kinds`
            importlib.import_module(name)
        self.mp.set_forkserver_preload(["automl.jobs.handlers", *preload, *modules])
        self.kinds = known_kinds()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stopping:
            return
        log.info("worker stopping", extra={"worker": self.id, "signal": signum})
        self.stopping = True

    def run(self, *, burst: bool = False) -> None:
        """Claim and run jobs until SIGTERM/SIGINT; with `burst`, also stop once nothing is running or queued."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self._warm_up()
        log.info("worker started", extra={"worker": self.id, "concurrency": self.concurrency, "kinds": self.kinds})
        next_recover = next_renew = 0.0
        try:
            while not self.stopping:
                now = time.monotonic()
                try:
                    if now >= next_recover:
                        queue.recover_expired(self.db, storage=self.storage)
                        next_recover = now + RECOVER_EVERY_S
                    self._reap()
                    self._watch()
                    if now >= next_renew:
                        queue.renew(self.db, self.id, list(self.running), lease_s=self.lease_s)
                        next_renew = now + self.renew_s
                    self._fill()
                    if burst and not self.running:
                        self.stopping = True
                except Exception:  # noqa: BLE001 - a database hiccup must not kill the worker and its jobs
                    log.exception("worker tick failed", extra={"worker": self.id})
                if self.parent_pid and os.getppid() != self.parent_pid:
                    self.stopping = True
                if not self.stopping:
                    time.sleep(self.poll_s)
        finally:
            self._shutdown()

    def _warm_up(self) -> None:
        """Start the forkserver (it imports the handlers' heavy modules) before claiming anything."""
        proc = self.mp.Process(target=_noop, name="warm-up")
        proc.start()
        proc.join()

    def _fill(self) -> None:
        while not self.stopping and len(self.running) < self.concurrency:
            job = queue.claim(self.db, self.id, lease_s=self.lease_s, kinds=self.kinds, storage=self.storage)
            if job is None:
                return
            self._start(job)
            queue.renew(self.db, self.id, [job.id], lease_s=self.lease_s)  # the start may have taken a while

    def _start(self, job: queue.Claimed) -> None:
        alive_r, alive_w = self.mp.Pipe(duplex=False)
        result_r, result_w = self.mp.Pipe(duplex=False)
        stop = self.mp.Event()
        spec = ChildSpec(job, self.id, self.settings, time.time(), self.modules)
        proc = self.mp.Process(target=run_child, args=(spec, alive_r, result_w, stop), name=f"job-{job.id}")
        proc.start()
        alive_r.close()
        result_w.close()
        self.running[job.id] = _Running(job, proc, alive_w, result_r, stop)
        log.info("job started", extra={"job_id": job.id, "kind": job.kind, "attempt": job.attempt, "pid": proc.pid})

    def _watch(self) -> None:
        states = queue.states(self.db, list(self.running))
        now = time.monotonic()
        for job_id, run in list(self.running.items()):
            status, worker_id, attempts, cancel = states.get(job_id, ("gone", None, 0, False))
            if status != JobStatus.RUNNING or worker_id != self.id or attempts != run.job.attempt:
                self._kill(run, "lost")  # taken over or cancelled elsewhere: its new owner records the outcome
            elif cancel and run.reason is None:
                run.reason, run.kill_at = "cancelled", now + CANCEL_GRACE_S
                run.stop.set()
            elif run.kill_at is not None and now >= run.kill_at:
                self._kill(run, run.reason or "cancelled")

    def _reap(self) -> None:
        for job_id, run in list(self.running.items()):
            if run.process.is_alive():
                continue
            run.process.join()
            self._record(run, _outcome(run.result))
            del self.running[job_id]

    def _record(self, run: _Running, outcome: tuple[str, str | None] | None) -> None:
        job, storage = run.job, self.storage
        if run.reason == "cancelled" or (outcome is not None and outcome[0] == JobStatus.CANCELLED):
            queue.finish(self.db, job, self.id, JobStatus.CANCELLED, storage=storage)
        elif outcome is not None and outcome[0] in (JobStatus.COMPLETED, JobStatus.FAILED):
            queue.finish(self.db, job, self.id, JobStatus(outcome[0]), error=outcome[1], storage=storage)
        elif outcome is not None and outcome[0] == "lost" or run.reason == "lost":
            pass
        else:
            reason = f"the job process died (exit code {run.process.exitcode})"
            queue.retry_or_fail(self.db, job, self.id, reason=reason, storage=storage)
        log.info("job ended", extra={"job_id": job.id, "outcome": outcome and outcome[0], "reason": run.reason})
        run.alive.close()
        run.result.close()

    @staticmethod
    def _terminate(run: _Running) -> None:
        pid = run.process.pid
        if pid:
            try:
                os.killpg(pid, signal.SIGKILL)  # the child and any pool it started (it leads its own group)
            except (ProcessLookupError, PermissionError):
                pass
            run.process.kill()  # in case it had not yet made its own group
        run.process.join(5)

    def _kill(self, run: _Running, reason: str) -> None:
        run.reason = reason
        self._terminate(run)
        if reason == "lost":
            self.running.pop(run.job.id, None)
            run.alive.close()
            run.result.close()
        else:
            self._reap()

    def _shutdown(self) -> None:
        """SIGTERM: stop claiming, stop the children, hand their jobs back (not counted as an attempt)."""
        for run in list(self.running.values()):
            if run.reason is None:
                run.reason = "shutdown"
            self._terminate(run)
            if run.reason == "cancelled":
                queue.finish(self.db, run.job, self.id, JobStatus.CANCELLED, storage=self.storage)
            else:
                queue.release(self.db, run.job, self.id, storage=self.storage)
        self.running.clear()
        self.db.dispose()
        log.info("worker stopped", extra={"worker": self.id})


def _outcome(conn: Connection) -> tuple[str, str | None] | None:
    """What the child reported, or None if it died first (a killed child leaves an empty, closed pipe)."""
    try:
        return conn.recv() if conn.poll() else None
    except (EOFError, OSError):
        return None


def _noop() -> None:
    pass
