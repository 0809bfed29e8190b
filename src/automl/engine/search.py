"""Budgeted search: a portfolio of strong defaults ordered by value/cost, then Optuna TPE on the best families."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import optuna
import pandas as pd
from sklearn.pipeline import Pipeline

from automl.engine.candidates import REGISTRY, Candidate, Params, TaskContext
from automl.engine.preprocess import ColumnPlan
from automl.engine.task import Metric
from automl.engine.validation import Fold, run_cv

log = logging.getLogger(__name__)
optuna.logging.set_verbosity(optuna.logging.WARNING)

# (family, index into its portfolio), best value per second first (AutoGluon zero-shot style)
PORTFOLIO: tuple[tuple[str, int], ...] = (
    ("lightgbm", 0), ("ridge", 0), ("linear", 0), ("extra_trees", 0), ("catboost", 0), ("xgboost", 0),
    ("lightgbm", 1), ("random_forest", 0), ("hist_gradient_boosting", 0), ("lightgbm", 2), ("gradient_boosting", 0),
)
N_TUNED_FAMILIES = 2


@dataclass
class Finished:
    """A candidate whose k fold models all fit: its OOF predictions and bagged pipelines."""

    key: str
    candidate: Candidate
    params: Params
    cv_score: float
    oof: np.ndarray
    pipelines: list[Pipeline]
    fit_seconds: float


@dataclass
class Search:
    ctx: TaskContext
    plan: ColumnPlan
    X: pd.DataFrame
    y: np.ndarray
    folds: list[Fold]
    metric: Metric
    deadline: Callable[[], float]  # moves earlier as finished models show how long evaluation takes
    on_finished: Callable[[Finished], None]
    should_stop: Callable[[], bool]
    finished: list[Finished] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _fold_seconds: dict[str, list[float]] = field(default_factory=dict)  # observed seconds per fold, by family
    _counters: dict[str, int] = field(default_factory=dict)
    wasted: bool = False

    def remaining(self) -> float:
        return self.deadline() - time.monotonic()

    def stopped(self) -> bool:
        return self.remaining() <= 0 or self.should_stop()

    def run(self) -> list[Finished]:
        for family, i in PORTFOLIO:
            if self.stopped():
                break
            cand = REGISTRY[family]
            configs = cand.portfolio(self.ctx)
            if i < len(configs):
                self._try(cand, configs[i])
        self._tune()
        return self.finished

    def _fold_estimate(self, cand: Candidate) -> float | None:
        """Seconds per fold: this family's median so far, else the others' scaled by relative cost."""
        if cand.name in self._fold_seconds:
            return float(np.median(self._fold_seconds[cand.name]))
        per_cost = [np.median(v) / REGISTRY[name].cost for name, v in self._fold_seconds.items()]
        return cand.cost * float(np.median(per_cost)) if per_cost else None

    def _affordable(self, cand: Candidate) -> bool:
        estimate = self._fold_estimate(cand)
        return estimate is None or estimate * len(self.folds) < self.remaining()

    def _try(self, cand: Candidate, params: Params, trial: optuna.Trial | None = None) -> Finished | None:
        """None when skipped, failed or stopped; `self.wasted` says whether it was skipped or failed."""
        self.wasted = True
        if not self._affordable(cand):
            log.info("skipping %s: not expected to fit the remaining budget", cand.name)
            return None
        # one candidate may use at most half of what is left once something has finished
        allowance = self.remaining() * (0.5 if self.finished else 0.6)
        n_rounds = -(-len(self.folds) // self.ctx.n_jobs)

        def keep_going(r: int, seen: np.ndarray, elapsed: float, oof: np.ndarray) -> bool:
            if self.should_stop():
                return False
            # the first candidate always completes (its folds stop early at their deadlines instead)
            if self.finished and elapsed / (r + 1) * (n_rounds - r - 1) > self.remaining():
                return False
            if trial is not None:
                trial.report(self.metric(self.y[seen], oof[seen]), r)
                return not trial.should_prune()
            return True

        try:
            outcome = run_cv(
                cand, params, self.ctx, self.plan, self.X, self.y, self.folds,
                allowance=allowance, keep_going=keep_going,
            )
        except Exception as exc:  # one failing family must not sink the run
            log.warning("candidate %s failed: %s", cand.name, exc)
            self.errors.append(f"{cand.name}: {exc}")
            return None
        self._fold_seconds.setdefault(cand.name, []).append(outcome.seconds / len(outcome.pipelines))
        self.wasted = False
        if not outcome.complete:
            return None
        n = self._counters.get(cand.name, 0) + 1
        self._counters[cand.name] = n
        done = Finished(
            key=f"{cand.name}_{n}", candidate=cand, params=params, cv_score=self.metric(self.y, outcome.oof),
            oof=outcome.oof, pipelines=outcome.pipelines, fit_seconds=outcome.seconds,
        )
        self.finished.append(done)
        self.on_finished(done)
        return done

    def _best_families(self) -> list[str]:
        best: dict[str, float] = {}
        for f in self.finished:
            name = f.candidate.name
            if f.candidate.tunable and (name not in best or self.metric.better(f.cv_score, best[name])):
                best[name] = f.cv_score
        ranked = sorted(best, key=lambda n: self.metric.loss(best[n]))
        return ranked[:N_TUNED_FAMILIES]

    def _tune(self) -> None:
        families = self._best_families()
        if not families:
            return
        studies = {
            name: optuna.create_study(
                direction=self.metric.direction,
                sampler=optuna.samplers.TPESampler(seed=self.ctx.seed + i, n_startup_trials=5),
                pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
            )
            for i, name in enumerate(families)
        }
        failures = 0
        for name in itertools.cycle(families):
            if self.stopped() or failures >= 3 * len(families):
                break
            cand, study = REGISTRY[name], studies[name]
            trial = study.ask()
            params = cand.suggest(trial, self.ctx)
            done = self._try(cand, params, trial)
            if done is None:
                failures = failures + 1 if self.wasted else 0  # a pruned trial is progress, not a failure
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                failures = 0
                study.tell(trial, done.cv_score)
