"""Greedy ensemble selection with replacement (Caruana et al. 2004) over out-of-fold predictions."""

from __future__ import annotations

import numpy as np

from automl.engine.task import Metric


def ensemble_selection(
    oofs: list[np.ndarray], y: np.ndarray, metric: Metric, *, iterations: int = 40
) -> tuple[np.ndarray, float]:
    """Return (weights per model, ensemble score). Starts from the best single model."""
    n = len(oofs)
    counts = np.zeros(n)
    current = np.zeros_like(oofs[0])
    best_score = None
    for it in range(iterations):
        scores = [metric(y, (current * it + oof) / (it + 1)) for oof in oofs]
        pick = int(np.argmax(scores) if metric.direction == "maximize" else np.argmin(scores))
        counts[pick] += 1
        current = (current * it + oofs[pick]) / (it + 1)
        if best_score is None or metric.better(scores[pick], best_score) or scores[pick] == best_score:
            best_score, best_counts = scores[pick], counts.copy()
    return best_counts / best_counts.sum(), float(best_score)
