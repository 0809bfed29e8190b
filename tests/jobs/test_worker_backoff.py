"""A worker whose database is unreachable keeps trying, backing off, with one traceback and then one line per
try, instead of a traceback every poll (a tight burst of `worker tick failed` while PostgreSQL restarts)."""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from automl.config import Settings
from automl.jobs.worker import Worker

WATCH_S = 4.0


class _Failures(logging.Handler):
    """Collects `worker tick failed` records; `WATCH_S` after the first (the forkserver warm-up comes before) it
    stops the worker."""

    def __init__(self, worker: Worker) -> None:
        super().__init__(logging.INFO)
        self.worker, self.records, self.first = worker, [], 0.0

    def emit(self, record: logging.LogRecord) -> None:
        if not record.getMessage().startswith("worker tick failed"):
            return
        if not self.records:
            self.first = time.monotonic()
            threading.Timer(WATCH_S, self.stop).start()
        if time.monotonic() - self.first < WATCH_S:
            self.records.append(record)

    def stop(self) -> None:
        self.worker.stopping = True
        os.write(self.worker._wake_w, b"\0")


def test_ticks_against_a_dead_database_back_off(tmp_path: Path) -> None:
    # a real PostgreSQL URL on a port where nothing listens: every tick fails with a real connection error
    settings = Settings(data_dir=tmp_path / "data", database_url="postgresql+psycopg://postgres@127.0.0.1:9/none",
                        _env_file=None)  # type: ignore[call-arg]
    settings.ensure_dirs()
    worker = Worker(settings, concurrency=1, poll_s=0.5, preload=(), listen=False)  # only the ticks fail
    failures = _Failures(worker)
    logger = logging.getLogger("automl.jobs.worker")
    logger.addHandler(failures)
    try:
        worker.run()
    finally:
        logger.removeHandler(failures)
    assert len([r for r in failures.records if r.exc_info]) == 1
    # polling every 0.5 s fails 8 times in 4 s; backing off (0.5, 1, 2, 4 s) at most 5
    assert 2 <= len(failures.records) <= 5, [r.getMessage() for r in failures.records]
