"""Read-only queries behind the pages. Every change goes through the JSON API; pages only read."""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from automl.db.models import ApiKey, BatchPrediction, Dataset, Experiment, TrainedModel
from automl.engine.task import METRICS

PAGE_LIMIT = 50


def recent_datasets(session: Session, limit: int = PAGE_LIMIT) -> Sequence[Dataset]:
    return session.scalars(select(Dataset).order_by(Dataset.created_at.desc(), Dataset.id.desc()).limit(limit)).all()


def recent_experiments(
    session: Session, *, dataset_id: int | None = None, limit: int = PAGE_LIMIT
) -> Sequence[Experiment]:
    stmt = select(Experiment).options(selectinload(Experiment.dataset))
    if dataset_id is not None:
        stmt = stmt.where(Experiment.dataset_id == dataset_id)
    return session.scalars(stmt.order_by(Experiment.created_at.desc(), Experiment.id.desc()).limit(limit)).all()


def deployed_models(session: Session, limit: int = PAGE_LIMIT) -> Sequence[TrainedModel]:
    stmt = (
        select(TrainedModel)
        .options(selectinload(TrainedModel.experiment))
        .where(or_(TrainedModel.deployed_api, TrainedModel.deployed_batch))
        .order_by(TrainedModel.deployed_at.desc(), TrainedModel.id.desc())
        .limit(limit)
    )
    return session.scalars(stmt).all()


def metric_direction(metric: str) -> str:
    found = METRICS.get(metric)
    return found.direction if found else "maximize"


def leaderboard(session: Session, experiment: Experiment) -> list[TrainedModel]:
    """The experiment's models best first: by CV score in the metric's direction, unscored ones last."""
    models = session.scalars(select(TrainedModel).where(TrainedModel.experiment_id == experiment.id)).all()
    sign = -1.0 if metric_direction(experiment.metric) == "maximize" else 1.0

    def key(m: TrainedModel) -> tuple[bool, float, int]:
        return (m.cv_score is None, sign * (m.cv_score or 0.0), m.id)

    return sorted(models, key=key)


def model_rank(session: Session, model: TrainedModel) -> int:
    ranked = leaderboard(session, model.experiment)
    return next((i for i, m in enumerate(ranked, start=1) if m.id == model.id), 0)


def batch_jobs(session: Session, model_id: int, limit: int = 20) -> Sequence[BatchPrediction]:
    stmt = (
        select(BatchPrediction)
        .where(BatchPrediction.model_id == model_id)
        .order_by(BatchPrediction.created_at.desc(), BatchPrediction.id.desc())
        .limit(limit)
    )
    return session.scalars(stmt).all()


def api_keys(session: Session) -> Sequence[ApiKey]:
    return session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())).all()
