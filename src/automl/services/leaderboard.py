"""Leaderboard rows, as the API and the pages show them: the CV mean and its spread over folds, where the
other figures come from, and the simplest model within one standard error of the best (the one-SE rule)."""
from __future__ import annotations

import math
from typing import Any

from automl.db.models import Experiment, TrainedModel
from automl.engine import METRICS


def evaluation(exp: Experiment) -> str:
    """"holdout" or "out_of_fold": said at creation (the holdout choice resolved), then by the engine."""
    return "out_of_fold" if (exp.summary or {}).get("evaluation") == "out_of_fold" else "holdout"


def standard_error(model: TrainedModel) -> float:
    """cv_std / sqrt(folds): the standard error of the model's CV mean; 0 without two scored folds."""
    folds = [s for s in (model.cv_fold_scores or []) if s is not None]
    if model.cv_std is None or len(folds) < 2:
        return 0.0
    return model.cv_std / math.sqrt(len(folds))


def simplest_within_one_se(models: list[TrainedModel], metric: str) -> int | None:
    """The id of the model to prefer by the one-SE rule: among those whose CV score is within one standard
    error of the best model's (the best's SE), the one cheapest to serve (lowest predict ms per row; an
    ensemble counts as the most complex). `models` are in leaderboard order, best first."""
    scored = [m for m in models if m.cv_score is not None and math.isfinite(m.cv_score)]
    if not scored:
        return models[0].id if models else None
    loss = METRICS[metric].loss
    best = scored[0]
    limit = loss(best.cv_score) + standard_error(best)  # type: ignore[arg-type]
    near = [m for m in scored if loss(m.cv_score) <= limit + 1e-12]  # type: ignore[arg-type]
    cheapest = min(near, key=lambda m: (
        m.is_ensemble, m.predict_ms_per_row if m.predict_ms_per_row is not None else math.inf, models.index(m),
    ))
    return cheapest.id


def rows(exp: Experiment, models: list[TrainedModel]) -> list[dict[str, Any]]:
    """One dict per model, in the given (leaderboard) order."""
    simplest = simplest_within_one_se(models, exp.metric)
    where = evaluation(exp)
    return [
        {
            "model_id": m.id, "rank": m.rank, "algorithm": m.algorithm, "cv_score": m.cv_score, "cv_std": m.cv_std,
            "cv_folds": list(m.cv_fold_scores or []), "metrics": m.metrics, "evaluation": where,
            "fit_seconds": m.fit_seconds, "predict_ms_per_row": m.predict_ms_per_row, "is_ensemble": m.is_ensemble,
            "simplest": m.id == simplest, "deployed_api": m.deployed_api, "deployed_batch": m.deployed_batch,
        }
        for m in models
    ]
