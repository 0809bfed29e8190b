"""Parse untrusted files in a child process with a memory and a time limit, so that a reader that crashes,
aborts or runs out of memory on a hostile file costs that upload a 4xx, never the server or its worker.

`run(fn, *args, limits=..., **kwargs)` calls `fn` in a child forked from a forkserver (started once, with the
readers imported, so a child starts in milliseconds and inherits no threads or locks from the server). The
child's address space is capped (RLIMIT_AS: an allocation over it fails, in Python as MemoryError and in
calamine's Rust as an abort) and so is its CPU time; the parent kills it past the wall-clock limit. Domain
errors come back as they were raised; anything else becomes TooLarge (memory) or Unprocessable (a crash or
the time limit), naming the limit. Nothing the child wrote is the caller's until `fn` returns.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import signal
import sys
import threading
import time
import types
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from automl.errors import BadInput, DomainError, TooLarge, Unprocessable, UnsupportedMedia
from automl.ingest.growing import UploadAborted, UploadProgress
from automl.ingest.limits import ParseLimits

log = logging.getLogger(__name__)
T = TypeVar("T")
_CTX = multiprocessing.get_context("forkserver")
# pandas: pyarrow imports it lazily while profiling (0.7 s); imported once here, every child inherits it
_PRELOAD = ["automl.ingest.pipeline", "automl.ingest.stream", "pandas"]
_ERRORS: dict[str, type[DomainError]] = {
    c.__name__: c for c in (BadInput, TooLarge, Unprocessable, UnsupportedMedia)
}
_POLL_S = 0.05
_START = threading.Lock()
_NO_MAIN = types.ModuleType("__main__")  # see _start


def warm() -> None:
    """Start the forkserver now (it imports the readers once, ~1 s) instead of on the first upload."""
    _CTX.set_forkserver_preload(_PRELOAD)
    from multiprocessing import forkserver

    forkserver.ensure_running()
    run(_noop, limits=ParseLimits())  # the first child costs ~0.3 s more than the next ones: pay it now


def _noop() -> None:
    return None


def run(fn: Callable[..., T], *args: Any, limits: ParseLimits, progress: UploadProgress | None = None,
        **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` in a limited child; its result, or the DomainError for the file. With
    `progress`, the file is still arriving: the time limit counts from its end, and an aborted upload
    raises UploadAborted (its own error is the one to report)."""
    _CTX.set_forkserver_preload(_PRELOAD)
    receiver, sender = _CTX.Pipe(duplex=False)
    child = _CTX.Process(target=_child, args=(sender, limits, fn, args, kwargs), name="automl-parse", daemon=True)
    _start(child)
    sender.close()
    try:
        outcome = _wait(child, receiver, limits, progress)
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receiver.close()
        child.close()
    return _result(outcome, limits)


def _start(child: Any) -> None:
    """multiprocessing has each child re-run the parent's main script (for `automl serve`, the CLI: the whole
    app, seconds of imports per upload); the readers need none of it, so the child is started without it."""
    with _START:
        main = sys.modules["__main__"]
        sys.modules["__main__"] = _NO_MAIN
        try:
            child.start()
        finally:
            sys.modules["__main__"] = main


def _wait(child: Any, receiver: Connection, limits: ParseLimits, progress: UploadProgress | None) -> tuple[Any, ...]:
    deadline: float | None = None
    while True:
        if deadline is None and (progress is None or progress.complete):
            deadline = time.monotonic() + limits.timeout_s
        if receiver.poll(_POLL_S):
            try:
                return tuple(receiver.recv())
            except EOFError:  # the child died without a word
                child.join(5)
                return ("died", child.exitcode)
        if not child.is_alive() and not receiver.poll(0):
            return ("died", child.exitcode)
        if deadline is not None and time.monotonic() > deadline:
            child.kill()
            return ("timeout",)


def _result(outcome: tuple[Any, ...], limits: ParseLimits) -> Any:
    kind = outcome[0]
    if kind == "ok":
        return outcome[1]
    if kind == "error":
        raise _ERRORS.get(outcome[1], BadInput)(outcome[2])
    if kind == "aborted":
        raise UploadAborted()
    if kind == "memory":
        raise TooLarge(f"reading this file needs more than the {limits.memory_mb:,} MB allowed for parsing one "
                       "file (AUTOML_PARSE_MEMORY_MB); upload a smaller file or fewer columns")
    if kind == "timeout":
        raise Unprocessable(f"reading this file took longer than the {limits.timeout_s:g} s allowed for parsing "
                            "one file (AUTOML_PARSE_TIMEOUT_S)")
    if kind == "died":
        code = outcome[1]
        how = f"signal {signal.Signals(-code).name}" if isinstance(code, int) and code < 0 else f"exit {code}"
        log.warning("the parsing child stopped (%s)", how)
        raise Unprocessable(f"the file could not be read: the reader stopped ({how}); the file is damaged, or "
                            f"reading it needs more than the {limits.memory_mb:,} MB allowed for parsing one file "
                            "(AUTOML_PARSE_MEMORY_MB)")
    log.warning("the parsing child failed: %s", outcome[1:])
    raise Unprocessable("the file could not be read: the reader failed on it (the server's log has the error)")


def _limit(limits: ParseLimits) -> None:
    memory = limits.memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(limits.timeout_s * max(1, os.cpu_count() or 1)) + 10  # a backstop if the parent is gone
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # an abort leaves no core file behind


def _child(sender: Connection, limits: ParseLimits, fn: Callable[..., Any], args: tuple[Any, ...],
           kwargs: dict[str, Any]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops this child
    outcome: tuple[Any, ...]
    try:
        _limit(limits)
        outcome = ("ok", fn(*args, **kwargs))
    except DomainError as exc:
        outcome = ("error", type(exc).__name__, str(exc.detail))
    except UploadAborted:
        outcome = ("aborted",)
    except MemoryError:
        outcome = ("memory",)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which logs it
        outcome = ("failed", f"{type(exc).__name__}: {exc}"[:2000])
    try:
        sender.send(outcome)
    except MemoryError:
        sender.send(("memory",))
    finally:
        sender.close()
