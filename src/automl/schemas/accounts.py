"""Requests and responses of sign-in, users, tokens and the audit log."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field, StrictBool

from automl.schemas.base import Id, RequestBody


class Permission(StrEnum):
    READ = "read"  # see datasets, experiments, models, plots
    PREDICT = "predict"  # the predict endpoints and the prediction form
    WRITE = "write"  # upload, train, deploy, score, cancel, delete, download artifacts and batch results
    METRICS = "metrics"  # /metrics for a Prometheus scraper
    ADMIN = "admin"  # users, everyone's tokens, the audit log, anyone's objects


class Role(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"


class Credentials(RequestBody):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class Me(BaseModel):
    username: str | None
    role: Role | None
    permissions: list[Permission] = []


class UserCreate(RequestBody):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=8, max_length=1024)
    role: Role


class UserUpdate(RequestBody):
    role: Role | None = None
    password: str | None = Field(None, min_length=8, max_length=1024)
    disabled: StrictBool | None = None


class UserPublic(BaseModel):
    id: int
    username: str
    role: Role
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


class UserList(BaseModel):
    items: list[UserPublic]
    total: int


class TokenCreate(RequestBody):
    name: str = Field(min_length=1, max_length=255)
    scopes: list[Permission] = Field(min_length=1)
    model_ids: list[Id] | None = Field(None, description="Only these models (for predict); default any.")
    expires_in_days: int | None = Field(None, ge=1, le=3650)


class TokenCreated(BaseModel):
    id: int
    name: str
    scopes: list[Permission]
    model_ids: list[int] | None
    expires_at: datetime | None
    token: str = Field(description="The secret: shown once, stored only as a hash.")


class TokenPublic(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[Permission]
    model_ids: list[int] | None
    owner: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenList(BaseModel):
    items: list[TokenPublic]
    total: int


class AuditEntry(BaseModel):
    time: datetime
    actor: str
    action: str
    object: str | None
    client: str | None
