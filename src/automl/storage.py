"""Files under generated ids, never under a client's filename; sha256 recorded on write, checked on read.

Two kinds of place:
- the *store* keeps the durable objects: datasets (Parquet), model artifacts, batch prediction files. By default
  it is the data folder itself (`data_dir/{datasets,artifacts,predictions}`); with `AUTOML_STORAGE_URL` any
  fsspec URL (`s3://bucket/prefix`, `gs://...`, a shared mount), so that API and worker machines share it.
- local disk keeps what is transient or per machine: uploads in flight and files being prepared
  (`data_dir/uploads`, the *scratch*), and a bounded read cache of store objects (`data_dir/cache`), named by
  key and sha256.
Writes are atomic: a file is prepared in the scratch and hashed, then moved into the store whole. In a local
folder that is fsync + rename (+ fsync of the folder); in an object store one PUT (or one completed multipart
upload) under the final key, which readers see whole or not at all. Reads of a dataset or an artifact name the
sha256 recorded in the database and get a local file whose bytes match it (`local_copy`), or an error.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from automl.files import mtime_of, place_local, sha256_file

log = logging.getLogger(__name__)
STORE_AREAS = ("datasets", "artifacts", "predictions")
AREAS = ("uploads", *STORE_AREAS)
CHUNK = 8 << 20
CACHE_KEEP_S = 300.0  # a cached file used this recently is not evicted (a reader may be about to open it)
_SUFFIX = re.compile(r"^(\.[A-Za-z0-9]{1,16}){0,3}$")


class ObjectCorrupt(Exception):
    """A stored object's bytes do not match the sha256 recorded for it: it is refused, never used."""


@dataclass(frozen=True)
class StoredObject:
    """One entry of `Storage.objects`: `ref` is what `Storage.hold` takes for it; `mtime` None when unknown."""

    area: str
    name: str
    size: int
    mtime: float | None
    ref: str

    @property
    def key(self) -> str:
        return self.name.split(".", 1)[0]


class StorageSettings(Protocol):  # automl.config.Settings (the storage layer does not import config)
    data_dir: Path
    storage_url: str | None
    storage_options: dict[str, Any]
    storage_cache_mb: int


def _check(key: str, suffix: str) -> str:
    if not key.isalnum() or not key.isascii():  # keys are generated hex ids; anything else is a bug or an attack
        raise ValueError(f"invalid storage key {key!r}")
    if not _SUFFIX.match(suffix):
        raise ValueError(f"invalid storage suffix {suffix!r}")
    return f"{key}{suffix}"


