"""Two serving runtimes (two API replicas' caches) on one PostgreSQL database: a deployment changed through one
is seen by the other within the revalidation interval, deterministically, whichever replica cached what."""
from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

from serving_support import add_model, fitted  # noqa: E402  (tests/api: real fitted models, stored for serving)

from automl.config import Settings  # noqa: E402
from automl.db import Database  # noqa: E402
from automl.db.migrate import upgrade  # noqa: E402
from automl.db.models import TrainedModel  # noqa: E402
from automl.errors import Forbidden  # noqa: E402
from automl.services import models  # noqa: E402
from automl.services.permissions import Principal  # noqa: E402
from automl.services.serving import ServingRuntime  # noqa: E402
from automl.storage import Storage  # noqa: E402

pytestmark = pytest.mark.postgres
LOCAL = Principal.local()


@pytest.fixture
def scene(pg_url: str, tmp_path: Path) -> Iterator[tuple[Settings, Database, Storage]]:
    settings = Settings(data_dir=tmp_path / "data", database_url=pg_url, _env_file=None)  # type: ignore[call-arg]
    settings.ensure_dirs()
    upgrade(pg_url)
    db = Database(pg_url)
    yield settings, db, Storage(settings.data_dir)
    db.dispose()


def _deploy(db: Database, storage: Storage, runtime: ServingRuntime, model_id: int) -> None:
    with db.session() as s:
        models.deploy(s, storage, runtime.cache, model_id, api=True, batch=None, by=LOCAL)


def _undeploy(db: Database, runtime: ServingRuntime | None, model_id: int) -> None:
    with db.session() as s:
        models.undeploy(s, runtime.cache if runtime else None, model_id, api=True, batch=None, by=LOCAL)


def _forbidden(runtime: ServingRuntime, model_id: int) -> bool:
    try:
        runtime.model(model_id)
    except Forbidden:
        return True
    return False


def _until(cond, timeout: float) -> float:
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, "not within the bound"
        time.sleep(0.02)
    return time.monotonic() - t0


def test_a_redeploy_through_one_replica_is_served_by_the_other(scene) -> None:
    settings, db, storage = scene
    a, b = add_model(settings, fitted("binary")), add_model(settings, fitted("regression"))
    one, two = (ServingRuntime(db, storage, settings) for _ in range(2))
    for r in (one, two):
        r.start()
    try:
        _deploy(db, storage, one, a)
        assert two.model(a).model_id == a and a in one.cache  # both replicas now hold model a
        _undeploy(db, one, a)
        _deploy(db, storage, one, b)
        assert _forbidden(one, a)  # the replica that changed it: at once
        took = _until(lambda: _forbidden(two, a), 2.0)  # the other: within one revalidation
        assert two.model(b).model_id == b and one.model(b).sha256 == two.model(b).sha256
        print(f"undeploy seen by the other replica after {took * 1000:.0f} ms")
        assert a not in two.cache
    finally:
        for r in (one, two):
            r.stop()


def test_a_replica_whose_revalidation_fell_behind_checks_on_the_request(scene) -> None:
    settings, db, storage = scene
    a = add_model(settings, fitted("binary"), deployed_api=True)
    lagging = ServingRuntime(db, storage, settings, revalidate_s=0.1, stale_s=0.3)  # its background thread never runs
    assert lagging.model(a).model_id == a
    _undeploy(db, None, a)  # from another process
    assert not _forbidden(lagging, a)  # confirmed under 0.3 s ago: the cache answers
    time.sleep(0.35)
    assert _forbidden(lagging, a)


def test_an_entry_confirmed_after_the_read_began_is_kept(scene) -> None:
    """The read that finds a model undeployed may predate a deploy that put a newer entry: that entry stays."""
    settings, db, storage = scene
    a = add_model(settings, fitted("binary"), deployed_api=True)
    runtime = ServingRuntime(db, storage, settings)
    entry = runtime.model(a)
    with db.session() as s:  # the undeploy the read sees ...
        s.get(TrainedModel, a).deployed_api = False
    entry.confirmed_at = time.monotonic() + 60  # ... and an entry put after the read began (a later deploy)
    runtime.refresh()
    assert runtime.cache.get(a) is entry
    entry.confirmed_at = 0.0  # an entry older than the read goes
    runtime.refresh()
    assert a not in runtime.cache


def test_a_new_artifact_for_a_cached_model_is_reloaded(scene) -> None:
    settings, db, storage = scene
    a = add_model(settings, fitted("binary"), deployed_api=True)
    runtime = ServingRuntime(db, storage, settings)
    old = runtime.model(a)
    with db.session() as s:  # as a re-sign or re-export would record another artifact
        s.get(TrainedModel, a).artifact_sha256 = "f" * 64
    old.confirmed_at = 0.0
    runtime.refresh()
    assert a not in runtime.cache
