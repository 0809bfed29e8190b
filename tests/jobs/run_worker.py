"""A worker process for the tests: the real Worker, plus the test job kinds."""
from __future__ import annotations

import sys

from automl.config import Settings
from automl.jobs.worker import Worker
from automl.logging import configure_logging

if __name__ == "__main__":
    configure_logging("INFO")
    concurrency = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    preload = ("automl.engine",) if "--engine" in sys.argv else ()  # the queue tests start faster without it
    Worker(Settings(), concurrency=concurrency, modules=("jobkinds",), preload=preload).run()
