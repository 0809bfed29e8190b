"""Saving and loading FittedModels. An artifact is written atomically (a temporary file in the same folder,
fsync, rename); before anything is unpickled its bytes are read once into memory and checked against the
recorded sha256 and, when a key is given, an HMAC-SHA256 of that digest under the server's secret key, so
that a file swapped or edited on disk is never handed to `joblib.load` (which is pickle)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import joblib

from automl.engine.errors import ArtifactIntegrityError
from automl.engine.model import FittedModel

KEY_FILE = "secret.key"
MIN_SECRET_CHARS = 32
_HMAC_DOMAIN = "automl-artifact/1"


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def artifact_hmac(key: bytes, sha256: str, context: str = "") -> str:
    """HMAC-SHA256 under `key` of the artifact's sha256, bound to `context` (the platform's artifact key, so a
    signature cannot be moved to another model's row)."""
    message = f"{_HMAC_DOMAIN}\n{context}\n{sha256.strip().lower()}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def write_atomic(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """`write(fh)` into a temporary file beside `path`, fsync it, rename it over `path`, fsync the folder:
    a crash or an error leaves either the old file or the new one, never part of one (and no temporary)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a platform without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_model(model: FittedModel, path: str | Path) -> str:
    """Write the artifact (joblib, compressed) atomically and return the sha256 of the file."""
    write_atomic(path, lambda fh: joblib.dump(model, fh, compress=3))
    return file_sha256(path)


def load_model(
    path: str | Path, sha256: str, *, key: bytes | None = None, signature: str | None = None, context: str = "",
) -> FittedModel:
    """Check the sha256 (and, with `key`, the HMAC `signature`: required then) of the bytes read once, then
    unpickle those same bytes and compile the verified fast path for predicting."""
    data = Path(path).read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256.strip().lower():
        raise ArtifactIntegrityError(f"{Path(path).name}: sha256 {actual} does not match the recorded {sha256}")
    if key is not None:
        check_signature(key, actual, signature, context=context, name=Path(path).name)
    model = joblib.load(io.BytesIO(data))
    if not isinstance(model, FittedModel):
        raise ArtifactIntegrityError(f"{Path(path).name} does not contain a FittedModel")
    model.compile_fast()
    return model


def check_signature(key: bytes, sha256: str, signature: str | None, *, context: str = "", name: str = "") -> None:
    if not signature:
        raise ArtifactIntegrityError(f"{name}: the artifact is not signed with the server key; not loaded")
    if not hmac.compare_digest(artifact_hmac(key, sha256, context), signature.strip().lower()):
        raise ArtifactIntegrityError(f"{name}: the artifact's HMAC does not match the server key; not loaded")


def signing_key(data_dir: str | Path, secret: str | None = None) -> bytes:
    """The server's artifact key: `secret` (AUTOML_SECRET_KEY, at least 32 characters) when given, else 32
    random bytes created once in `data_dir/secret.key` (mode 0600) and read by every process sharing it."""
    if secret:
        if len(secret) < MIN_SECRET_CHARS:
            raise ValueError(f"AUTOML_SECRET_KEY must be at least {MIN_SECRET_CHARS} characters")
        return secret.encode()
    return _key_file(Path(data_dir).resolve())


@lru_cache(maxsize=8)
def _key_file(data_dir: Path) -> bytes:
    path = data_dir / KEY_FILE
    if not path.exists():
        _create_key(path)
    for _ in range(50):  # another process may be between creating the file and filling it (O_EXCL fallback)
        text = path.read_text().strip()
        if len(text) == 64:
            return bytes.fromhex(text)
        time.sleep(0.1)
    raise ArtifactIntegrityError(f"{KEY_FILE} in the data dir is not a 32-byte hex key")


def _create_key(path: Path) -> None:
    """Write the key beside its place, then link it there: the first process wins, the others read its key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links
            with contextlib.suppress(FileExistsError):
                with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
                    out.write(Path(tmp).read_text())
    finally:
        os.unlink(tmp)
