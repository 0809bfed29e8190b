"""Model export: a zip of the fitted pipeline (`model.joblib`) and its JSON model card."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.orm import Session

from automl.services.models import get_model, model_public, verify_artifact
from automl.storage import Storage

CARD_FORMAT = "automl-model-card/1"
LIBRARIES = ("automl", "scikit-learn", "lightgbm", "xgboost-cpu", "catboost", "numpy", "pandas", "joblib", "pyarrow")
USAGE = """\
import zipfile, joblib, pandas as pd
zipfile.ZipFile("model-{id}.zip").extractall("model-{id}")
model = joblib.load("model-{id}/model.joblib")   # needs the `automl` package installed
df = pd.read_csv("new_rows.csv")
print(model.predict(df))                         # labels / values
print(model.predict_proba(df))                   # classifiers: one column per class
"""


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def model_card(session: Session, model_id: int) -> dict[str, Any]:
    model = get_model(session, model_id)
    public = model_public(session, model)
    keep = ("experiment_id", "experiment_name", "dataset_id", "target_column", "problem_type", "metric", "algorithm",
            "params", "is_ensemble", "rank", "cv_score", "metrics", "fit_seconds", "predict_ms_per_row",
            "feature_importance", "input_schema", "classes", "created_at")
    return {
        "format": CARD_FORMAT, "model_id": model.id, **{k: public[k] for k in keep},
        "artifact": {"file": "model.joblib", "sha256": model.artifact_sha256, "size": model.artifact_size},
        "library_versions": _versions(), "usage": USAGE.format(id=model.id),
    }


def export_zip(session: Session, storage: Storage, model_id: int) -> tuple[Path, str]:
    """A temporary zip (the caller removes it) and its download name; the artifact's sha256 is checked first."""
    model = get_model(session, model_id)
    artifact = verify_artifact(storage, model)
    card = orjson.dumps(model_card(session, model_id), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    fd, name = tempfile.mkstemp(prefix=f"model-{model_id}-", suffix=".zip")
    os.close(fd)
    try:
        # the joblib file is compressed already: store it as is
        with zipfile.ZipFile(name, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.write(artifact, "model.joblib")
            zf.writestr("model_card.json", card, compress_type=zipfile.ZIP_DEFLATED)
    except BaseException:
        Storage.remove(Path(name))
        raise
    return Path(name), f"model-{model_id}.zip"