class Storage:
    """The store (durable objects), the local scratch and the read cache; see the module docstring."""

    def __init__(self, root: Path, url: str | None = None, *, options: Mapping[str, Any] | None = None,
                 cache_mb: int = 4096) -> None:
        self.root = Path(root)  # the local data folder: scratch, cache, secret.key
        self.url = url or None
        self.storage_options: dict[str, Any] = dict(options or {})
        self.cache_dir = self.root / "cache"
        self.cache_bytes = cache_mb << 20
        self._live: set[str] = set()
        self._live_lock = threading.Lock()
        self._verified: dict[tuple[str, int, int], str] = {}
        self._fs: Any = None
        self._base = ""
        self.store_dir: Path | None = self.root  # the folder of the durable areas when the store is local
        if self.url is not None:
            import fsspec.core  # fails here, at start-up, when the protocol's package is missing

            fs, base = fsspec.core.url_to_fs(self.url, **self.storage_options)
            if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
                self.store_dir = Path(base)
            else:
                self.store_dir, self._fs, self._base = None, fs, base.rstrip("/")

    @classmethod
    def from_settings(cls, settings: StorageSettings) -> Storage:
        return cls(settings.data_dir, settings.storage_url, options=settings.storage_options,
                   cache_mb=settings.storage_cache_mb)

    @property
    def remote(self) -> bool:
        """Whether the store is an object store (not a local folder)."""
        return self.store_dir is None

    # -- requests in flight ------------------------------------------------------------------------
    def hold(self, *refs: Path | str) -> None:
        """Mark files or objects a request is writing (a Path, or `ref`), so the janitor never removes them."""
        with self._live_lock:
            self._live.update(str(r) for r in refs)

    def release(self, *refs: Path | str) -> None:
        with self._live_lock:
            self._live.difference_update(str(r) for r in refs)

    @contextmanager
    def writing(self, *refs: Path | str) -> Iterator[None]:
        self.hold(*refs)
        try:
            yield
        finally:
            self.release(*refs)

    def live(self) -> frozenset[str]:
        with self._live_lock:
            return frozenset(self._live)

    # -- local paths -------------------------------------------------------------------------------
    def path(self, area: str, key: str, suffix: str = "") -> Path:
        """A local path: the scratch (`uploads`), or a store area when the store is a local folder."""
        name = _check(key, suffix)
        if area == "uploads":
            return self.root / area / name
        if area not in STORE_AREAS:
            raise ValueError(f"unknown storage area {area!r}")
        if self.store_dir is None:
            raise RuntimeError(f"{area} live in the object store {self.url}: use put_file / local_copy")
        return self.store_dir / area / name

    def dataset(self, key: str) -> Path:
        return self.path("datasets", key, ".parquet")

    def artifact(self, key: str) -> Path:
        return self.path("artifacts", key, ".joblib")

    def upload(self, key: str) -> Path:
        return self.path("uploads", key)

    def prediction(self, key: str, suffix: str = ".csv") -> Path:
        return self.path("predictions", key, suffix)

    def scratch(self, key: str, suffix: str = "") -> Path:
        """A local file to prepare an object in before `put_file` (its folder exists; the janitor sweeps it)."""
        path = self.path("uploads", key, suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    @staticmethod
    def remove(*paths: Path | None) -> None:
        for p in paths:
            if p is not None:
                try:
                    os.remove(p)
                except FileNotFoundError:
                    pass

    # -- the store ---------------------------------------------------------------------------------
    def _remote(self, area: str, name: str) -> str:
        return f"{self._base}/{area}/{name}"

    def url_of(self, area: str, key: str, suffix: str = "") -> str:
        """Where a reader that opens files itself (Dask, pyarrow) finds the object, with `storage_options`."""
        name = _check(key, suffix)
        if self.store_dir is not None:
            return str((self.store_dir / area / name).resolve())
        return self._fs.unstrip_protocol(self._remote(area, name))

    def ref(self, area: str, key: str, suffix: str = "") -> str:
        """The token `hold` takes for a store object (its local path, or its URL)."""
        if self.store_dir is not None:
            return str(self.path(area, key, suffix))
        return self._fs.unstrip_protocol(self._remote(area, _check(key, suffix)))

    def put_file(self, area: str, key: str, src: Path, *, suffix: str = "", cache: bool = True) -> str:
        """Move the local file `src` (prepared in the scratch) into the store as one whole object; its sha256.

        `src` is gone afterwards (in an object store, with `cache`, it becomes the cached copy)."""
        name = _check(key, suffix)
        if area not in STORE_AREAS:
            raise ValueError(f"unknown storage area {area!r}")
        with open(src, "rb") as f:
            h = hashlib.sha256()
            while block := f.read(CHUNK):
                h.update(block)
            if self.store_dir is not None:
                os.fsync(f.fileno())  # on disk before the rename makes it visible
        sha = h.hexdigest()
        if self.store_dir is not None:
            place_local(src, self.store_dir / area / name)
            return sha
        self._fs.put_file(str(src), self._remote(area, name))
        self._fs.invalidate_cache(self._remote(area, name))
        try:
            if cache:
                self._into_cache(src, area, key, suffix, sha)
        finally:
            self.remove(src)
        return sha

    def local_copy(self, area: str, key: str, sha256: str | None, *, suffix: str = "") -> Path:
        """A local file holding the object, once its bytes match `sha256` (None: rows older than the check).

        FileNotFoundError when it is missing, ObjectCorrupt when it does not match; in an object store the copy
        comes from the read cache, filled (hashing while it downloads) on a miss."""
        name = _check(key, suffix)
        if self.store_dir is not None:
            path = self.store_dir / area / name
            self._verify(path, sha256)
            return path
        path = self.cache_dir / area / f"{key}-{sha256 or 'unchecked'}{suffix}"
        try:
            self._verify(path, sha256)
            now = time.time()
            os.utime(path, (now, now))  # recently used: evicted last
            return path
        except FileNotFoundError:
            pass
        except ObjectCorrupt:
            log.warning("cached copy of %s/%s damaged: fetched again", area, name)
            self.remove(path)
        tmp = self._download(area, name, path.parent)
        try:
            got = sha256_file(tmp)
            if sha256 is not None and got != sha256:
                raise ObjectCorrupt(f"{area}/{name}: sha256 {got[:12]}... is not the recorded {sha256[:12]}...")
            os.replace(tmp, path)
        finally:
            self.remove(tmp)
        self._evict(keep=path)
        return path

    def _download(self, area: str, name: str, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out, self._fs.open(self._remote(area, name), "rb", block_size=CHUNK,
                                                           cache_type="none") as src:
                while block := src.read(CHUNK):
                    out.write(block)
        except BaseException:
            self.remove(Path(tmp))
            raise
        return Path(tmp)

    @contextmanager
    def fetched(self, area: str, key: str, *, suffix: str = "") -> Iterator[Path]:
        """A local file with an object that has no recorded sha256 (a batch input), for the block's duration."""
        name = _check(key, suffix)
        if self.store_dir is not None:
            path = self.store_dir / area / name
            path.stat()  # FileNotFoundError when it is missing, as from an object store
            yield path
            return
        tmp = self._download(area, name, self.root / "uploads")
        try:
            yield tmp
        finally:
            self.remove(tmp)

    def _verify(self, path: Path, sha256: str | None) -> None:
        st = path.stat()  # FileNotFoundError when missing
        if sha256 is None:
            return
        memo = (str(path), st.st_size, st.st_mtime_ns)
        if self._verified.get(memo) == sha256:
            return
        got = sha256_file(path)
        if got != sha256:
            raise ObjectCorrupt(f"{path.parent.name}/{path.name}: sha256 {got[:12]}... is not the recorded "
                                f"{sha256[:12]}...")
        if len(self._verified) > 4096:
            self._verified.clear()
        self._verified[memo] = sha256

    def open(self, area: str, key: str, *, suffix: str = "") -> BinaryIO:
        """The object for reading as a stream (downloads: never the whole object in memory)."""
        name = _check(key, suffix)
        if self.store_dir is not None:
            return open(self.store_dir / area / name, "rb")
        return self._fs.open(self._remote(area, name), "rb", block_size=CHUNK, cache_type="none")

    def iter_bytes(self, area: str, key: str, *, suffix: str = "", chunk: int = 1 << 20) -> Iterator[bytes]:
        with self.open(area, key, suffix=suffix) as f:
            while block := f.read(chunk):
                yield block

    def size(self, area: str, key: str, *, suffix: str = "") -> int | None:
        """The object's size in bytes; None when it does not exist."""
        name = _check(key, suffix)
        if self.store_dir is not None:
            try:
                return (self.store_dir / area / name).stat().st_size
            except FileNotFoundError:
                return None
        remote = self._remote(area, name)
        self._fs.invalidate_cache(remote)
        try:
            return int(self._fs.info(remote)["size"])
        except FileNotFoundError:
            return None

    def exists(self, area: str, key: str, *, suffix: str = "") -> bool:
        return self.size(area, key, suffix=suffix) is not None

    def delete(self, area: str, name: str) -> None:
        """Remove `area/name` (a name `objects` gave, or `key + suffix`) from the store and the cache; gone is fine."""
        if area not in STORE_AREAS or "/" in name or "\\" in name or name.strip(".") == "":
            raise ValueError(f"invalid storage object {area}/{name}")
        key = name.split(".", 1)[0]
        if self.store_dir is not None:
            self.remove(self.store_dir / area / name)
            return
        try:
            self._fs.rm_file(self._remote(area, name))
        except FileNotFoundError:
            pass
        self._fs.invalidate_cache(self._remote(area, name))
        if key.isalnum():
            for cached in (self.cache_dir / area).glob(f"{key}-*"):
                self.remove(cached)

    def objects(self, area: str, prefix: str = "") -> list[StoredObject]:
        """The objects of a store area (or the scratch, `uploads`) whose names start with `prefix`."""
        if area == "uploads" or self.store_dir is not None:
            folder = (self.root if area == "uploads" else self.store_dir) / area  # type: ignore[operator]
            return self._list_local(area, folder, prefix)
        folder = f"{self._base}/{area}"
        self._fs.invalidate_cache(folder)
        try:
            entries = self._fs.ls(folder, detail=True)
        except FileNotFoundError:
            return []
        out = []
        for info in entries:
            name = str(info["name"]).rstrip("/").rsplit("/", 1)[-1]
            if info.get("type") == "file" and name.startswith(prefix):
                out.append(StoredObject(area, name, int(info.get("size") or 0), mtime_of(info),
                                        self._fs.unstrip_protocol(f"{folder}/{name}")))
        return out

    @staticmethod
    def _list_local(area: str, folder: Path, prefix: str) -> list[StoredObject]:
        out = []
        with suppress(FileNotFoundError, NotADirectoryError):
            for p in folder.iterdir():
                if p.name.startswith(prefix):
                    try:
                        st = p.stat()
                    except FileNotFoundError:
                        continue
                    if p.is_file():
                        out.append(StoredObject(area, p.name, st.st_size, st.st_mtime, str(p)))
        return out

    # -- the read cache ----------------------------------------------------------------------------
    def _into_cache(self, src: Path, area: str, key: str, suffix: str, sha: str) -> None:
        """Keep a just-uploaded file as the cached copy (the next read on this machine needs no download)."""
        dest = self.cache_dir / area / f"{key}-{sha}{suffix}"
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dest)
        except OSError:  # the cache is an optimisation
            return
        self._evict(keep=dest)

    def _evict(self, *, keep: Path) -> None:
        """Remove the least recently used cached files past `cache_bytes` (not those used within CACHE_KEEP_S)."""
        files = []
        with suppress(FileNotFoundError):
            for p in self.cache_dir.rglob("*"):
                with suppress(FileNotFoundError):
                    st = p.stat()
                    if p.is_file():
                        files.append((st.st_mtime, st.st_size, p))
        now = time.time()
        total = sum(size for _, size, _ in files)
        for mtime, size, p in sorted(files):
            stale_tmp = p.name.startswith(".") and mtime < now - 3600  # a download killed half-way
            if stale_tmp or (total > self.cache_bytes and p != keep and mtime < now - CACHE_KEEP_S):
                self.remove(p)
                total -= size
