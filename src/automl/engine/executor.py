"""Where fold fits run: threads in this process, or tasks on a Dask cluster.

The search only submits functions, waits for the first to finish and cancels what it no longer needs;
`slots` is how many tasks can run at once, so it keeps that many busy and no more queued than that.
Arguments that every task shares (the training frame) go through `share` once per experiment: on Dask
they are scattered to every worker, so that losing a worker loses none of them.
"""
from __future__ import annotations

import concurrent.futures as cf
import time
import uuid
from collections.abc import Callable, Collection
from typing import Any, Protocol


class TaskFuture(Protocol):
    def done(self) -> bool: ...
    def result(self, timeout: float | None = None) -> Any: ...
    def cancel(self) -> Any: ...


class Executor(Protocol):
    remote: bool  # tasks run in other processes: they pin their own thread pools

    @property
    def slots(self) -> int: ...
    def share(self, value: Any) -> Any: ...
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> TaskFuture: ...
    def wait(self, futures: Collection[TaskFuture], timeout: float) -> set[TaskFuture]: ...
    def cancel(self, futures: Collection[TaskFuture]) -> None: ...
    def close(self) -> None: ...


class LocalExecutor:
    """`n_jobs` threads, each fitting a single-threaded model: parallel folds beat multi-threaded models here
    (under CPU contention OpenMP's spin-waits made LightGBM/XGBoost with 2 threads 10-30x slower than with 1)."""

    remote = False

    def __init__(self, n_jobs: int) -> None:
        self._n = max(1, n_jobs)
        self._pool = cf.ThreadPoolExecutor(max_workers=self._n, thread_name_prefix="automl-fit")

    @property
    def slots(self) -> int:
        return self._n

    def share(self, value: Any) -> Any:
        return value

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> TaskFuture:
        return self._pool.submit(fn, *args, **kwargs)

    def wait(self, futures: Collection[TaskFuture], timeout: float) -> set[TaskFuture]:
        done, _ = cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)  # type: ignore[arg-type]
        return set(done)  # type: ignore[arg-type]

    def cancel(self, futures: Collection[TaskFuture]) -> None:
        for f in futures:
            f.cancel()  # a running fit ends at its own deadline; only queued ones are dropped

    def close(self) -> None:
        # no waiting for a running fit: one that cannot be interrupted (a solver without a deadline) would hold
        # the budget past its end; it finishes on its own and its result is dropped
        self._pool.shutdown(wait=False, cancel_futures=True)


class DaskExecutor:
    """Tasks on a `distributed.Client`'s cluster, named `<prefix>-<function>-<id>` so the scheduler's task stream
    tells experiments apart. A worker that dies takes only its running tasks: the scheduler reruns them elsewhere."""

    remote = True

    SLOTS_EVERY_S = 2.0  # workers may come and go; asking the scheduler costs a round trip

    def __init__(self, client: Any, *, prefix: str = "automl") -> None:
        self.client = client
        self.prefix = prefix
        self._slots, self._slots_at = 1, -self.SLOTS_EVERY_S

    @property
    def slots(self) -> int:
        now = time.monotonic()
        if now - self._slots_at >= self.SLOTS_EVERY_S:
            workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
            self._slots = max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))
            self._slots_at = now
        return self._slots

    def share(self, value: Any) -> Any:
        return self.client.scatter(value, broadcast=True, hash=False)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> TaskFuture:
        key = f"{self.prefix}-{getattr(fn, '__name__', 'task')}-{uuid.uuid4().hex[:12]}"
        return self.client.submit(fn, *args, key=key, pure=False, **kwargs)  # type: ignore[no-any-return]

    def wait(self, futures: Collection[TaskFuture], timeout: float) -> set[TaskFuture]:
        # a future's state is kept current by the client's own event loop, so looking is free; distributed.wait
        # would need this client to be the process-wide default
        end = time.monotonic() + timeout
        while True:
            done = {f for f in futures if f.done()}
            if done or time.monotonic() >= end:
                return done
            time.sleep(0.02)

    def cancel(self, futures: Collection[TaskFuture]) -> None:
        if futures:
            self.client.cancel(list(futures), force=True)

    def close(self) -> None:
        """The client is the caller's; this executor holds nothing else."""
