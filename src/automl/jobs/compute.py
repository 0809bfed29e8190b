"""Where an experiment's fits run: local threads, or the Dask cluster named by `AUTOML_DASK_SCHEDULER`.

The job's child process is the Dask client: it keeps the budget, progress, cancellation and the leaderboard,
and the cluster's workers fit the folds. When the child ends (or is killed on cancel) the client goes with
it, and the scheduler forgets every task the experiment still had.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from automl.config import Settings
from automl.engine.executor import DaskExecutor
from automl.jobs.registry import JobFailed

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10


@contextmanager
def experiment_executor(settings: Settings, *, name: str) -> Iterator[DaskExecutor | None]:
    """A DaskExecutor on the configured cluster, its tasks named after `name`; None for local threads."""
    if not settings.dask_scheduler:
        yield None
        return
    from distributed import Client

    try:
        # the default client of this (single-job) process: Dask collections and lightgbm.dask find it there
        client = Client(settings.dask_scheduler, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise JobFailed(f"The Dask scheduler at {settings.dask_scheduler} did not answer: {exc}") from None
    log.info("training on dask", extra={"scheduler": settings.dask_scheduler, "task_prefix": name})
    try:
        yield DaskExecutor(client, prefix=name)
    finally:
        client.close(timeout=CONNECT_TIMEOUT_S)


def large_on_cluster(settings: Settings, client: Any, url: str, *, storage_options: dict[str, Any],
                     columns: list[str]) -> bool:
    """Whether the dataset trains through the Dask estimators on its partitions (engine.large): over
    AUTOML_DASK_LARGE_MB in memory when set, else over a share of the smallest worker's memory limit."""
    from automl.engine import is_large, memory_estimate, worker_memory_limit

    n_bytes = memory_estimate(url, storage_options=storage_options, columns=columns)
    large = is_large(n_bytes, threshold_mb=settings.dask_large_mb, worker_memory_limit=worker_memory_limit(client))
    log.info("dataset size on the cluster", extra={"bytes_in_memory": int(n_bytes), "large": large})
    return large
