"""The worker: claims jobs, runs each attempt in a child process, renews leases, honours cancel and SIGTERM.

One loop in the main thread: recover expired leases (every `RECOVER_EVERY_S`), reap finished children, watch
running jobs (cancel requested? lease taken over?) every `poll_s` (<= 0.5 s) while any run, renew leases every
`renew_s`, and claim more work. Between ticks it waits, each cadence keeping its own deadline, and wakes early
when a child exits or, on PostgreSQL, when a NOTIFY says a job was queued or cancelled (jobs/notify.py): an idle
worker claims a new job within milliseconds of its commit, and polls the queue only every `idle_poll_s` in case
a notification was missed. Without a listener (SQLite, `listen=False`, or while its connection is down) it
looks for queued jobs every `poll_s`, as before.
Children come from a forkserver that preloads the handlers, so a job starts in milliseconds.
"""
from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing as mp
import os
import select
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
from automl.jobs.notify import QUEUED, Listener
from automl.jobs.registry import known_kinds
from automl.storage import Storage

log = logging.getLogger(__name__)

CANCEL_GRACE_S = 1.0  # a cancelled child may stop on its own this long before it is killed
RECOVER_EVERY_S = 1.0
IDLE_POLL_S = 5.0  # with a listener: how often the queue is still polled, in case a notification was missed
RECONNECT_EVERY_S = 5.0  # a lost listener connection is retried this often (the worker polls meanwhile)
FAILING_POLL_S = 5.0  # while ticks keep failing (the database is down), the longest wait between tries


@dataclass
class _Running:
    job: queue.Claimed
    process: BaseProcess
    alive: Connection  # the only write end of the child's watchdog pipe
    result: Connection
    stop: Event
    kill_at: float | None = None
    reason: str | None = None  # why we are stopping it: "cancelled" | "shutdown" | "lost"


@dataclass
class _Due:
    """When each of the loop's cadences is next due (time.monotonic)."""

    recover: float = 0.0
    renew: float = 0.0
    claim: float = 0.0
    connect: float = 0.0

    def next(self, now: float, watch_s: float | None) -> float:
        """The earliest deadline; while jobs run, their renewal and the watch (every `watch_s`) count too."""
        deadlines = [self.recover, self.claim]
        if watch_s is not None:
            deadlines += [self.renew, now + watch_s]
        return min(deadlines)


class Worker:
    def __init__(
        self, settings: Settings, *, concurrency: int = 1, poll_s: float = 0.5, modules: tuple[str, ...] = (),
        preload: tuple[str, ...] = PRELOAD, parent_pid: int | None = None, listen: bool | None = None,
        idle_poll_s: float = IDLE_POLL_S,
    ) -> None:
        self.settings = settings
        self.concurrency = max(1, concurrency)
        self.poll_s = min(poll_s, 0.5)
        self.idle_poll_s = max(idle_poll_s, self.poll_s)
        self.modules = modules
        self.parent_pid = parent_pid  # embedded workers exit when `automl serve` goes away
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.db = Database(settings.db_url)
        # LISTEN/NOTIFY on PostgreSQL unless turned off (`listen=False`: the polling baseline of bench/wakeup.py)
        self.listener = None if self.db.is_sqlite or listen is False else Listener(settings.db_url)
        self.storage = Storage.from_settings(settings)
        self.lease_s = settings.job_lease_s
        self.renew_s = max(0.2, min(self.lease_s / 4, 10.0))
        self.running: dict[int, _Running] = {}
        self.stopping = False
        self._wake_r = self._wake_w = -1  # while running: a pipe, the signal handler's nudge to the loop's select
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
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"\0")  # ends the loop's wait now

    def run(self, *, burst: bool = False) -> None:
        """Claim and run jobs until SIGTERM/SIGINT; with `burst`, also stop once nothing is running or queued."""
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self._warm_up()
        log.info("worker started", extra={"worker": self.id, "concurrency": self.concurrency, "kinds": self.kinds,
                                          "listen": self.listener is not None})
        due = _Due()
        woken, failures = True, 0
        try:
            while not self.stopping:
                now = time.monotonic()
                if self.listener is not None and not self.listener.connected and now >= due.connect:
                    woken = self.listener.connect() or woken  # LISTEN first, then look: nothing slips between
                    due.connect = now + RECONNECT_EVERY_S
                try:
                    self._tick(now, due, woken=woken)
                    if burst and not self.running:
                        self.stopping = True
                    timeout = max(0.0, due.next(now, self.poll_s if self.running else None) - time.monotonic())
                    failures = 0
                except Exception:  # noqa: BLE001 - a database hiccup must not kill the worker and its jobs
                    failures += 1
                    if failures == 1:
                        log.exception("worker tick failed", extra={"worker": self.id})
                    else:  # one line per retry, backing off, instead of a traceback every poll while it is down
                        log.warning("worker tick failed again", extra={"worker": self.id, "failures": failures})
                    # a notification may have gone unanswered: look next time
                    timeout, due.claim = min(FAILING_POLL_S, self.poll_s * 2 ** min(failures - 1, 4)), 0.0
                if self.parent_pid and os.getppid() != self.parent_pid:
                    self.stopping = True
                woken = False if self.stopping else self._wait(timeout)
        finally:
            if self.listener is not None:
                self.listener.close()
            self._shutdown()
            fds, self._wake_r, self._wake_w = (self._wake_r, self._wake_w), -1, -1
            for fd in fds:
                os.close(fd)

    def _tick(self, now: float, due: _Due, *, woken: bool) -> None:
        if now >= due.recover:
            queue.recover_expired(self.db, storage=self.storage)
            due.recover = now + RECOVER_EVERY_S
        before = len(self.running)
        self._reap()
        self._watch()
        if now >= due.renew:
            queue.renew(self.db, self.id, list(self.running), lease_s=self.lease_s)
            due.renew = now + self.renew_s
        if woken or len(self.running) < before or now >= due.claim:  # notified, a slot freed, or the poll
            self._fill()
            listening = self.listener is not None and self.listener.connected
            due.claim = now + (self.idle_poll_s if listening else self.poll_s)

    def _wait(self, timeout: float) -> bool:
        """Sleep until `timeout`, a child's exit, a signal or a notification; True when one says a job was queued."""
        fds = [self._wake_r, *(r.process.sentinel for r in self.running.values())]
        listen_fd = self.listener.fileno() if self.listener is not None else None
        if listen_fd is not None:
            fds.append(listen_fd)
        ready, _, _ = select.select(fds, [], [], timeout)
        if self._wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_r, 512)
        if self.listener is None or listen_fd is None or listen_fd not in ready:
            return False
        payloads = self.listener.drain()
        return QUEUED in payloads or not self.listener.connected  # lost: look once more, then poll

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
