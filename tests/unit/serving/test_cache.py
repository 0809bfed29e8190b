"""The model cache: LRU by estimated memory, one load per model under concurrency."""
from __future__ import annotations

import threading
import time

from automl.serving.cache import LoadedModel, ModelCache
from automl.serving.schema import InputValidator


def entry(model_id: int, size: int) -> LoadedModel:
    return LoadedModel(model_id=model_id, model=object(), validator=InputValidator([]), problem_type="binary",
                       size_bytes=size, sha256="0" * 64)


def test_evicts_least_recently_used_within_budget():
    cache = ModelCache(max_bytes=100)
    cache.put(entry(1, 40))
    cache.put(entry(2, 40))
    cache.get(1)  # 1 is now more recent than 2
    cache.put(entry(3, 40))
    assert cache.ids() == [1, 3]
    cache.put(entry(4, 500))  # larger than the budget: kept alone
    assert cache.ids() == [4]
    assert cache.drop(4) and not cache.drop(4)


def test_concurrent_misses_load_once():
    cache = ModelCache(max_bytes=1000)
    loads = []

    def load() -> LoadedModel:
        loads.append(1)
        time.sleep(0.05)
        return entry(7, 10)

    threads = [threading.Thread(target=cache.get_or_load, args=(7, load)) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(loads) == 1 and 7 in cache
