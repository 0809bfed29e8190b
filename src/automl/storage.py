"""Files on disk under generated ids, never under a client's filename; sha256 recorded on write."""
from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path


def new_key() -> str:
    return uuid.uuid4().hex


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
