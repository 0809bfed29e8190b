"""Refit the ensemble's members once on every row, sharing one preprocessor per style; check each refit.

The bagged fold models rank candidates and weight the ensemble, but serving k pipelines per member
makes every prediction k times slower. The deployable ensemble is refitted (AutoGluon's refit_full):
one model per member, trained on all the rows; members that stop early (boosting) fit as many rounds
as their fold models stopped at, a little more for the extra rows. Members of the same preprocessing
style share one fitted preprocessor (fitted on the same rows, it would come out identical), so a
prediction transforms the input once per style.

A refit replaces its bag only when it is checked to be the model that was measured: it grew every round
(tree) it was given, and it predicts the training rows as the bag does. A member whose refit was not
started, was cut or disagrees serves its bag, or its first fold model where the bag would make the
ensemble too slow (`choose_served`); what each member serves, and why, goes on the model card.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from automl.engine.candidates import Candidate, Params, TaskContext
from automl.engine.executor import Executor
from automl.engine.preprocess import ColumnPlan, build_preprocessor
from automl.engine.validation import predict_internal

log = logging.getLogger(__name__)

# How far a refit's predictions on the training rows may stray from its bag's: the R² of the refit's
# predictions as predictions of the bag's (every class's probability, or the regression value). Healthy
# refits of all nine families scored 0.949-1.0 on breast cancer, diabetes and wine (5 folds, portfolio
# defaults); boosters cut after their first round, which predict little more than the prior, 0.07-0.22.
MIN_AGREEMENT = 0.8
LATE_GRACE_S = 1.0  # past the refit deadline, for a fit stopped at it to come back
CHECK_ROWS = 2000  # training rows the agreement is measured on (a sample: bags predict k times)
# Serving a bag costs k model predictions for its member; a member that is not refitted serves its bag
# while the ensemble stays within this factor of the refitted ensemble's predict time, else its first
# fold model (one pipeline per member was the point of the refit: ~130 ms single-row calls for a
# 15-pipeline ensemble against ~12 ms refitted, docs/engine.md).
MAX_BAG_SLOWDOWN = 3.0


@dataclass(frozen=True)
class Refitted:
    """One member's refit: its pipeline when it grew every round it was given and agrees with its bag,
    else None and `reason`. `rounds` asked and `fitted_rounds` grown are None for families without rounds."""

    pipeline: Pipeline | None
    reason: str = ""
    rounds: int | None = None
    fitted_rounds: int | None = None
    agreement: float | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.pipeline is not None


def refit_members(
    members: list[tuple[Candidate, Params, list[Pipeline]]], ctx: TaskContext, plan: ColumnPlan, X: pd.DataFrame,
    y: np.ndarray, *, deadline: float, expected_s: list[float] | None = None, check_rows: np.ndarray | None = None,
    executor: Executor | None = None,
) -> list[Refitted]:
    """One checked refit per (candidate, params, its fold pipelines), in order; fitted `ctx.n_jobs` at a time.

    Every member trains on all rows, without a stopping set: members that stop early fit as many rounds
    as their fold models stopped at (`Candidate.fixed_rounds`). Members of one style share a preprocessor.
    `expected_s` are the members' expected refit seconds (without them every member starts); `check_rows`
    the positions of the rows the bags were trained on (default: all), where a refit's predictions are
    compared with its bag's.

    Why a hard deadline and a check rather than a refit without a deadline: the refit's time is an estimate
    (CV times scaled to more rows, two fits at a time on shared cores), and a refit that overran it would
    overrun the budget, which must hold within 10 %. So a member starts only when its expected time fits
    before `deadline`, runs with its family's deadline as a hard stop, and one that is cut is discarded
    (its fold models serve) instead of being served with fewer rounds than its bag was measured with.
    """
    ctx = replace(ctx, n_rows=len(y))
    expected = expected_s if expected_s is not None else [float("-inf")] * len(members)  # none: start every one
    X_check = _check_frame(X, len(y), check_rows, seed=ctx.seed)
    with threadpool_limits(limits=1):
        preps = {}
        for style in dict.fromkeys(c.style for c, _, _ in members):
            prep = build_preprocessor(plan, style, target_type=ctx.target_type, n_rows=len(y), seed=ctx.seed)
            preps[style] = (prep, prep.fit_transform(X, y))

        def fit_one(member: tuple[Candidate, Params, list[Pipeline]], seconds: float) -> Refitted:
            candidate, params, folds = member
            left = deadline - time.monotonic()
            if seconds > left:
                return Refitted(None, f"not started: expected {seconds:.1f} s, {max(left, 0.0):.1f} s left")
            start = time.monotonic()
            prep, Xt = preps[candidate.style]
            try:
                est = candidate.estimator(params, ctx).set_params(**candidate.fixed_rounds([p[-1] for p in folds]))
                rounds = est.get_params()[candidate.rounds_param] if candidate.rounds_param else None
                if remote is None:
                    model = candidate.fit(est, Xt, y, X_val=None, y_val=None, deadline=deadline)
                else:  # on a cluster worker; the check below runs here, beside the bags
                    model = remote.submit(fit_model, candidate, est, shared[candidate.style], remote_y,
                                          deadline_at=time.time() + (deadline - time.monotonic())).result()
                pipe = Pipeline([("prep", prep), ("model", model)])
                return check_refit(pipe, folds, X_check, rounds=rounds, fitted_rounds=candidate.fitted_rounds(model),
                                   n_classes=ctx.n_classes, seconds=time.monotonic() - start,
                                   late=time.monotonic() >= deadline)
            except Exception as e:  # the member's fold models fitted: they serve instead
                log.warning("refit of %s failed: %s", candidate.name, e)
                return Refitted(None, f"refit failed: {type(e).__name__}: {e}"[:300])

        remote = executor if executor is not None and executor.remote else None
        shared: dict[str, Any] = {}
        remote_y: Any = None
        if remote is not None:  # each style's matrix and the target go to the cluster once
            shared = {style: remote.share(Xt) for style, (_, Xt) in preps.items()}
            remote_y = remote.share(y)
        return _until(deadline, fit_one, list(zip(members, expected, strict=True)), n_jobs=ctx.n_jobs)


def _until(deadline: float, fit_one: Callable[..., Refitted], calls: list[tuple[Any, ...]], *,
           n_jobs: int) -> list[Refitted]:
    """`fit_one(*args)` for each of `calls`, `n_jobs` at a time (on a cluster these threads only wait); a refit
    still running at the deadline (one that cannot be interrupted) is left behind, not waited for."""
    pool = ThreadPoolExecutor(max_workers=n_jobs)
    futures = [pool.submit(fit_one, *args) for args in calls]
    wait(futures, timeout=max(0.0, deadline - time.monotonic()) + LATE_GRACE_S)
    pool.shutdown(wait=False, cancel_futures=True)
    return [f.result() if f.done() and not f.cancelled()
            else Refitted(None, "not finished by the refit deadline") for f in futures]


def _check_frame(X: pd.DataFrame, n: int, check_rows: np.ndarray | None, *, seed: int) -> pd.DataFrame:
    """At most CHECK_ROWS of the rows the bags were trained on (default: all), where refit and bag are compared."""
    rows = np.arange(n) if check_rows is None else np.asarray(check_rows)
    rng = np.random.default_rng(seed)
    return X.iloc[np.sort(rng.choice(rows, CHECK_ROWS, replace=False)) if len(rows) > CHECK_ROWS else rows]


def fit_model(candidate: Candidate, est: Any, X: Any, y: np.ndarray, *, deadline_at: float) -> Any:
    """A refit's model on all rows, as a task on a cluster worker (`deadline_at` is wall-clock time)."""
    with threadpool_limits(limits=1):
        return candidate.fit(est, X, y, X_val=None, y_val=None, deadline=time.monotonic() + deadline_at - time.time())


