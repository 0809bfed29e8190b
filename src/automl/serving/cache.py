"""In-process cache of loaded models: LRU bounded by an estimate of their memory, one load per model.

Only models deployed for the API live here, so "cached" doubles as the deployed flag on the hot path;
whoever changes a deployment drops or refreshes the entry. Each entry remembers when the database last said
it is deployed with this artifact (`confirmed_at`): the serving runtime revalidates entries against their rows
and drops one only if it was confirmed before the read that found it changed (`discard`), so a newer entry
put meanwhile (a deploy committed after that read) stays; a changed decision threshold swaps in a copy
(`swap`) under the same rule.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from automl.serving.schema import InputValidator


@dataclass
class LoadedModel:
    model_id: int
    model: Any  # automl.engine FittedModel: predict(df), predict_proba(df), classes_
    validator: InputValidator
    problem_type: str
    size_bytes: int
    sha256: str
    class_names: list[str] | None = field(default=None)
    threshold: float | None = None  # binary: the positive class iff P(positive) >= threshold (None: most probable)
    loaded_at: float = field(default_factory=time.monotonic)
    confirmed_at: float = field(default_factory=time.monotonic)  # the row last read as deployed with `sha256`

    @property
    def is_classifier(self) -> bool:
        return self.problem_type in ("binary", "multiclass")


class ModelCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[int, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[int, threading.Lock] = {}

    def get(self, model_id: int) -> LoadedModel | None:
        with self._lock:
            entry = self._entries.get(model_id)
            if entry is not None:
                self._entries.move_to_end(model_id)
            return entry

    def get_or_load(self, model_id: int, load: Callable[[], LoadedModel | None]) -> LoadedModel | None:
        """The cached entry, or `load()`'s result cached; concurrent callers for one model load it once."""
        entry = self.get(model_id)
        if entry is not None:
            return entry
        with self._lock:
            gate = self._loading.setdefault(model_id, threading.Lock())
        try:
            with gate:
                entry = self.get(model_id)
                if entry is None:
                    entry = load()
                    if entry is not None:
                        self.put(entry)
        finally:
            with self._lock:
                self._loading.pop(model_id, None)
        return entry

    def put(self, entry: LoadedModel) -> None:
        with self._lock:
            self._entries.pop(entry.model_id, None)
            self._entries[entry.model_id] = entry
            total = sum(e.size_bytes for e in self._entries.values())
            # evict least recently used, but never the entry just added
            while total > self.max_bytes and len(self._entries) > 1:
                _, old = self._entries.popitem(last=False)
                total -= old.size_bytes

    def drop(self, model_id: int) -> bool:
        with self._lock:
            return self._entries.pop(model_id, None) is not None

    def discard(self, entry: LoadedModel) -> bool:
        """Drop `entry` if it is still the cached one for its model (not one put since)."""
        with self._lock:
            if self._entries.get(entry.model_id) is not entry:
                return False
            del self._entries[entry.model_id]
            return True

    def swap(self, entry: LoadedModel, new: LoadedModel) -> bool:
        """Put `new` in `entry`'s place if `entry` is still the cached one for its model (not one put since)."""
        with self._lock:
            if self._entries.get(entry.model_id) is not entry:
                return False
            self._entries[entry.model_id] = new
            return True

    def confirm(self, entry: LoadedModel, at: float) -> None:
        """The database said at `at` (time.monotonic) that `entry` is still deployed with its artifact."""
        with self._lock:
            entry.confirmed_at = max(entry.confirmed_at, at)

    def entries(self) -> list[LoadedModel]:
        """A snapshot, without touching recency."""
        with self._lock:
            return list(self._entries.values())

    def ids(self) -> list[int]:
        with self._lock:
            return list(self._entries)

    def __contains__(self, model_id: int) -> bool:
        with self._lock:
            return model_id in self._entries

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return sum(e.size_bytes for e in self._entries.values())
