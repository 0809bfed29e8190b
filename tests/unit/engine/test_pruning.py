"""Latency-aware pruning of the greedy ensemble: costly members go when they add (almost) nothing."""

from __future__ import annotations

import numpy as np

from automl.engine.ensemble import ensemble_selection, prune_for_speed
from automl.engine.task import METRICS


def _binary(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 0.01, 0.99)
    return np.column_stack([1 - p, p])


def test_an_expensive_member_that_adds_noise_is_dropped() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    signal = rng.normal(size=n)
    y = (signal + rng.normal(scale=0.8, size=n) > 0).astype(int)
    good = _binary(1 / (1 + np.exp(-1.5 * signal)))
    also_good = _binary(1 / (1 + np.exp(-1.4 * signal - rng.normal(scale=0.3, size=n))))
    costly_noise = _binary(1 / (1 + np.exp(-1.5 * signal - rng.normal(scale=1.5, size=n))))
    auc = METRICS["roc_auc"]
    oofs = [good, also_good, costly_noise]
    weights = np.array([0.5, 0.3, 0.2])
    pruned, score = prune_for_speed(oofs, y, auc, weights, costs=[0.01, 0.01, 1.0])
    assert pruned[2] == 0.0
    assert abs(pruned.sum() - 1) < 1e-12
    full = auc(y, sum(w * o for w, o in zip(weights, oofs, strict=True)))
    assert score >= full - 0.1 * abs(full - max(auc(y, o) for o in oofs)) - 1e-12


def test_members_that_carry_the_gain_are_kept() -> None:
    rng = np.random.default_rng(1)
    n = 4000
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = (a + b + rng.normal(scale=0.3, size=n) > 0).astype(int)
    only_a, only_b = _binary(1 / (1 + np.exp(-2 * a))), _binary(1 / (1 + np.exp(-2 * b)))
    auc = METRICS["roc_auc"]
    weights, _ = ensemble_selection([only_a, only_b], y, auc)
    pruned, _ = prune_for_speed([only_a, only_b], y, auc, weights, costs=[5.0, 0.1])
    assert np.count_nonzero(pruned) == 2  # each half of the signal: neither can go, however costly


def _regression(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Targets, an exact member and a noisy one."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=3000)
    return 2 * x + rng.normal(scale=0.5, size=3000), 2 * x, 2 * x + rng.normal(scale=2.0, size=3000)


def test_regression_metric_direction_is_respected() -> None:
    y, exact, noisy = _regression(2)
    rmse = METRICS["rmse"]
    pruned, score = prune_for_speed([exact, noisy], y, rmse, np.array([0.9, 0.1]), costs=[0.1, 3.0])
    assert pruned.tolist() == [1.0, 0.0]
    assert score == rmse(y, exact)


def test_cheap_members_are_kept_whatever_they_add() -> None:
    y, exact, noisy = _regression(3)
    rmse = METRICS["rmse"]
    pruned, _ = prune_for_speed([exact, noisy], y, rmse, np.array([0.9, 0.1]), costs=[1.0, 0.1])
    assert pruned[1] > 0  # 9 % of the cost: removing it would save too little to be worth any loss
