"""Files on disk under generated ids, never under a client's filename; sha256 recorded on write."""
from __future__ import annotations

import errno
import hashlib
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from automl.errors import InsufficientStorage

AREAS = ("uploads", "datasets", "artifacts", "predictions")
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_FULL_TEXTS = ("no space left on device", "database or disk is full", "disk quota exceeded")


def new_key() -> str:
    return uuid.uuid4().hex


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether `exc`, or an error it was raised from (even `from None`), is a full disk: ENOSPC or EDQUOT from
    the OS, SQLite's SQLITE_FULL, PostgreSQL's disk_full (53100), or Arrow's wording of the same."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error
        for e in (exc, orig):
            if e is None:
                continue
            if isinstance(e, OSError) and e.errno in _FULL_ERRNOS:
                return True
            if getattr(e, "sqlite_errorname", "") == "SQLITE_FULL" or getattr(e, "sqlstate", "") == "53100":
                return True
            if any(t in str(e).lower() for t in _FULL_TEXTS):
                return True
        exc = exc.__cause__ or exc.__context__
    return False


@contextmanager
def full_disk_as_507() -> Iterator[None]:
    """Turn a full disk met inside the block into InsufficientStorage (507); other errors pass unchanged."""
    try:
        yield
    except InsufficientStorage:
        raise
    except Exception as exc:
        if is_disk_full(exc):
            raise InsufficientStorage() from exc
        raise


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class Storage:
    """Local folders for datasets (Parquet), uploads in flight, model artifacts and prediction files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._live: set[Path] = set()
        self._live_lock = threading.Lock()

    def hold(self, *paths: Path) -> None:
        """Mark files a request is writing, so the janitor never removes them however old they look."""
        with self._live_lock:
            self._live.update(paths)

    def release(self, *paths: Path) -> None:
        with self._live_lock:
            self._live.difference_update(paths)

    @contextmanager
    def writing(self, *paths: Path) -> Iterator[None]:
        self.hold(*paths)
        try:
            yield
        finally:
            self.release(*paths)

    def live(self) -> frozenset[Path]:
        with self._live_lock:
            return frozenset(self._live)

    def path(self, area: str, key: str, suffix: str = "") -> Path:
        if not key.isalnum():  # keys are generated hex ids; anything else is a bug or an attack
            raise ValueError(f"invalid storage key {key!r}")
        return self.root / area / f"{key}{suffix}"

    def dataset(self, key: str) -> Path:
        return self.path("datasets", key, ".parquet")

    def artifact(self, key: str) -> Path:
        return self.path("artifacts", key, ".joblib")

    def upload(self, key: str) -> Path:
        return self.path("uploads", key)

    def prediction(self, key: str, suffix: str = ".csv") -> Path:
        return self.path("predictions", key, suffix)

    @staticmethod
    def remove(*paths: Path | None) -> None:
        for p in paths:
            if p is not None:
                try:
                    os.remove(p)
                except FileNotFoundError:
                    pass
