"""Annotated dependencies shared by the routers."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from sqlalchemy.orm import Session

from automl.config import Settings
from automl.db import Database
from automl.errors import Unauthorized
from automl.schemas.base import MAX_ID
from automl.services.permissions import Kind, Permission, Principal
from automl.storage import Storage


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_session(request: Request) -> Iterator[Session]:
    # GET and HEAD read: a deferred SQLite transaction that never waits for the writers (db/session.py)
    with request.app.state.db.session(readonly=request.method in ("GET", "HEAD")) as session:
        yield session


def get_write_session(request: Request) -> Iterator[Session]:
    # a GET that writes (a download's audit record): a reader's late write fails outright, without waiting,
    # whenever any other writer committed after its snapshot began
    with request.app.state.db.session() as session:
        yield session


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_storage(request: Request) -> Storage:
    return request.app.state.storage


DbDep = Annotated[Database, Depends(get_db)]
# scope="function": the session commits when the route returns, before the response reports the write
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
WriteSessionDep = Annotated[Session, Depends(get_write_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
StorageDep = Annotated[Storage, Depends(get_storage)]


def get_principal(request: Request) -> Principal:
    """Set on every request by the authentication middleware (api/authn.py)."""
    return request.state.principal  # type: ignore[no-any-return]


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def allow(permission: Permission) -> Any:
    """A route dependency refusing (403) a principal without `permission`; every route declares one."""

    def check(principal: PrincipalDep) -> None:
        principal.require(permission)

    check.permission = permission  # type: ignore[attr-defined]  # read by the test that every route declares one
    return Depends(check)


def _require_kind(kinds: frozenset[Kind], label: str, message: str) -> Any:
    def check(principal: PrincipalDep) -> None:
        if principal.kind not in kinds:
            raise Unauthorized(message)

    check.permission = label  # type: ignore[attr-defined]
    return Depends(check)


def signed_in() -> Any:
    """Any principal that is someone (a session, a token, the local operator)."""
    return _require_kind(frozenset({Kind.LOCAL, Kind.SESSION, Kind.TOKEN}), "signed in", "not signed in")


def manages_tokens() -> Any:
    """A person (a session or the local operator) or an `admin` token: a leaked narrower token must not be able
    to list its siblings or mint itself a replacement before it is revoked."""

    def check(principal: PrincipalDep) -> None:
        if principal.kind in (Kind.LOCAL, Kind.SESSION):
            return
        if principal.kind == Kind.TOKEN:
            principal.require(Permission.ADMIN)
            return
        raise Unauthorized("not signed in")

    check.permission = "manage tokens"  # type: ignore[attr-defined]
    return Depends(check)


def setup_link() -> Any:
    """Only the bearer of the one-time first-admin link (header X-Setup-Token)."""
    return _require_kind(frozenset({Kind.SETUP}), "setup link", "send the setup link's token in X-Setup-Token")


# -- ids: one range for every id a client sends (schemas/base.py says why); out of range in a path is a 404 ----
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="An id (1 to 2^31 - 1).")]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only those of this id (1 to 2^31 - 1).")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="Rows to skip (at most 2^31 - 1).")]
