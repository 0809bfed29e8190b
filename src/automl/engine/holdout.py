"""The holdout choice (`AutoML(holdout=...)`): which rows the reported figures come from.

- a fraction in (0, 0.5): that share of the labelled rows (stratified for classification) is held out before
  the search; it takes part in no choice and yields `metrics`, plots, importance and timings;
- `"none"`: every row is searched on; the figures are out of fold (each bag's OOF predictions, the ensemble's
  weighted OOF), importance is each fold model's on its own validation rows;
- `"auto"`: `"none"` under AUTO_MIN_ROWS labelled rows, else AUTO_FRACTION (docs/engine.md: the measurement).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from automl.engine.dataprep import PreparedData
from automl.engine.errors import EngineError
from automl.engine.evaluate import (
    IMPORTANCE_REPEATS,
    IMPORTANCE_ROWS,
    Holdout,
    importance,
    importance_rows,
    oof_importance,
)
from automl.engine.model import FittedModel
from automl.engine.validation import HOLDOUT_FRACTION, Fold, cv_folds, holdout_split, n_folds_for

AUTO_MIN_ROWS = 1000  # bench/holdout.py: none won on all 4 tables under 1,000 training rows, 2 of 7 above
AUTO_FRACTION = HOLDOUT_FRACTION
EVALUATION_SAMPLE = 2000  # evaluation rows named in the summary for later insights
HoldoutChoice = str | float


def check_holdout(value: Any) -> HoldoutChoice:
    """`"auto"`, `"none"` or a fraction strictly between 0 and 0.5; anything else is an EngineError."""
    if value in ("auto", "none") and isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 0.5:
        return float(value)
    raise EngineError(f"holdout must be 'auto', 'none' or a fraction in (0, 0.5); got {value!r}.")


def resolve_holdout(choice: HoldoutChoice, n_rows: int) -> float | None:
    """The fraction held out for `n_rows` labelled rows, or None for out-of-fold figures."""
    choice = check_holdout(choice)
    if choice == "auto":
        return None if n_rows < AUTO_MIN_ROWS else AUTO_FRACTION
    return None if choice == "none" else float(choice)


@dataclass(frozen=True)
class Split:
    """The rows the search trains and cross-validates on, and the rows the figures come from."""

    X: pd.DataFrame
    y: np.ndarray
    folds: list[Fold]
    rows: Holdout  # the held-out rows, or (out of fold) X and y themselves
    fraction: float | None  # None: no holdout
    positions: np.ndarray  # of `rows` in the frame given to fit

    @property
    def out_of_fold(self) -> bool:
        return self.fraction is None

    @property
    def n_folds(self) -> int:
        return len(self.folds)

    def predict(self, model: FittedModel, oof: np.ndarray) -> np.ndarray:
        """A model's prediction of the evaluation rows: of the held-out rows, or its OOF predictions."""
        return oof if self.out_of_fold else model.predict_raw(self.rows.X)

    def importance(
        self, whole: FittedModel, fold_model: Callable[[int], FittedModel], *, ms_whole: float, ms_fold: float,
        seconds: float, required: bool,
    ) -> list[dict[str, Any]]:
        """On rows no model used trained on: `whole` on the holdout, or fold i's `fold_model(i)` on fold i's
        validation rows (`ms_*`: each one's predict cost per row). With a holdout, where `whole` cannot score a
        full sample in `seconds` (a bag predicts k times), fold 0's model scores more rows in the same time."""
        if self.out_of_fold:
            models = [fold_model(i) for i in range(self.n_folds)]
            return oof_importance(models, self.folds, self.rows, seconds=seconds, ms_per_row=ms_fold,
                                  required=required)
        full = min(IMPORTANCE_ROWS, len(self.rows.y))
        if ms_fold < ms_whole and importance_rows(ms_whole, self.rows.X.shape[1], seconds=seconds,
                                                  n_repeats=IMPORTANCE_REPEATS) < full:
            return importance(fold_model(0), self.rows, seconds=seconds, ms_per_row=ms_fold, required=required)
        return importance(whole, self.rows, seconds=seconds, ms_per_row=ms_whole, required=required)

    @property
    def refit_scale(self) -> float:
        """How many more rows the refit trains on than the search: the holdout's are added."""
        return 1.0 if self.out_of_fold else (len(self.y) + len(self.rows.y)) / len(self.y)

    def refit_rows(self) -> tuple[pd.DataFrame, np.ndarray]:
        """Every labelled row, what the ensemble's members are refitted on (the search's rows first)."""
        if self.out_of_fold:
            return self.X, self.y
        return pd.concat([self.X, self.rows.X], ignore_index=True), np.concatenate([self.y, self.rows.y])

    def summary(self, *, seed: int) -> dict[str, Any]:
        return {
            "n_train": int(len(self.y)), "n_test": 0 if self.out_of_fold else int(len(self.rows.y)),
            "n_folds": self.n_folds, "holdout": "none" if self.fraction is None else self.fraction,
            "evaluation": "out_of_fold" if self.out_of_fold else "holdout",
            "evaluation_rows": sample_rows(self.positions, seed=seed),
        }


def split(data: PreparedData, choice: HoldoutChoice, *, seed: int) -> Split:
    fraction = resolve_holdout(choice, len(data.y))
    if fraction is None:
        train = test = np.arange(len(data.y))
    else:
        train, test = holdout_split(data.y, problem_type=data.problem_type, seed=seed, fraction=fraction)
    X, y = data.X.iloc[train].reset_index(drop=True), data.y[train]
    rows = Holdout(  # out of fold, the very frame the search uses (no second copy of a large table)
        X=X if fraction is None else data.X.iloc[test].reset_index(drop=True),
        X_raw=data.raw.iloc[test].reset_index(drop=True), y=data.y[test], metric=data.metric,
        problem_type=data.problem_type, classes=data.classes, seed=seed,
    )
    folds = cv_folds(y, problem_type=data.problem_type, n_folds=n_folds_for(len(y)), seed=seed)
    return Split(X=X, y=y, folds=folds, rows=rows, fraction=fraction, positions=data.positions[test])


def sample_rows(positions: np.ndarray, *, seed: int, at_most: int = EVALUATION_SAMPLE) -> list[int]:
    """Up to `at_most` of the rows the reported figures come from, as positions in the frame given to fit: what
    the platform's model insights are computed on, long after the fit."""
    if len(positions) > at_most:
        positions = np.random.default_rng(seed).choice(positions, at_most, replace=False)
    return sorted(int(p) for p in positions)
