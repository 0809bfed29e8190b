"""The time budget of one fit: when the search must stop so that what follows it ends in time."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Budget:
    start: float
    total: float
    ensemble_predict_s: float = 0.0  # measured: what predicting with the likely ensemble members costs
    refit_s: float = 0.0  # expected: refitting the likely ensemble members once
    stack_s: float = 0.0  # expected: fitting the stacking layer's k folds
    importance_s: float = 0.0  # expected: the ensemble's permutation importance on a full sample

    @property
    def tail(self) -> float:
        """What follows the refit: timing and importance of the ensemble, and a margin for the rest."""
        return min(0.3 * self.total, 1.0 + 0.02 * self.total + 3 * self.ensemble_predict_s + self.importance_s)

    @property
    def end_reserve(self) -> float:
        """Ensemble selection, the stacking layer, the refit and the tail; kept out of the search."""
        return min(0.3 * self.total, self.tail + self.refit_s + self.stack_s)

    @property
    def refit_deadline(self) -> float:
        """One deadline plans and stops the refit (and the stacking layer before it): the tail keeps the rest."""
        return self.deadline - self.tail

    @property
    def search_deadline(self) -> float:
        return self.start + self.total - self.end_reserve

    @property
    def deadline(self) -> float:
        return self.start + self.total

    def elapsed(self) -> float:
        return time.monotonic() - self.start
