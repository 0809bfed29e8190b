"""Budgeted search: the zero-shot portfolio (portfolio.py) in its order, then Optuna TPE on the best families.

Candidates run through an executor (threads here, or tasks on a Dask cluster) and overlap: whenever fewer
fold tasks are pending than the executor has slots, the next candidate's folds are submitted, so a free core
or a free Dask worker never waits for the slowest fold of the candidate before. Tuning asks Optuna for
several trials at once with a constant liar for the ones still running.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import CancelledError
from dataclasses import dataclass, field

import numpy as np
import optuna
import pandas as pd
from sklearn.pipeline import Pipeline

from automl.engine.candidates import REGISTRY, Candidate, Params, TaskContext
from automl.engine.executor import Executor
from automl.engine.portfolio import kind_of, portfolio
from automl.engine.preprocess import ColumnPlan
from automl.engine.task import Metric
from automl.engine.validation import CVRun, Fold, fold_scores

log = logging.getLogger(__name__)
optuna.logging.set_verbosity(optuna.logging.WARNING)

N_TUNED_FAMILIES = 2
POLL_S = 0.25  # how often a wait for fold tasks looks at the stop flag and the budget


@dataclass
class Finished:
    """A candidate whose k fold models all fit: its OOF predictions and bagged pipelines."""

    key: str
    candidate: Candidate
    params: Params
    cv_score: float
    oof: np.ndarray
    pipelines: list[Pipeline]  # fold i's model is pipelines[i], validated on the search's folds[i]
    fit_seconds: float
    fold_scores: list[float] = field(default_factory=list)  # the metric on each fold's validation rows


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
    executor: Executor
    configurations: list[tuple[str, Params]] | None = None  # to try first; None: the learned portfolio
    finished: list[Finished] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _fold_seconds: dict[str, list[float]] = field(default_factory=dict)  # observed seconds per fold, by family
    _counters: dict[str, int] = field(default_factory=dict)
    _portfolio: list[tuple[str, Params]] = field(default_factory=list)
    _studies: dict[str, optuna.Study] = field(default_factory=dict)
    _tuned: int = 0  # tuning trials asked, to cycle through the best families
    _failures: int = 0  # tuning trials in a row that were skipped or failed

    def __post_init__(self) -> None:
        first = self.configurations if self.configurations is not None else portfolio(kind_of(self.ctx))
        self._portfolio = [(family, dict(params)) for family, params in first]

    def remaining(self) -> float:
        return self.deadline() - time.monotonic()

    def run(self) -> list[Finished]:
        data = (self.executor.share(self.X), self.executor.share(self.y))
        running: list[CVRun] = []
        try:
            # past the deadline the first candidate still completes: its folds stop early at their own deadlines
            while not self.should_stop() and (self.remaining() > 0 or (running and not self.finished)):
                while self.remaining() > 0 and sum(len(r.futures) for r in running) < self.executor.slots:
                    proposal = self._propose()
                    if proposal is None:
                        break
                    run = self._submit(data, *proposal)
                    if run is not None:
                        running.append(run)
                if not running:
                    break
                pending = {f: r for r in running for f in r.futures}
                for future in self.executor.wait(pending, timeout=POLL_S):
                    if future in pending[future].futures:  # not dropped by an earlier one of this batch
                        self._absorb(pending[future], future)
                running = [r for r in running if r.futures]
        finally:
            self.executor.cancel([f for r in running for f in r.futures])
            for r in running:
                self._tell(r, None)
        return self.finished

    # --- what to try next ---

    def _propose(self) -> tuple[Candidate, Params, optuna.Trial | None] | None:
        """The next portfolio configuration, then tuning trials; None when there is nothing to start now."""
        while self._portfolio:
            family, params = self._portfolio.pop(0)
            if self._affordable(REGISTRY[family]):
                return REGISTRY[family], dict(params), None
        ranked = self._ranked_families()
        families = ranked[:N_TUNED_FAMILIES]
        if not families or self._failures >= 3 * len(families):
            return None  # with candidates still running, their results may yet name families to tune
        for _ in families:
            name = families[self._tuned % len(families)]
            self._tuned += 1
            if self._affordable(REGISTRY[name]):
                return self._trial(name)
            self._failures += 1
        # the best families no longer fit what is left: the best one that does uses it instead of idling
        cheaper = next((n for n in ranked[N_TUNED_FAMILIES:] if self._affordable(REGISTRY[n])), None)
        return None if cheaper is None else self._trial(cheaper)

    def _trial(self, name: str) -> tuple[Candidate, Params, optuna.Trial]:
        trial = self._study(name).ask()
        return REGISTRY[name], REGISTRY[name].suggest(trial, self.ctx), trial

    def _study(self, name: str) -> optuna.Study:
        if name not in self._studies:
            self._studies[name] = optuna.create_study(
                direction=self.metric.direction,
                sampler=optuna.samplers.TPESampler(seed=self.ctx.seed + len(self._studies), n_startup_trials=5,
                                                   constant_liar=True),
                pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
            )
        return self._studies[name]

    def _fold_estimate(self, cand: Candidate) -> float | None:
        """Seconds per fold: this family's median so far, else the others' scaled by relative cost."""
        if cand.name in self._fold_seconds:
            return float(np.median(self._fold_seconds[cand.name]))
        per_cost = [np.median(v) / REGISTRY[name].cost for name, v in self._fold_seconds.items()]
        return cand.cost * float(np.median(per_cost)) if per_cost else None

    def _affordable(self, cand: Candidate) -> bool:
        estimate = self._fold_estimate(cand)
        rounds = -(-len(self.folds) // max(1, min(self.executor.slots, len(self.folds))))
        ok = estimate is None or estimate * rounds < self.remaining()
        if not ok:
            log.info("skipping %s: not expected to fit the remaining budget", cand.name)
        return ok

    def _ranked_families(self) -> list[str]:
        """The tunable families that finished, best CV score first."""
        best: dict[str, float] = {}
        for f in self.finished:
            name = f.candidate.name
            if f.candidate.tunable and (name not in best or self.metric.better(f.cv_score, best[name])):
                best[name] = f.cv_score
        return sorted(best, key=lambda n: self.metric.loss(best[n]))

    # --- running candidates ---

    def _submit(self, data: tuple[object, object], cand: Candidate, params: Params,
                trial: optuna.Trial | None) -> CVRun | None:
        # one candidate may use at most half of what is left once something has finished
        allowance = self.remaining() * (0.5 if self.finished else 0.6)
        try:
            return CVRun.submit(self.executor, data, cand, params, self.ctx, self.plan, self.folds,
                                allowance=allowance, trial=trial)
        except Exception as exc:  # e.g. the cluster went away: this candidate is lost, the search goes on
            self._fail(cand, exc, trial)
            return None

    def _absorb(self, run: CVRun, future: object) -> None:
        try:
            res = run.absorb(future, self.folds)
        except CancelledError:
            return
        except Exception as exc:  # one failing family must not sink the run
            self._drop(run)
            self._fail(run.candidate, exc, run.trial)
            run.trial = None
            return
        self._fold_seconds.setdefault(run.candidate.name, []).append(res.seconds)
        if run.complete:
            self._finish(run)
        elif not self._keep_going(run):
            self._drop(run)
            self._tell(run, None)

    def _keep_going(self, run: CVRun) -> bool:
        """Whether a candidate with some folds done should finish: budget, pruning, user stop."""
        if self.should_stop():
            return False
        done = len(run.results)
        # the first candidate always completes (its folds stop early at their deadlines instead)
        if self.finished and run.elapsed / done * (run.n_folds - done) > self.remaining():
            return False
        if run.trial is not None:
            run.trial.report(self.metric(self.y[run.seen], run.oof[run.seen]), done)
            return not run.trial.should_prune()
        return True

    def _drop(self, run: CVRun) -> None:
        self.executor.cancel(list(run.futures))
        run.futures.clear()

    def _fail(self, cand: Candidate, exc: Exception, trial: optuna.Trial | None) -> None:
        log.warning("candidate %s failed: %s", cand.name, exc)
        self.errors.append(f"{cand.name}: {exc}")
        if trial is not None:
            self._failures += 1
            self._studies[cand.name].tell(trial, state=optuna.trial.TrialState.FAIL)

    def _tell(self, run: CVRun, score: float | None) -> None:
        """Close the run's trial: its score, or pruned (a pruned trial is progress, not a failure)."""
        if run.trial is None:
            return
        study = self._studies[run.candidate.name]
        if score is None:
            study.tell(run.trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(run.trial, score)
        self._failures = 0
        run.trial = None

    def _finish(self, run: CVRun) -> None:
        cand = run.candidate
        n = self._counters.get(cand.name, 0) + 1
        self._counters[cand.name] = n
        done = Finished(
            key=f"{cand.name}_{n}", candidate=cand, params=run.params, cv_score=self.metric(self.y, run.oof),
            oof=run.oof, pipelines=run.pipelines, fit_seconds=run.fit_seconds,
            fold_scores=fold_scores(self.metric, self.y, run.oof, self.folds),
        )
        self._tell(run, done.cv_score)
        self.finished.append(done)
        self.on_finished(done)
