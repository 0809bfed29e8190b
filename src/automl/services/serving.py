"""The API process's serving state: model cache, API-key checker, in-memory counters and their flusher.

Nothing here writes to the database per request: prediction counts and keys' `last_used_at` are kept in
memory and flushed every `flush_every_s` seconds by one background thread, which also drops cached models
that another process (the CLI) undeployed or deleted meanwhile.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter as Tally

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
FRESH_S = 5.0  # entries younger than this are skipped by the refresh: their deploy may not be committed yet


class ServingRuntime:
    def __init__(self, db: Database, storage: Storage, settings: Settings, *, keys_required: bool = False,
                 flush_every_s: float = 2.0) -> None:
        self.db = db
        self.storage = storage
        self.cache = ModelCache(settings.model_cache_mb << 20)
        self.keys = KeyChecker(db, required=keys_required)
        self.flush_every_s = flush_every_s
        self._counts: Tally[int] = Tally()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- hot path ---------------------------------------------------------------------------------
    def model(self, model_id: int) -> LoadedModel:
        """The deployed model, loaded once; NotFound for an unknown id, Forbidden when not deployed."""
        return self.cache.get(model_id) or self._load(model_id)  # type: ignore[return-value]

    def _load(self, model_id: int) -> LoadedModel:
        def load() -> LoadedModel:
            with self.db.session(readonly=True) as s:
                row = get_model(s, model_id)
                if not row.deployed_api:
                    raise Forbidden(f"model {model_id} is not deployed for the API")
                loaded = load_for_serving(self.storage, row)
            warm(loaded)
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
        while not self._stop.wait(self.flush_every_s):
            try:
                self.flush()
                self.refresh()
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

    def refresh(self) -> None:
        """Drop cached models that are no longer deployed for the API (changed by another process)."""
        now = time.monotonic()
        entries = {e.model_id: e for e in self.cache.entries() if now - e.loaded_at > FRESH_S}
        if entries:
            with self.db.session(readonly=True) as s:
                rows = s.execute(select(TrainedModel.id, TrainedModel.deployed_api, TrainedModel.artifact_sha256)
                                 .where(TrainedModel.id.in_(list(entries)))).all()
            live = {r.id: r for r in rows}
            for model_id, entry in entries.items():
                row = live.get(model_id)
                if row is None or not row.deployed_api or entry.sha256 != row.artifact_sha256:
                    self.cache.drop(model_id)
        CACHED_MODELS.set(len(self.cache.ids()))
        CACHED_BYTES.set(self.cache.total_bytes)
