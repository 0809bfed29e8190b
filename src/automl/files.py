"""File helpers under the storage layer: generated keys, sha256, atomic local moves, full-disk detection."""
from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

from automl.errors import InsufficientStorage

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


def fsync_dir(folder: Path) -> None:
    with suppress(OSError):  # not every filesystem lets a folder be opened or synced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def mtime_of(info: Mapping[str, Any]) -> float | None:
    """Modification time from an fsspec `info` dict, whatever the backend calls it."""
    for field in ("mtime", "LastModified", "last_modified", "updated", "modified", "created", "ctime"):
        value = info.get(field)
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, str):
            with suppress(ValueError):
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return None


def place_local(src: Path, dest: Path, *, chunk: int = 8 << 20) -> None:
    """Move `src` to `dest` atomically: a rename, or across filesystems a synced copy renamed into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
                shutil.copyfileobj(inp, out, chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, dest)
        except BaseException:
            with suppress(FileNotFoundError):
                os.remove(tmp)
            raise
        os.remove(src)
    fsync_dir(dest.parent)
