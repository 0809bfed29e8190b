"""What the pages read, in one place: mostly the services' own queries. Pages only read; the JSON API writes."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from automl.config import Settings
from automl.db.models import ApiKey, BatchPrediction, Dataset, Experiment, TrainedModel
from automl.engine import METRICS
from automl.services import apikeys, datasets, experiments, exposure, models, predictions
from automl.services import leaderboard as board
from automl.services.permissions import Principal

PAGE_LIMIT = 50


def recent_datasets(session: Session, limit: int = PAGE_LIMIT) -> Sequence[Dataset]:
    return datasets.list_datasets(session, limit=limit)[0]


def recent_experiments(
    session: Session, *, dataset_id: int | None = None, limit: int = PAGE_LIMIT
) -> Sequence[Experiment]:
    return experiments.list_experiments(session, dataset_id=dataset_id, limit=limit)[0]


def deployed_models(session: Session, limit: int = PAGE_LIMIT) -> Sequence[TrainedModel]:
    return models.list_models(session, deployed=True, limit=limit)[0]


def leaderboard(session: Session, experiment: Experiment) -> list[TrainedModel]:
    """The experiment's models best first, exactly as GET /api/experiments/{id}/leaderboard ranks them."""
    return experiments.ranked_models(session, experiment)


def leaderboard_rows(experiment: Experiment, ranked: Sequence[TrainedModel]) -> dict[int, dict[str, Any]]:
    """Each model's row of GET /api/experiments/{id}/leaderboard (cv_std, cv_folds, evaluation, simplest), by id."""
    return {row["model_id"]: row for row in board.rows(experiment, list(ranked))}


def metric_direction(metric: str) -> str:
    """"maximize" or "minimize": which way the experiment's CV scores improve."""
    return METRICS[metric].direction


def batch_jobs(session: Session, model_id: int, limit: int = 20) -> Sequence[BatchPrediction]:
    return predictions.list_batches(session, model_id)[:limit]


def api_keys(session: Session, principal: Principal) -> Sequence[ApiKey]:
    """The keys this visitor may see: their own (an admin, or the local operator, sees every key)."""
    return apikeys.list_keys(session, principal)[0]


def keys_required(settings: Settings) -> bool:
    """The same rule the predict endpoints apply."""
    return exposure.decide(settings).keys_required
