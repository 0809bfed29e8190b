"""The API process's serving state: model cache, API-key checker, in-memory counters and their flusher.

Nothing here writes to the database per request: prediction counts and keys' `last_used_at` are kept in
memory and flushed every `flush_every_s` seconds by one background thread.

Several API processes (replicas) may share one database, each with its own cache; a deployment changed through
any of them (or the CLI) must not keep being served by the others. The same thread revalidates every cached
model against its row every `revalidate_s` (0.5 s): one primary-key read of (deployed_api, artifact_sha256,
threshold) for the cached ids. An entry whose row is gone, undeployed or points at another artifact is dropped,
one whose decision threshold changed is swapped for a copy with the new one, unless it was confirmed after that
read began (a deploy put it meanwhile); the others are confirmed. So an undeploy or a
new artifact is seen everywhere within `revalidate_s` plus one read, and a newly deployed model at once (a
cache miss reads the row). Should the thread fall behind (a slow database), a request for an entry not
confirmed for `stale_s` revalidates it first; while the database cannot be reached the cached entry keeps
serving (nobody can change a deployment then either).
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter as Tally
from dataclasses import replace

from sqlalchemy import select, update

from automl.config import Settings
from automl.db import Database
from automl.db.models import TrainedModel
from automl.errors import Forbidden
from automl.observability import CACHED_BYTES, CACHED_MODELS
from automl.services.apikeys import KeyChecker
from automl.services.models import get_model, load_for_serving, warm
from automl.serving.cache import LoadedModel, ModelCache
from automl.storage import Storage

log = logging.getLogger(__name__)
REVALIDATE_S = 0.5  # how often the cached models are checked against their deployment rows
STALE_S = 3.0  # a cached model not confirmed for this long is checked by the request that wants it


class ServingRuntime:
    def __init__(self, db: Database, storage: Storage, settings: Settings, *, keys_required: bool = False,
                 flush_every_s: float = 2.0, revalidate_s: float = REVALIDATE_S, stale_s: float = STALE_S) -> None:
        self.db = db
        self.storage = storage
        self.cache = ModelCache(settings.model_cache_mb << 20)
        self.keys = KeyChecker(db, required=keys_required)
        self.flush_every_s = flush_every_s
        self.revalidate_s = min(revalidate_s, flush_every_s)
        self.stale_s = max(stale_s, self.revalidate_s)
        self._counts: Tally[int] = Tally()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- hot path ---------------------------------------------------------------------------------
    def model(self, model_id: int) -> LoadedModel:
        """The deployed model, loaded once; NotFound for an unknown id, Forbidden when not deployed."""
        entry = self.cache.get(model_id)
        if entry is not None and time.monotonic() - entry.confirmed_at > self.stale_s:
            try:
                self.refresh([model_id])  # the background revalidation fell behind: check this one now
            except Exception:  # noqa: BLE001 - database unreachable: nobody can change the deployment either
                log.warning("could not revalidate a cached model", extra={"model_id": model_id}, exc_info=True)
            entry = self.cache.get(model_id)
        return entry or self._load(model_id)  # type: ignore[return-value]

    def _load(self, model_id: int) -> LoadedModel:
        def load() -> LoadedModel:
            read_at = time.monotonic()
            with self.db.session(readonly=True) as s:
                row = get_model(s, model_id)
                if not row.deployed_api:
                    raise Forbidden(f"model {model_id} is not deployed for the API")
                loaded = load_for_serving(self.storage, row)
            warm(loaded)
            loaded.confirmed_at = read_at  # as fresh as the row it was loaded from, no fresher
            return loaded

        return self.cache.get_or_load(model_id, load)  # type: ignore[return-value]

    def count(self, model_id: int, rows: int) -> None:
        with self._lock:
            self._counts[model_id] += rows

    def pending(self, model_id: int) -> int:
        with self._lock:
            return self._counts.get(model_id, 0)

    # -- background -------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="serving-flusher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - shutting down: report the lost counts, do not mask the exit
            log.exception("final serving flush failed")

    def _run(self) -> None:
        self.preload()
        next_flush, failing = time.monotonic() + self.flush_every_s, False
        while not self._stop.wait(self.revalidate_s):
            try:
                self.refresh()
                failing = False
            except Exception:  # noqa: BLE001 - keep revalidating after a transient database error
                if not failing:  # once per outage, not twice a second
                    log.warning("serving revalidation failed; cached models keep serving", exc_info=True)
                failing = True
            if time.monotonic() >= next_flush:
                next_flush = time.monotonic() + self.flush_every_s
                try:
                    self.flush()
                except Exception:  # noqa: BLE001 - keep flushing after a transient database error
                    log.exception("serving flush failed")

    def preload(self) -> None:
        """After a restart, load the models deployed for the API (newest deploys first) within the budget."""
        try:
            with self.db.session(readonly=True) as s:
                ids = list(s.scalars(select(TrainedModel.id).where(TrainedModel.deployed_api.is_(True))
                                     .order_by(TrainedModel.deployed_at.desc())))
        except Exception:  # noqa: BLE001 - a preload is an optimisation; requests load lazily anyway
            log.exception("model preload failed")
            return
        for model_id in ids:
            if self._stop.is_set() or self.cache.total_bytes >= self.cache.max_bytes:
                return
            try:
                self.model(model_id)
            except Exception:  # noqa: BLE001 - e.g. undeployed meanwhile, or a bad artifact: logged, skipped
                log.warning("could not preload model", extra={"model_id": model_id}, exc_info=True)

    def flush(self) -> None:
        """Add the counted predictions to `n_predictions` and record keys' last use."""
        with self._lock:
            counts, self._counts = self._counts, Tally()
        if not counts and not self.keys.has_pending():
            return
        try:
            with self.db.session() as s:
                for model_id, n in counts.items():
                    s.execute(update(TrainedModel).where(TrainedModel.id == model_id)
                              .values(n_predictions=TrainedModel.n_predictions + n))
                self.keys.flush(s)
        except Exception:
            with self._lock:
                self._counts.update(counts)  # try again next time
            raise

    def refresh(self, model_ids: list[int] | None = None) -> None:
        """Revalidate the cached models (or those of `model_ids`) against their rows: drop those gone, no longer
        deployed for the API or pointing at another artifact (changed by another process), confirm the rest."""
        entries = [e for e in self.cache.entries() if model_ids is None or e.model_id in model_ids]
        if entries:
            started = time.monotonic()
            with self.db.session(readonly=True) as s:
                rows = s.execute(select(TrainedModel.id, TrainedModel.deployed_api, TrainedModel.artifact_sha256,
                                        TrainedModel.threshold)
                                 .where(TrainedModel.id.in_([e.model_id for e in entries]))).all()
            live = {r.id: r for r in rows}
            for entry in entries:
                row = live.get(entry.model_id)
                if row is not None and row.deployed_api and row.artifact_sha256 == entry.sha256:
                    if row.threshold != entry.threshold and entry.confirmed_at < started:  # retuned elsewhere
                        self.cache.swap(entry, replace(entry, threshold=row.threshold, confirmed_at=started))
                    else:
                        self.cache.confirm(entry, started)
                elif entry.confirmed_at < started and self.cache.discard(entry):
                    log.info("cached model dropped: its deployment changed", extra={"model_id": entry.model_id})
        CACHED_MODELS.set(len(self.cache.ids()))
        CACHED_BYTES.set(self.cache.total_bytes)
