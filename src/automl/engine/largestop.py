"""Stopping LightGBM's Dask training at one iteration on every worker, and never hanging on a lost one.

LightGBM's Dask interface has no early stopping, and its training hangs when one worker leaves the boosting
loop before the others (lightgbm-org/LightGBM#3712, #6351, #7009).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import xgboost as xgb

from automl.engine.errors import EngineError

STOP_MARGIN = 3  # iterations between a stop being agreed and taken: more than workers can be apart


def agreed_stop(name: str, iteration: int) -> int | None:
    """On a worker, each iteration: the iteration every worker stops at, once the client has asked for a stop
    (Dask Variable `name`): the first worker to read "stop" turns it, under a Dask Lock, into an iteration
    STOP_MARGIN ahead; None while no stop is asked."""
    from distributed import Lock, Variable

    var = Variable(name)
    value = var.get(timeout=30)
    if value == "stop":
        with Lock(name):
            value = var.get(timeout=30)
            if value == "stop":
                value = iteration + STOP_MARGIN
                var.set(value)
    return value if isinstance(value, int) else None


class Stopper:
    """A LightGBM callback run on every worker: early stopping on the early-stopping set (every worker holds
    all of it and the same trees, so all decide alike) and a stop the client asks for (deadline, cancel).

    The client writes "stop" to a Dask Variable; the first worker to read it turns it, under a Dask Lock,
    into an iteration STOP_MARGIN ahead, which every worker reads before reaching it: LightGBM's Dask
    training hangs when one worker leaves the boosting loop earlier than the others."""

    def __init__(self, X: np.ndarray, y: np.ndarray, *, n_classes: int, name: str, patience: int,
                 min_delta: float) -> None:
        self.X, self.y, self.n_classes, self.name = X, y, n_classes, name
        self.patience, self.min_delta = patience, min_delta
        self.order = 20  # after LightGBM's own callbacks

    def _loss(self, raw: np.ndarray) -> float:
        if self.n_classes == 0:
            return float(np.mean((self.y - raw) ** 2))
        if self.n_classes == 2:
            p = np.clip(1.0 / (1.0 + np.exp(-raw)), 1e-15, 1 - 1e-15)
            return float(-np.mean(np.where(self.y == 1, np.log(p), np.log(1 - p))))
        z = raw - raw.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-np.mean(logp[np.arange(len(self.y)), self.y]))

    def __call__(self, env: Any) -> None:
        import lightgbm as lgb

        i = env.iteration
        if i == env.begin_iteration:
            self.raw, self.best, self.best_iter = None, np.inf, 0
        step = env.model.predict(self.X, start_iteration=i, num_iteration=1, raw_score=True)
        self.raw = step if self.raw is None else self.raw + step
        loss = self._loss(self.raw)
        if loss < self.best - self.min_delta:
            self.best, self.best_iter = loss, i
        stop_at = agreed_stop(self.name, i)
        if i - self.best_iter >= self.patience or (stop_at is not None and i >= stop_at):
            raise lgb.callback.EarlyStopException(self.best_iter, [("es", "loss", self.best, False)])


class Watch:
    """A client thread that asks the workers to stop at the deadline or when `should_stop()` turns true."""

    def __init__(self, client: Any, name: str, *, deadline: float, should_stop: Callable[[], bool]) -> None:
        from distributed import Variable

        self.var = Variable(name, client=client)
        self.var.set(None)
        self.deadline, self.should_stop = deadline, should_stop
        self.asked, self.cancelled = False, False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fit-large-watch", daemon=True)

    def _run(self) -> None:
        while not self._done.wait(0.25):
            cancelled = self.should_stop()
            if cancelled or time.monotonic() > self.deadline:
                self.cancelled = cancelled
                self.asked = True
                self.var.set("stop")
                return

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=5)


def run_guarded(client: Any, fit: Callable[[], Any], *, give_up_at: float) -> None:
    """Run `fit` in a thread, watching the cluster: LightGBM's Dask training cannot lose a worker (the others
    wait on the network until its time_out), so a lost worker, or a fit still running at `give_up_at`, is an
    EngineError here instead of a hang."""
    workers = set(client.scheduler_info()["workers"])
    outcome: dict[str, BaseException] = {}

    def target() -> None:
        try:
            fit()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="fit-large-lightgbm", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.5)
        if not thread.is_alive():
            break
        lost = workers - set(client.scheduler_info()["workers"])
        if lost:
            raise EngineError(f"Dask worker(s) {', '.join(sorted(lost))} left during LightGBM training "
                              "(see their logs: memory limit?); LightGBM's Dask training cannot go on without them.")
        if time.monotonic() > give_up_at:
            raise EngineError("LightGBM's Dask training did not stop at the deadline; given up.")
    if "error" in outcome:
        raise outcome["error"]


class XGBoostStopper(xgb.callback.TrainingCallback):
    """The agreed stop for `xgboost.dask.train` (its early stopping is its own: metrics are summed over the
    workers, so they already agree)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        stop_at = agreed_stop(self.name, epoch)
        return stop_at is not None and epoch >= stop_at
