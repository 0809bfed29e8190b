"""Job kinds for the queue tests: they record each run in a file, so 'exactly once' can be counted."""
from __future__ import annotations

import os
import time
from pathlib import Path

from automl.jobs.registry import JobCancelled, JobContext, JobFailed, register


@register("test_sleep")
def sleep_job(ctx: JobContext) -> None:
    log = Path(ctx.payload["log"])
    with open(log, "a") as f:
        f.write(f"start {ctx.job_id} {ctx.attempt} {os.getpid()}\n")
    deadline = time.monotonic() + float(ctx.payload.get("seconds", 0.1))
    while time.monotonic() < deadline:
        ctx.report_progress("sleeping", 0.5, "zzz")
        if ctx.should_stop() and not ctx.payload.get("ignore_stop"):
            raise JobCancelled()
        time.sleep(0.05)
    if ctx.payload.get("fail"):
        raise JobFailed("asked to fail")
    with open(log, "a") as f:
        f.write(f"done {ctx.job_id} {ctx.attempt} {os.getpid()}\n")
