"""`python -m automl.jobs [--concurrency N] [--parent-pid PID]`: a worker process (what `automl serve` embeds)."""
from __future__ import annotations

import argparse

from automl.config import get_settings
from automl.jobs.worker import Worker
from automl.logging import configure_logging


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m automl.jobs")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--parent-pid", type=int, default=None)
    args = parser.parse_args()
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    settings.ensure_dirs()
    Worker(settings, concurrency=args.concurrency, parent_pid=args.parent_pid).run()


if __name__ == "__main__":
    main()
