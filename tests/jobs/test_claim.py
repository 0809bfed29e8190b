"""Claims race for real: many claimers at once (threads, each with its own engine) never share a job."""
from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from automl.db import Database
from automl.db.models import Job
from automl.jobs import queue
from automl.storage import Storage


def test_concurrent_claims_take_each_job_exactly_once(job_db, job_settings) -> None:
    storage = Storage(job_settings.data_dir)
    with job_db.session() as s:
        ids = [queue.enqueue(s, "test_sleep", {"log": "-"}).id for _ in range(40)]

    def drain(n: int) -> list[int]:
        db, got = Database(job_settings.db_url), []
        try:
            while (job := queue.claim(db, f"w{n}", lease_s=60, kinds=["test_sleep"], storage=storage)) is not None:
                got.append(job.id)
        finally:
            db.dispose()
        return got

    with ThreadPoolExecutor(6) as pool:
        claimed = [job_id for got in pool.map(drain, range(6)) for job_id in got]
    assert Counter(claimed) == Counter(ids)
    with job_db.session() as s:
        jobs = [s.get(Job, i) for i in ids]
        assert {(j.status, j.attempts) for j in jobs} == {("running", 1)}
        assert all(j.lease_expires_at is not None and j.worker_id for j in jobs)
