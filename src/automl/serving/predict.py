"""Predict with a loaded model, returning JSON-ready Python values (no HTTP here)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from automl.ingest.jsonable import jsonable
from automl.serving.cache import LoadedModel


def outputs(model: Any, frame: pd.DataFrame, *, probabilities: bool) -> tuple[np.ndarray, pd.DataFrame | None]:
    """Labels (or values) and, when asked for a classifier, the class-probability frame.

    Classifiers run their members once: the labels are the argmax of the same probabilities, exactly
    as `FittedModel.predict` computes them.
    """
    classes = getattr(model, "classes_", None)
    if classes is None or not probabilities:
        return np.asarray(model.predict(frame)), None
    proba = model.predict_proba(frame)
    labels = np.asarray(classes)[proba.to_numpy().argmax(axis=1)]
    return labels, proba


def predict_rows(
    loaded: LoadedModel, frame: pd.DataFrame, *, probabilities: bool = False
) -> tuple[list[Any], list[dict[str, float]] | None]:
    """Predictions for each row and, for classifiers when asked, `{class: p}` per row."""
    labels, proba = outputs(loaded.model, frame, probabilities=probabilities and loaded.is_classifier)
    if proba is None:
        return jsonable(labels), None
    names = [str(c) for c in proba.columns]
    rows = proba.to_numpy(dtype="float64").tolist()
    return jsonable(labels), [dict(zip(names, row, strict=True)) for row in rows]