def check_refit(
    pipe: Pipeline, folds: list[Pipeline], X_check: pd.DataFrame, *, rounds: int | None, fitted_rounds: int | None,
    n_classes: int, seconds: float = 0.0, late: bool = False,
) -> Refitted:
    """`pipe` as a checked Refitted: every round it was asked grown, and its predictions on `X_check` (training
    rows) in agreement with the bag of `folds`; otherwise no pipeline, and why (`late`: the fit ended past
    its deadline, which is then what stopped it)."""
    found = Refitted(None, rounds=rounds, fitted_rounds=fitted_rounds, seconds=round(seconds, 3))
    if rounds is not None and fitted_rounds != rounds:
        stopped = "cut by the deadline" if late else "stopped"
        return replace(found, reason=f"{stopped} at {fitted_rounds} of {rounds} rounds")
    bag = np.mean([predict_internal(p, X_check, n_classes) for p in folds], axis=0)
    score = round(agreement(predict_internal(pipe, X_check, n_classes), bag), 4)
    if not score >= MIN_AGREEMENT:  # NaN fails too
        return replace(found, agreement=score,
                       reason=f"disagrees with its bag on the training rows (agreement {score} < {MIN_AGREEMENT})")
    return replace(found, pipeline=pipe, agreement=score)


def agreement(pred: np.ndarray, bag: np.ndarray) -> float:
    """R² of `pred` as a prediction of `bag` over every cell (class probabilities or values): 1 when equal,
    0 for a constant at the bag's mean. Where the bag barely varies (a target it cannot predict), differences
    are measured against a floor of 0.01 probability (1 % of the bag's scale for regression) instead."""
    pred, bag = np.asarray(pred, dtype=float), np.asarray(bag, dtype=float)
    spread = float(np.mean((bag - bag.mean(axis=0)) ** 2))
    floor = 1e-4 if bag.ndim == 2 else 1e-4 * float(np.mean(bag**2))
    return 1.0 - float(np.mean((pred - bag) ** 2)) / max(spread, floor, 1e-12)


