"""`python -m automl.jobs [--concurrency N] [--parent-pid PID] [--burst]`: a worker process (what `automl serve`
embeds); `--burst` exits once the queue is empty."""
from __future__ import annotations

import argparse

from automl.config import get_settings
from automl.jobs.worker import Worker
from automl.logging import configure_logging


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m automl.jobs")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument("--burst", action="store_true", help="exit once nothing is running or queued")
    args = parser.parse_args()
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    settings.ensure_dirs()
    Worker(settings, concurrency=args.concurrency, parent_pid=args.parent_pid).run(burst=args.burst)


if __name__ == "__main__":
    main()
