"""Annotated dependencies shared by the routers."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from automl.config import Settings
from automl.db import Database
from automl.errors import Unauthorized
from automl.services.permissions import Kind, Permission, Principal
from automl.storage import Storage


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.db.session() as session:
        yield session


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_storage(request: Request) -> Storage:
    return request.app.state.storage


DbDep = Annotated[Database, Depends(get_db)]
# scope="function": the session commits when the route returns, before the response reports the write
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
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
