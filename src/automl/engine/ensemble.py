"""Greedy ensemble selection with replacement (Caruana et al. 2004) over out-of-fold predictions."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from automl.engine.task import Metric

if TYPE_CHECKING:
    from automl.engine.search import Finished

MAX_SELECTION_ROWS = 100_000  # rows the greedy rounds score on; the final score uses every row
MIN_WEIGHT = 0.05  # members below this weight are dropped outright
ENSEMBLE_SIZE = 10  # candidates offered to ensemble selection
PER_FAMILY = 3  # of which at most this many from one family: tuned near-duplicates fit the OOF noise
MIN_COST_SHARE = 0.25  # prune_for_speed only weighs members that cost at least this share of the ensemble


def selection_rows(n_rows: int, *, seed: int = 0, max_rows: int = MAX_SELECTION_ROWS) -> np.ndarray | None:
    """A fixed random subset of rows for the greedy rounds, or None to use all.

    Each round scores every candidate: 40 rounds x 10 models = 400 metric calls, ~0.15 s each
    for ROC AUC on 800k rows (a minute of a 5-minute budget). 100k rows pick the same weights
    to within noise.
    """
    if n_rows <= max_rows:
        return None
    return np.sort(np.random.default_rng(seed).choice(n_rows, max_rows, replace=False))


def ensemble_selection(
    oofs: list[np.ndarray], y: np.ndarray, metric: Metric, *, iterations: int = 40,
    max_rows: int = MAX_SELECTION_ROWS, seed: int = 0,
) -> tuple[np.ndarray, float]:
    """Return (weights per model, ensemble score on all rows). Starts from the best single model."""
    take = selection_rows(len(y), seed=seed, max_rows=max_rows)
    classification = "regression" not in metric.problem_types
    # a subset that lost a class could not be scored like the whole; then select on all rows
    if take is not None and not (classification and len(np.unique(y[take])) < len(np.unique(y))):
        weights, _ = _greedy([oof[take] for oof in oofs], y[take], metric, iterations)
        return weights, float(metric(y, sum(w * oof for w, oof in zip(weights, oofs, strict=True))))
    return _greedy(oofs, y, metric, iterations)


def _greedy(oofs: list[np.ndarray], y: np.ndarray, metric: Metric, iterations: int) -> tuple[np.ndarray, float]:
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


def prune_for_speed(
    oofs: list[np.ndarray], y: np.ndarray, metric: Metric, weights: np.ndarray, costs: list[float],
    *, keep_gain: float = 0.9,
) -> tuple[np.ndarray, float]:
    """Drop the members that cost the most to predict while the ensemble keeps `keep_gain` of its gain.

    Greedy selection adds members for gains too small to matter (often fitting the out-of-fold noise),
    and every member is paid for on each prediction: a 300-tree forest at 10 % weight can cost more
    than all other members together. The gain is the ensemble's over its best single member; members
    are tried most expensive first and weights renormalised after each removal; members costing under
    MIN_COST_SHARE of the ensemble are kept whatever they add. Members under MIN_WEIGHT go first.
    """
    weights = np.asarray(weights, dtype=float).copy()
    if weights.max() >= MIN_WEIGHT:  # slivers of weight: each costs a refit and every prediction
        weights[weights < MIN_WEIGHT] = 0.0

    def score(w: np.ndarray) -> float:
        return metric(y, sum(wi * o for wi, o in zip(w / w.sum(), oofs, strict=True) if wi > 0))

    full = score(weights)
    best_single = min((metric.loss(metric(y, oofs[i])) for i in np.flatnonzero(weights)), default=0.0)
    floor = metric.loss(full) + (1 - keep_gain) * max(best_single - metric.loss(full), 0.0)
    for i in sorted(np.flatnonzero(weights), key=lambda j: -costs[j]):
        if np.count_nonzero(weights) == 1:
            break
        if costs[i] < MIN_COST_SHARE * sum(costs[j] for j in np.flatnonzero(weights)):
            continue  # too cheap to be worth any loss
        trial = weights.copy()
        trial[i] = 0.0
        if metric.loss(score(trial)) <= floor:
            weights = trial
    return weights / weights.sum(), score(weights)


def ensemble_pool(finished: list[Finished], metric: Metric) -> list[Finished]:
    """The best candidates, at most PER_FAMILY of each family, best first."""
    taken: Counter[str] = Counter()
    pool: list[Finished] = []
    for f in sorted(finished, key=lambda f: metric.loss(f.cv_score)):
        if len(pool) == ENSEMBLE_SIZE:
            break
        if taken[f.candidate.name] < PER_FAMILY:
            taken[f.candidate.name] += 1
            pool.append(f)
    return pool
