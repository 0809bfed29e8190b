"""Predict with a loaded model, returning JSON-ready Python values (no HTTP here)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from automl.ingest.jsonable import jsonable
from automl.serving.cache import LoadedModel


def outputs(
    model: Any, frame: pd.DataFrame, *, probabilities: bool, threshold: float | None = None
) -> tuple[np.ndarray, pd.DataFrame | None]:
    """Labels (or values) and, when asked for a classifier, the class-probability frame.

    Classifiers run their members once: the labels are the argmax of the same probabilities, exactly
    as `FittedModel.predict` computes them. With a `threshold` (binary models), the label is the positive
    class, the second of `classes_`, iff its probability is at least the threshold; probabilities are unchanged.
    A deploy-time `threshold` overrides the one the model chose in training (`model.threshold`, engine/calibrate.py;
    artifacts from before it have none), which applies when it is None.
    """
    classes = getattr(model, "classes_", None)
    threshold = getattr(model, "threshold", None) if threshold is None else threshold
    if classes is None or (not probabilities and threshold is None):
        return np.asarray(model.predict(frame)), None
    proba = model.predict_proba(frame)
    classes, values = np.asarray(classes), proba.to_numpy()
    if threshold is None:
        labels = classes[values.argmax(axis=1)]
    else:
        labels = np.where(values[:, 1] >= threshold, classes[1], classes[0])
    return labels, proba if probabilities else None


def predict_rows(
    loaded: LoadedModel, frame: pd.DataFrame, *, probabilities: bool = False
) -> tuple[list[Any], list[dict[str, float]] | None]:
    """Predictions for each row and, for classifiers when asked, `{class: p}` per row."""
    labels, proba = outputs(loaded.model, frame, probabilities=probabilities and loaded.is_classifier,
                            threshold=loaded.threshold)
    if proba is None:
        return jsonable(labels), None
    names = [str(c) for c in proba.columns]
    rows = proba.to_numpy(dtype="float64").tolist()
    return jsonable(labels), [dict(zip(names, row, strict=True)) for row in rows]
