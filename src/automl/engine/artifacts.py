"""Saving and loading FittedModels; the sha256 is checked before anything is unpickled."""

from __future__ import annotations

import hashlib
from pathlib import Path

import joblib

from automl.engine.errors import ArtifactIntegrityError
from automl.engine.model import FittedModel


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_model(model: FittedModel, path: str | Path) -> str:
    """Write the artifact (joblib, compressed) and return the sha256 of the file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path, compress=3)
    return file_sha256(path)


def load_model(path: str | Path, sha256: str) -> FittedModel:
    """Check the sha256, unpickle, and compile the verified fast path for predicting."""
    actual = file_sha256(path)
    if actual != sha256.strip().lower():
        raise ArtifactIntegrityError(f"{path}: sha256 {actual} does not match the recorded {sha256}")
    model = joblib.load(path)
    if not isinstance(model, FittedModel):
        raise ArtifactIntegrityError(f"{path} does not contain a FittedModel")
    model.compile_fast()
    return model