def member_seconds(fold_seconds: float, n_folds: int, n_jobs: int) -> float:
    """Expected wall time of one member's refit: about one of its folds (`fold_seconds` is the k folds'
    wall time at `n_jobs` at once), a little more for the extra rows."""
    return fold_seconds * min(n_jobs, n_folds) / n_folds * 1.25


def refit_seconds(fold_seconds: list[float], n_folds: int, n_jobs: int) -> float:
    """Expected wall time of a refit: about one fold per member, members run n_jobs at a time, so never less
    than its longest member (refit_members starts a member only when that member's own time fits)."""
    each = [member_seconds(s, n_folds, n_jobs) for s in fold_seconds]
    return max(max(each, default=0.0), sum(each) / max(n_jobs, 1))


@dataclass(frozen=True)
class Served:
    """What one ensemble member serves: `pipelines` (one, or its k fold models for a bag) and its card entry."""

    pipelines: list[Pipeline]
    kind: str  # "refit", "bag" or "first fold"
    card: dict[str, Any] = field(default_factory=dict)


def choose_served(
    members: list[tuple[list[Pipeline], float, float, Refitted | None]],
) -> list[Served]:
    """Per member (its fold pipelines, weight, its bag's predict ms per row, its refit or None when none was
    tried): the checked refit; else the bag, heaviest members first while the ensemble stays within
    MAX_BAG_SLOWDOWN of its predict time with one model per member; else the first fold model."""
    one_model = [ms / len(folds) for folds, _, ms, _ in members]  # a single model's share of its bag's time
    allowance, total = MAX_BAG_SLOWDOWN * sum(one_model), sum(one_model)
    served: dict[int, Served] = {}
    for i in sorted(range(len(members)), key=lambda i: -members[i][1]):
        folds, _, ms, refit = members[i]
        if refit is not None and refit.ok:
            assert refit.pipeline is not None
            served[i] = Served([refit.pipeline], "refit", {
                "served": "refit", "rounds": refit.fitted_rounds, "agreement": refit.agreement,
            })
            continue
        why = refit.reason if refit is not None else "not refitted: its refit would not fit in the time left"
        if len(folds) > 1 and total + ms - one_model[i] <= allowance * (1 + 1e-9):
            total += ms - one_model[i]
            served[i] = Served(list(folds), "bag", {"served": "bag", "folds": len(folds), "why": why})
        else:
            why += f"; its bag of {len(folds)} would slow the ensemble beyond {MAX_BAG_SLOWDOWN:g}x"
            served[i] = Served([folds[0]], "first fold", {"served": "first fold", "why": why})
    return [served[i] for i in range(len(members))]


def refit_summary(served: list[Served]) -> str:
    """`params["refit"]`: "full" only when every member serves a checked refit, "partial", or "none"."""
    refitted = sum(s.kind == "refit" for s in served)
    return "full" if refitted == len(served) else ("partial" if refitted else "none")
