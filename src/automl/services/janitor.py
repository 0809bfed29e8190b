"""The janitor: removes files no row references, left by a crash (kill -9 mid-upload, a full disk, a child
killed while writing an artifact), at start-up and then periodically: in the local scratch (`uploads/`) and in
the store (the data folder's areas, or the object store's with AUTOML_STORAGE_URL).

A file or object is removed only when all of these hold:
- it is older than the grace period (`grace_s`, by modification time: a file being written keeps growing, an
  object appears whole when its upload completes; one whose store gives no time is kept);
- no request of this process holds it (`Storage.hold`, for uploads in flight however slow their client);
- no row references it: `uploads/` is transient (nothing references it), `datasets/` by `Dataset.storage_key`,
  `artifacts/` by `TrainedModel.artifact_key`, `predictions/` by a batch prediction's input or output key;
- for artifacts, its experiment is not queued or running (its worker may be between saving the file and
  inserting the row; the status hook cleans those when the attempt ends).
Temporary export zips (`model-*.zip` in the system temp dir) older than the grace period go too.
Files are listed before the rows are read, so a row committed meanwhile keeps its file.
"""
from __future__ import annotations

import logging
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from automl.db import Database
from automl.db.models import ACTIVE, BatchPrediction, Dataset, Experiment, TrainedModel
from automl.storage import AREAS, Storage

log = logging.getLogger(__name__)
GRACE_S = 15 * 60.0
EVERY_S = 10 * 60.0
_ARTIFACT = re.compile(r"^e(\d+)x")


@dataclass(frozen=True)
class Referenced:
    datasets: frozenset[str]
    artifacts: frozenset[str]
    predictions: frozenset[str]
    active_experiments: frozenset[int]


def referenced(db: Database) -> Referenced:
    with db.session(readonly=True) as s:
        datasets = frozenset(s.scalars(select(Dataset.storage_key)))
        artifacts = frozenset(s.scalars(select(TrainedModel.artifact_key)))
        keys = s.execute(select(BatchPrediction.input_key, BatchPrediction.output_key)).all()
        active = frozenset(s.scalars(select(Experiment.id).where(Experiment.status.in_(list(ACTIVE)))))
    predictions = frozenset(k for row in keys for k in row if k)
    return Referenced(datasets, artifacts, predictions, active)


def _orphan(area: str, key: str, refs: Referenced) -> bool:
    if area == "uploads":
        return True
    if area == "datasets":
        return key not in refs.datasets
    if area == "predictions":
        return key not in refs.predictions
    if area == "artifacts":
        m = _ARTIFACT.match(key)
        return key not in refs.artifacts and not (m and int(m.group(1)) in refs.active_experiments)
    return False


def sweep(db: Database, storage: Storage, *, grace_s: float = GRACE_S, temp_dir: Path | None = None) -> list[str]:
    """Remove the orphaned files and objects older than `grace_s`; returns their names (`area/name`)."""
    cutoff = time.time() - grace_s
    candidates = [o for area in AREAS for o in storage.objects(area) if o.mtime is not None and o.mtime < cutoff]
    refs = referenced(db)
    live = storage.live()
    orphans = [o for o in candidates if o.ref not in live and _orphan(o.area, o.key, refs)]
    removed = []
    for o in orphans:
        try:
            if o.area == "uploads":
                Storage.remove(Path(o.ref))
            else:
                storage.delete(o.area, o.name)
        except (OSError, ValueError):
            log.warning("janitor could not remove %s/%s", o.area, o.name, exc_info=True)
            continue
        removed.append(f"{o.area}/{o.name}")
    temp = temp_dir or Path(tempfile.gettempdir())
    zips = [p for p in temp.glob("model-*.zip") if _older(p, cutoff)]
    Storage.remove(*zips)
    removed += [p.name for p in zips]
    if removed:
        log.warning("janitor removed %d orphaned file(s)", len(removed), extra={"files": removed})
    return removed


def _older(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime < cutoff
    except FileNotFoundError:
        return False


class Janitor:
    """`sweep` once at start-up, then every `every_s` seconds on a daemon thread, until `stop()`."""

    def __init__(self, db: Database, storage: Storage, *, grace_s: float = GRACE_S, every_s: float = EVERY_S) -> None:
        self.db, self.storage, self.grace_s, self.every_s = db, storage, grace_s, every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="janitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            try:
                sweep(self.db, self.storage, grace_s=self.grace_s)
            except Exception:  # noqa: BLE001 - a busy or full database: try again next time
                log.warning("janitor sweep failed", exc_info=True)
            if self._stop.wait(self.every_s):
                return
