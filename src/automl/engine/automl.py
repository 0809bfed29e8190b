"""AutoML.fit: prepare -> holdout split (or none) -> budgeted k-fold search -> greedy ensemble -> results."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from automl.engine.budget import Budget
from automl.engine.calibrate import Choice, choose, labels
from automl.engine.candidates import REGISTRY, Params, TaskContext
from automl.engine.dataprep import IMBALANCE_SHARE, PreparedData, prepare
from automl.engine.ensemble import ensemble_pool, ensemble_selection, prune_for_speed
from automl.engine.errors import EngineError
from automl.engine.evaluate import IMPORTANCE_REPEATS, IMPORTANCE_ROWS, TIMING_ROWS, importance_seconds, model_result
from automl.engine.executor import Executor, LocalExecutor
from automl.engine.holdout import HoldoutChoice, Split, check_holdout, split
from automl.engine.model import FittedModel
from automl.engine.preprocess import ColumnPlan
from automl.engine.refit import Served, choose_served, member_seconds, refit_members, refit_seconds, refit_summary
from automl.engine.results import FitResult, ModelResult
from automl.engine.search import Finished, Search
from automl.engine.stacking import Stack, StackFit, check, fit_stack
from automl.engine.task import leaderboard_key
from automl.engine.validation import fold_scores, predict_internal


class AutoML:
    def __init__(
        self, time_budget_s: float = 60, metric: str = "auto", problem_type: str = "auto", n_jobs: int = 2,
        seed: int = 0, on_progress: Callable[[str, float, str], None] | None = None,
        on_model: Callable[[ModelResult], None] | None = None, should_stop: Callable[[], bool] | None = None,
        executor: Executor | None = None, holdout: HoldoutChoice = "auto", stacking: bool = True,
        calibrate: bool = True, portfolio: Sequence[tuple[str, Params]] | None = None,
    ) -> None:
        """`executor` runs the fold fits (e.g. a DaskExecutor on a cluster); default `n_jobs` local threads.
        `holdout`: "auto", "none" or a fraction in (0, 0.5) held out for the reported figures (holdout.py).
        `stacking`: try a second layer on the ensemble (stacking.py), kept only when its check says so.
        `calibrate`: choose calibration and threshold on OOF predictions (calibrate.py).
        `portfolio`: (family, params) to try first, in order; default the learned one (portfolio.py)."""
        self.holdout = check_holdout(holdout)
        self.stacking, self.calibrate = stacking, calibrate
        unknown = sorted({family for family, _ in portfolio or ()} - set(REGISTRY))
        if unknown:
            raise EngineError(f"unknown model families in the portfolio: {', '.join(unknown)}.")
        self.portfolio = None if portfolio is None else [(family, dict(params)) for family, params in portfolio]
        self.time_budget_s = float(time_budget_s)
        self.metric = metric
        self.problem_type = problem_type
        self.n_jobs = n_jobs
        self.seed = seed
        self.on_progress = on_progress
        self.on_model = on_model
        self.should_stop = should_stop or (lambda: False)
        self.executor = executor
        self._fraction = 0.0

    def _progress(self, stage: str, fraction: float, message: str) -> None:
        self._fraction = max(self._fraction, min(1.0, fraction))  # never goes backwards
        if self.on_progress is not None:
            self.on_progress(stage, self._fraction, message)

    def fit(
        self, df: pd.DataFrame, target: str, features: list[str] | None = None, *, kinds: dict[str, str] | None = None
    ) -> FitResult:
        """Search, ensemble and rank models for `target` on `df`.

        `kinds` maps features to kinds (id and constant columns are dropped, see `summary["dropped_columns"]`); the
        platform passes the dataset profile's, `automl.ingest.column_kinds(df)` gives a library user the same.
        Without them a dtype is read literally: numeric, bool -> boolean, datetime64 -> datetime, anything else
        categorical; no or a single distinct value -> constant. No guessing from names or values."""
        budget = Budget(time.monotonic(), self.time_budget_s)
        self._fraction = 0.0
        self._progress("preparing", 0.0, "Checking the data")
        data = prepare(df, target, features=features, kinds=kinds, problem_type=self.problem_type,
                       metric=self.metric, seed=self.seed)
        sp = split(data, self.holdout, seed=self.seed)
        X, y, n_folds = sp.X, sp.y, sp.n_folds
        executor = self.executor or LocalExecutor(self.n_jobs)
        ctx = _task_context(data, X, y, n_folds=n_folds, seed=self.seed, n_jobs=executor.slots)
        plan = ColumnPlan.from_kinds(X, data.kinds)
        run = _Run(self, data, sp, budget, refit=_RefitInputs(ctx, plan, X, y, n_folds, executor))
        search = Search(
            ctx=ctx, plan=plan, X=X, y=y, folds=sp.folds, metric=data.metric,
            deadline=lambda: budget.search_deadline, on_finished=run.add, should_stop=self.should_stop,
            executor=executor, configurations=self.portfolio,
        )
        scheme = "out-of-fold figures" if sp.out_of_fold else f"{sp.fraction:g} held out"
        self._progress("searching", budget.elapsed() / budget.total,
                       f"{n_folds}-fold CV on {len(y)} rows ({scheme})")
        finished = self._search(search, executor)
        if not finished:
            raise EngineError("Training was stopped before any model finished.")
        if not self.should_stop():
            self._progress("ensembling", budget.elapsed() / budget.total, "Greedy ensemble selection")
            run.add_ensemble(finished)
        self._progress("finalizing", budget.elapsed() / budget.total, "Ranking models")
        leaderboard = run.leaderboard()
        best = leaderboard[0]
        if not best.feature_importance:
            seconds = 0.5 * (budget.deadline - time.monotonic())
            best.feature_importance = run.importance(best, run.members[best.key], seconds=seconds, required=True)
        summary = {
            "rows": int(len(df)), "rows_dropped_missing_target": data.rows_dropped_missing_target,
            **sp.summary(seed=self.seed), "column_kinds": data.kinds,
            "dropped_columns": data.dropped_columns, "n_models": len(leaderboard),
            "warnings": data.warnings + [f"Candidate failed: {e}" for e in search.errors],
            "elapsed_s": round(budget.elapsed(), 2), "stopped_early": bool(self.should_stop()),
            "stacking": run.stacking,
        }
        self._progress("finalizing", 1.0, f"Done: best model {best.key}")
        return FitResult(
            problem_type=data.problem_type, metric=data.metric.name, metric_direction=data.metric.direction,
            leaderboard=leaderboard, best=best, summary=summary,
            classes=None if data.classes is None else np.asarray(data.classes).tolist(),
        )

    def _search(self, search: Search, executor: Executor) -> list[Finished]:
        # BLAS/OpenMP pools inside each fold would oversubscribe the cores the fold threads already use
        try:
            with threadpool_limits(limits=1):
                return search.run()
        finally:
            if executor is not self.executor:
                executor.close()

def _task_context(data: PreparedData, X: pd.DataFrame, y: np.ndarray, *, n_folds: int, seed: int,
                  n_jobs: int) -> TaskContext:
    """What the candidates size themselves by; class weights only for a rare class under a label metric."""
    classification = data.classes is not None
    return TaskContext(
        problem_type=data.problem_type, n_classes=len(data.classes) if classification else 0,
        n_rows=len(y) * (n_folds - 1) // n_folds, n_features=X.shape[1], seed=seed, n_jobs=n_jobs,
        balanced=classification and data.metric.name != "log_loss"
        and np.bincount(y).min() / len(y) < IMBALANCE_SHARE,
    )


@dataclass(frozen=True)
class _RefitInputs:
    ctx: TaskContext
    plan: ColumnPlan
    X: pd.DataFrame
    y: np.ndarray
    n_folds: int
    executor: Executor  # a cluster refits there too; local refits use their own threads


class _Run:
    """Collects ModelResults as candidates finish, so `on_model` fires as soon as each exists."""

    def __init__(
        self, automl: AutoML, data: PreparedData, split: Split, budget: Budget, *, refit: _RefitInputs
    ) -> None:
        self.automl, self.data, self.split, self.budget, self.refit = automl, data, split, budget, refit
        self.results: list[ModelResult] = []
        self.members: dict[str, list[tuple[Finished, float]]] = {}  # each result's candidates and weights
        self.eval_pred: dict[str, np.ndarray] = {}  # each candidate's (bagged) prediction of the evaluation rows
        self.best_cv: float | None = None
        self.stacks: dict[str, Stack] = {}
        self.stacking: dict[str, Any] = {"adopted": False, "skipped": "no ensemble"}
        self.stack_seconds = 0.0

    def _model(self, algorithm: str, members: list[tuple[Any, float]]) -> FittedModel:
        return FittedModel(
            algorithm=algorithm, problem_type=self.data.problem_type, classes=self.data.classes,
            kinds=self.data.kinds, input_schema=self.data.input_schema, members=members,
        )

    def _publish(self, result: ModelResult, *, stage: str = "searching") -> None:
        self.results.append(result)
        loss = self.data.metric.loss
        top = [r for r in sorted(self.results, key=lambda r: loss(r.cv_score)) if not r.is_ensemble][:3]
        # seconds the likely ensemble members take to predict the timing batch
        self.budget.ensemble_predict_s = sum(r.predict_ms_per_row for r in top) * TIMING_ROWS / 1000
        self.budget.refit_s = self.split.refit_scale * refit_seconds(
            [r.fit_seconds for r in top], self.refit.n_folds, self.refit.ctx.n_jobs
        )
        # the layer is a small LightGBM: as long as the quickest one searched, with room for more rounds
        boosters = [r.fit_seconds for r in self.results if r.algorithm == "lightgbm"]
        self.budget.stack_s = 1.5 * min(boosters or [r.fit_seconds for r in top])
        self.budget.importance_s = min(0.05 * self.budget.total, self._importance_seconds(top))
        if self.automl.on_model is not None:
            self.automl.on_model(result)
        self.automl._progress(
            stage, self.budget.elapsed() / self.budget.total, f"{result.key}: CV {result.cv_score:.4f}"
        )

    def _importance_seconds(self, top: list[ModelResult]) -> float:
        """Permutation importance of the ensemble of `top` on a full sample: each member's fold model on up to
        IMPORTANCE_ROWS rows (per fold, out of fold), every shuffle."""
        n_folds, rows = self.refit.n_folds, self.split.rows
        n_rows = min(len(rows.y), IMPORTANCE_ROWS * (n_folds if self.split.out_of_fold else 1))
        ms_fold = sum(r.predict_ms_per_row for r in top) / n_folds
        return importance_seconds(ms_fold, rows.X.shape[1], rows=n_rows, n_repeats=IMPORTANCE_REPEATS)

    def add(self, f: Finished) -> None:
        algorithm = f.candidate.algorithm_for(self.refit.ctx)
        model = self._model(algorithm, [(p, 1.0) for p in f.pipelines])
        raw = self.split.predict(model, f.oof)  # before calibrating it: the ensemble combines raw predictions
        self.members[f.key], self.eval_pred[f.key] = [(f, 1.0)], raw
        figures = self._calibrate(model, f.oof, raw, f.cv_score, f.fold_scores)
        metric = self.data.metric
        is_best = self.best_cv is None or metric.better(figures["cv_score"], self.best_cv)
        self.best_cv = figures["cv_score"] if is_best else self.best_cv
        result = model_result(key=f.key, algorithm=algorithm, params={**f.params, **figures.pop("params")},
                              fit_seconds=f.fit_seconds, model=model, holdout=self.split.rows, is_ensemble=False,
                              **figures)
        if is_best:  # importance for each new leader, so rank 1 always has it without a late pass
            seconds = min(0.05 * self.budget.total, 0.2 * (self.budget.search_deadline - time.monotonic()))
            result.feature_importance = self.importance(result, [(f, 1.0)], seconds=seconds, required=False)
        self._publish(result)

    def _calibrate(self, model: FittedModel, oof: np.ndarray, raw: np.ndarray, cv_score: float,
                   scores: list[float]) -> dict[str, Any]:
        """Choose and set `model`'s calibration and threshold from its raw OOF predictions (calibrate.choose);
        the model_result arguments they decide: the cross-fitted CV figures where adopted, the evaluation rows'
        predictions as served (`raw`: the uncalibrated ones), and what params records."""
        metric, y, folds = self.data.metric, self.split.y, self.split.folds
        choice = choose(oof, y, folds, metric, self.data.problem_type) if self.automl.calibrate else Choice.none(oof)
        model.calibration, model.threshold = choice.calibration, choice.threshold
        if choice.adopted:
            cv_score, scores = metric(y, choice.scored(metric)), fold_scores(metric, y, choice.scored(metric), folds)
        pred = choice.oof if self.split.out_of_fold else choice.proba(raw)
        pred_labels = choice.oof_labels if self.split.out_of_fold else labels(pred, choice.threshold)
        return {"cv_score": cv_score, "fold_scores": scores, "pred": pred, "params": choice.params,
                "pred_labels": None if choice.threshold is None else pred_labels}

    def importance(self, result: ModelResult, members: list[tuple[Finished, float]], *, seconds: float,
                   required: bool) -> list[dict[str, Any]]:
        """Permutation importance on rows the explained models never trained on (holdout.Split.importance).

        Out of fold: fold i's models of the members, same weights, on fold i's validation rows. With a
        holdout: a single model's bag; for the ensemble each member's first fold model, same weights (the
        whole bags cost k times more, too much for wide tables on short budgets)."""
        def fold_model(i: int) -> FittedModel:  # serving as the explained model does
            model = self._model(result.algorithm, [(f.pipelines[i], w) for f, w in members])
            model.calibration, model.threshold = result.model.calibration, result.model.threshold
            if result.key in self.stacks:
                model.stack = Stack([self.stacks[result.key].pipelines[i]], self.n_classes)
            return model

        cost = {r.key: r.predict_ms_per_row for r in self.results} | {result.key: result.predict_ms_per_row}
        ms_fold = sum(cost[f.key] / len(f.pipelines) for f, _ in members)
        whole, ms_whole = (fold_model(0), ms_fold) if result.is_ensemble else (result.model, result.predict_ms_per_row)
        return self.split.importance(whole, fold_model, ms_whole=ms_whole, ms_fold=ms_fold, seconds=seconds,
                                     required=required)

    def add_ensemble(self, finished: list[Finished]) -> None:
        metric, r = self.data.metric, self.refit
        top = ensemble_pool(finished, metric)
        # one model alone is still refitted on every row when there is time (its bag of fold models is what
        # serves otherwise: on 13.7k rows, 5 classes, log loss 0.634 for the bag against 0.611 refitted)
        if not top or len(top) == 1 and not self._refittable([(top[0], 1.0)]):
            return
        start = time.monotonic()
        weights, score = ensemble_selection([f.oof for f in top], r.y, metric)
        cost = {res.key: res.predict_ms_per_row for res in self.results}
        weights, score = prune_for_speed([f.oof for f in top], r.y, metric, weights, [cost[f.key] for f in top])
        chosen = [(f, w) for f, w in zip(top, weights, strict=True) if w > 0]
        oof = np.asarray(sum(w * f.oof for f, w in chosen))
        stacked = self._fit_stack(oof)  # before the refit: it takes from the refit's time, not the tail's
        params: dict[str, Any] = {"weights": {f.key: round(float(w), 4) for f, w in chosen}}
        served = self._serve(chosen, cost)
        params["served"] = {f.key: m.card for (f, _), m in zip(chosen, served, strict=True)}
        params["refit"] = refit_summary(served)
        members = [(p, w / len(m.pipelines)) for m, (_, w) in zip(served, chosen, strict=True) for p in m.pipelines]
        eval_raw = self._ensemble_pred(chosen, served, oof)
        fit_seconds = time.monotonic() - start + sum(f.fit_seconds for f, _ in chosen)
        self.members["ensemble"] = chosen
        result = self._combined("ensemble", "weighted_ensemble", members, params, oof, eval_raw, fit_seconds)
        if stacked is not None:
            self.members["stack"], self.stacks["stack"] = chosen, stacked.stack
            eval_stacked = stacked.oof if self.split.out_of_fold else stacked.stack.apply(eval_raw, self.split.rows.X)
            self._combined("stack", "stacked_ensemble", members, {**params, "stacking": self.stacking},
                           stacked.oof, eval_stacked, fit_seconds + self.stack_seconds, stack=stacked.stack,
                           importance=True)
        else:
            result.feature_importance = self.importance(
                result, chosen, seconds=0.6 * (self.budget.deadline - time.monotonic()), required=True)

    def _combined(self, key: str, algorithm: str, members: list[tuple[Any, float]], params: dict[str, Any],
                  oof: np.ndarray, eval_raw: np.ndarray, fit_seconds: float, *, stack: Stack | None = None,
                  importance: bool = False) -> ModelResult:
        """Publish the ensemble, or the stacked ensemble (the same served members with the layer on top)."""
        model = self._model(algorithm, members)
        model.stack = stack
        metric, y, folds = self.data.metric, self.split.y, self.split.folds
        figures = self._calibrate(model, oof, eval_raw, metric(y, oof), fold_scores(metric, y, oof, folds))
        result = model_result(key=key, algorithm=algorithm, params={**params, **figures.pop("params")},
                              fit_seconds=fit_seconds, model=model, holdout=self.split.rows, is_ensemble=True,
                              **figures)
        if importance:
            result.feature_importance = self.importance(
                result, self.members[key], seconds=0.6 * (self.budget.deadline - time.monotonic()), required=True)
        self._publish(result, stage="ensembling")
        return result

    def _fit_stack(self, oof: np.ndarray) -> StackFit | None:
        """The second layer on the ensemble's OOF predictions, when its expected time fits and the held-out-fold
        check keeps it (engine/stacking.py); `stacking` records what happened."""
        r, metric = self.refit, self.data.metric
        # before the tail; past its own expected time the layer leaves the refit its expected share
        left = self.budget.refit_deadline - time.monotonic()
        if not self.automl.stacking or self.budget.stack_s > left or self.automl.should_stop():
            self.stacking = {"adopted": False, "skipped": "off" if not self.automl.stacking else "no time"}
            return None
        start, b = time.monotonic(), self.budget
        fitted = fit_stack(r.executor, r.X, r.y, oof, r.ctx, r.plan, self.split.folds,
                           deadline_at=time.time() + min(3 * b.stack_s, max(b.stack_s, left - b.refit_s)))
        self.stack_seconds = time.monotonic() - start
        if fitted is None:
            self.stacking = {"adopted": False, "skipped": "did not finish"}
            return None
        verdict = check(metric, r.y, oof, fitted.oof, self.split.folds)
        self.stacking = verdict.card(fitted.rounds)
        return fitted if verdict.adopted else None

    def _ensemble_pred(self, chosen: list[tuple[Finished, float]], served: list[Served], oof: np.ndarray,
                       ) -> np.ndarray:
        """The ensemble's prediction of the evaluation rows. Out of fold: the weighted OOF predictions of the
        bags. With a holdout, refitted members saw it: their share comes from their bags, which they were
        checked to agree with; bags serve as measured; first fold models are measured themselves."""
        if self.split.out_of_fold:
            return oof
        return np.asarray(sum(
            w * (predict_internal(m.pipelines[0], self.split.rows.X, self.n_classes) if m.kind == "first fold"
                 else self.eval_pred[f.key])
            for m, (f, w) in zip(served, chosen, strict=True)
        ))

    @property
    def n_classes(self) -> int:
        return 0 if self.data.classes is None else len(self.data.classes)

    def _serve(self, chosen: list[tuple[Finished, float]], cost: dict[str, float]) -> list[Served]:
        """What each member serves: its checked refit, else its bag or first fold model (refit.choose_served).

        The members are refitted on every row, the holdout's included: it stays out of every choice, and the
        holdout figures are those of the same weights on the bagged fold models, which never saw it. The rows
        the holdout adds are worth most where rows are few or nearly repeat (panel data, memorising forests).
        """
        r = self.refit
        X_all, y_all = self.split.refit_rows()
        scale = self.split.refit_scale
        deadline = self.budget.refit_deadline
        refit = self._refittable(chosen)
        todo = [f for f, _ in sorted(chosen, key=lambda fw: -fw[1]) if f.key in refit]  # heaviest start first
        outcomes = dict(zip([f.key for f in todo], refit_members(
            [(f.candidate, f.params, f.pipelines) for f in todo], r.ctx, r.plan, X_all, y_all, deadline=deadline,
            expected_s=[member_seconds(f.fit_seconds, r.n_folds, r.ctx.n_jobs) * scale for f in todo],
            check_rows=np.arange(len(r.y)), executor=r.executor,  # check on the rows the bags were trained on
        ) if todo else [], strict=True))
        return choose_served([(f.pipelines, w, cost[f.key], outcomes.get(f.key)) for f, w in chosen])

    def _refittable(self, chosen: list[tuple[Finished, float]]) -> set[str]:
        """The members whose refit is expected to end before the refit deadline, heaviest first."""
        r, left, scale = self.refit, self.budget.refit_deadline - time.monotonic(), self.split.refit_scale
        keep: list[Finished] = []
        for f, _ in sorted(chosen, key=lambda fw: -fw[1]):
            if refit_seconds([g.fit_seconds for g in [*keep, f]], r.n_folds, r.ctx.n_jobs) * scale < left:
                keep.append(f)
        return {f.key for f in keep}

    def leaderboard(self) -> list[ModelResult]:
        name = self.data.metric.name
        return sorted(self.results, key=lambda r: leaderboard_key(name, r.cv_score, r.predict_ms_per_row))
