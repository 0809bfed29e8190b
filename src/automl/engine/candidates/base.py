"""Candidate families: each declares defaults, a search space, a relative cost and how its fitted models
compile for serving; a registry refuses duplicates."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import optuna
from sklearn.base import BaseEstimator

from automl.engine.fastpath import FastPredict

Params = dict[str, Any]


@dataclass(frozen=True)
class TaskContext:
    """What a candidate needs to know about the task to choose defaults."""

    problem_type: str
    n_classes: int  # 0 for regression
    n_rows: int  # training rows of one fold
    n_features: int
    seed: int = 0
    n_jobs: int = 2  # folds fitted in parallel; each model is single-threaded
    balanced: bool = False  # classes imbalanced and the metric is not a probability loss

    @property
    def is_classification(self) -> bool:
        return self.problem_type != "regression"

    @property
    def target_type(self) -> str:
        return "continuous" if self.problem_type == "regression" else self.problem_type


class Candidate:
    """Base class; subclasses set the class variables and write `estimator` (and `fit` when they stop early)."""

    name: ClassVar[str]  # key prefix and registry key, e.g. "lightgbm"
    algorithm: ClassVar[str]
    style: ClassVar[str]  # preprocessing style, see preprocess.STYLES
    cost: ClassVar[float]  # wall time relative to LightGBM defaults on the same data
    tunable: ClassVar[bool] = True
    rounds_param: ClassVar[str | None] = None  # the parameter that sets how many rounds (trees) a fit grows

    def algorithm_for(self, ctx: TaskContext) -> str:
        """The algorithm's name as users see it, which may depend on the task."""
        return self.algorithm

    def portfolio(self, ctx: TaskContext) -> list[Params]:
        """Strong configurations to try before any search, best first."""
        return [{}]

    def suggest(self, trial: optuna.Trial, ctx: TaskContext) -> Params:
        return {}

    def estimator(self, params: Params, ctx: TaskContext) -> BaseEstimator:
        raise NotImplementedError

    def fit(
        self, est: BaseEstimator, X: Any, y: np.ndarray, *, X_val: Any, y_val: np.ndarray | None, deadline: float
    ) -> BaseEstimator:
        """Fit on one training fold; the validation fold is only for early stopping (None: a refit with fixed
        rounds). The deadline is a hard stop either way; a fit it stopped holds fewer rounds than asked
        (`fitted_rounds`), and the caller decides whether it may be served (refit.check_refit)."""
        return est.fit(X, y)

    def fixed_rounds(self, fold_models: list[Any]) -> Params:
        """Parameters for a refit on all rows without a stopping set: families that stop early fit as many
        rounds as their fold models stopped at (a little more: the refit sees more rows)."""
        return {}

    def fitted_rounds(self, est: Any) -> int | None:
        """Rounds (or trees) the fitted `est` actually holds, to compare with the `rounds_param` it was given:
        a fit stopped by its deadline holds fewer. None for families without rounds."""
        return None

    def compile(self, est: Any) -> FastPredict | None:
        """This family's fitted model `est` as a fast predictor for serving (see fastpath.FastPredict), or
        None: the model is not this family's, or it keeps its own predict on the compiled transformed
        matrix. Whatever it returns is used only after it reproduced the pipeline (fastpath.verify)."""
        return None


REGISTRY: dict[str, Candidate] = {}


def register(cls: type[Candidate]) -> type[Candidate]:
    if cls.name in REGISTRY:
        raise ValueError(f"candidate {cls.name!r} is already registered")
    REGISTRY[cls.name] = cls()
    return cls


def compile_fitted(est: Any) -> FastPredict | None:
    """The first registered family's compiled form of the fitted model `est`, or None."""
    for family in REGISTRY.values():
        fast = family.compile(est)
        if fast is not None:
            return fast
    return None


def time_left(deadline: float) -> float:
    return deadline - time.monotonic()


def grow_in_chunks(
    est: BaseEstimator, X: Any, y: np.ndarray, *, param: str, grown: Callable[[Any], int], deadline: float,
    first: int = 10, chunk: int = 50,
) -> BaseEstimator:
    """Fit `est` up to its `param` rounds by warm start: `first` rounds to time one, then chunks sized to what
    is left before `deadline`. A chunk cannot be interrupted, so none is started that would not fit; a fit
    stopped this way holds fewer rounds than asked (`grown(est)`), for the caller to see."""
    target = est.get_params()[param]
    est.set_params(warm_start=True, **{param: min(first, target)})
    start = time.monotonic()
    est.fit(X, y)
    per_round = (time.monotonic() - start) / max(grown(est), 1)
    while grown(est) < target:
        fits = int(time_left(deadline) / max(per_round, 1e-6))
        if fits < 1:
            break
        step = min(chunk, target - grown(est), fits)
        asked, start = grown(est) + step, time.monotonic()
        est.set_params(**{param: asked})
        est.fit(X, y)
        per_round = (time.monotonic() - start) / step
        if grown(est) < asked:  # the estimator stopped by itself: more chunks would add nothing
            break
    return est.set_params(warm_start=False)


def refit_rounds(best: list[int]) -> int:
    """Rounds for a refit on all rows, from the fold models' best iteration counts."""
    return max(1, int(round(float(np.mean(best)) * 1.1)))


def min_gain(y: np.ndarray, *, classification: bool) -> float:
    """Smallest validation-loss improvement that counts for early stopping (log loss or squared error)."""
    return 1e-4 if classification else 1e-4 * float(np.var(y))
