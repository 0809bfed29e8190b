"""The whole domain: datasets, experiments, trained models, jobs, batch predictions; users, sessions, tokens, audit."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from automl.db.base import Base, utcnow


class JobStatus(StrEnum):
    """The life of a job, and of the experiment or batch prediction that mirrors it."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED


ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
FINISHED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)
# VARCHAR(16) as before (no database enum type to migrate); rows load as JobStatus members
StatusColumn = Enum(JobStatus, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))  # the client's filename, display only
    storage_key: Mapped[str] = mapped_column(String(64), unique=True)  # generated; names the Parquet file
    source_format: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))  # of the uploaded file, as the client sent it
    parquet_sha256: Mapped[str | None] = mapped_column(String(64))  # of the stored Parquet, checked on every read
    n_rows: Mapped[int]
    n_cols: Mapped[int]
    profile: Mapped[dict[str, Any]]  # {"columns": [...], "warnings": [...]}
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)

    experiments: Mapped[list[Experiment]] = relationship(back_populates="dataset")


class Experiment(Base):
    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="RESTRICT"), index=True)
    target_column: Mapped[str] = mapped_column(String(255))
    feature_columns: Mapped[list[Any]]
    problem_type: Mapped[str] = mapped_column(String(16))  # auto until the engine detects it
    metric: Mapped[str] = mapped_column(String(32))
    time_budget_s: Mapped[float]
    status: Mapped[JobStatus] = mapped_column(StatusColumn, default=JobStatus.QUEUED, index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)  # dropped rows, warnings, split sizes
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    dataset: Mapped[Dataset] = relationship(back_populates="experiments")
    job: Mapped[Job | None] = relationship(lazy="selectin")  # read with the experiment: its progress lives there
    models: Mapped[list[TrainedModel]] = relationship(back_populates="experiment", cascade="all, delete-orphan")

    @property
    def progress(self) -> dict[str, Any]:
        """Stored once, on the job; an experiment without one (never queued) is waiting."""
        default = {"stage": "queued", "fraction": 0.0, "message": ""}
        return {**default, **(self.job.progress if self.job is not None else {})}


class TrainedModel(Base):
    __tablename__ = "trained_models"
    __table_args__ = (UniqueConstraint("experiment_id", "candidate_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    candidate_key: Mapped[str] = mapped_column(String(128))  # unique per experiment: retries cannot duplicate
    algorithm: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_ensemble: Mapped[bool] = mapped_column(default=False)
    rank: Mapped[int | None]  # 1 = best, in the engine's leaderboard order (automl.engine.leaderboard_key)
    cv_score: Mapped[float | None]
    cv_std: Mapped[float | None]  # standard deviation of the CV metric over folds
    cv_fold_scores: Mapped[list[Any] | None]
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)  # holdout-test figures
    fit_seconds: Mapped[float] = mapped_column(default=0.0)
    predict_ms_per_row: Mapped[float | None]
    feature_importance: Mapped[list[Any]] = mapped_column(default=list)
    plots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    input_schema: Mapped[list[Any]] = mapped_column(default=list)
    classes: Mapped[list[Any] | None]
    artifact_key: Mapped[str] = mapped_column(String(64), unique=True)
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    artifact_hmac: Mapped[str | None] = mapped_column(String(64))  # under the server key; NULL = unsigned, refused
    artifact_size: Mapped[int] = mapped_column(default=0)
    deployed_api: Mapped[bool] = mapped_column(default=False)
    deployed_batch: Mapped[bool] = mapped_column(default=False)
    threshold: Mapped[float | None]  # binary decision threshold saved with the deployment; None = most probable
    insights: Mapped[dict[str, Any] | None]  # the model page's insights, computed once (services/insights)
    deployed_at: Mapped[datetime | None]
    deployed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    n_predictions: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))  # the experiment's

    experiment: Mapped[Experiment] = relationship(back_populates="models")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # a jobs.registry.JobKind
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[JobStatus] = mapped_column(StatusColumn, default=JobStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    worker_id: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(index=True)
    heartbeat_at: Mapped[datetime | None]
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class BatchPrediction(Base):
    __tablename__ = "batch_predictions"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("trained_models.id", ondelete="CASCADE"), index=True)
    input_name: Mapped[str] = mapped_column(String(255))  # the client's filename, display only
    input_key: Mapped[str] = mapped_column(String(64), unique=True)
    output_key: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[JobStatus] = mapped_column(StatusColumn, default=JobStatus.QUEUED)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    n_rows: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)  # stored lower-case
    password_hash: Mapped[str] = mapped_column(String(255))  # Argon2id (pwdlib)
    role: Mapped[str] = mapped_column(String(16))  # a services.permissions.Role
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]


class UserSession(Base):
    """A signed-in browser: the cookie holds a secret whose sha256 is stored here."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))  # not a credential alone: it only pairs with the cookie
    client: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]  # absolute; the idle limit is counted from last_seen_at
    ended_at: Mapped[datetime | None]


class SetupToken(Base):
    """The one-time link `serve` prints while no user exists; it creates the first admin."""

    __tablename__ = "setup_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_action_at", "action", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)  # a username, "token 3", "local" or "anonymous"
    action: Mapped[str] = mapped_column(String(32))  # e.g. auth.login, model.deploy
    object: Mapped[str | None] = mapped_column(String(255))  # e.g. "model 12"
    client: Mapped[str | None] = mapped_column(String(64))  # the client's address


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    prefix: Mapped[str] = mapped_column(String(16), index=True)  # shown in lists to tell keys apart
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the secret
    scopes: Mapped[list[Any]] = mapped_column(default=lambda: ["predict"])  # services.permissions.Permission
    model_ids: Mapped[list[Any] | None]  # limited to these models; None = any
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
