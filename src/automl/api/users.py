"""Users (admins only): list, create, change role or password, disable. Disabling ends the user's sessions."""
from __future__ import annotations

from fastapi import APIRouter, Request

from automl.api.deps import IdPath, PrincipalDep, SessionDep, allow
from automl.db.models import User
from automl.schemas.accounts import UserCreate, UserList, UserPublic, UserUpdate
from automl.services import audit, sessions, users
from automl.services.permissions import Permission, Role

router = APIRouter(prefix="/api/users", tags=["accounts"], dependencies=[allow(Permission.ADMIN)])


def public(row: User) -> UserPublic:
    return UserPublic(id=row.id, username=row.username, role=Role(row.role), disabled=row.disabled_at is not None,
                      created_at=row.created_at, last_login_at=row.last_login_at)


@router.get("", response_model=UserList)
def list_users(session: SessionDep) -> UserList:
    rows = users.list_users(session)
    return UserList(items=[public(r) for r in rows], total=len(rows))


@router.post("", status_code=201, response_model=UserPublic)
def create_user(body: UserCreate, session: SessionDep, principal: PrincipalDep) -> UserPublic:
    row = users.create_user(session, body.username, body.password, body.role.value)
    audit.record(session, principal, "user.create", f"user {row.username} ({row.role})")
    return public(row)


@router.patch("/{user_id}", response_model=UserPublic)
def update_user(user_id: IdPath, body: UserUpdate, request: Request, session: SessionDep,
                principal: PrincipalDep) -> UserPublic:
    row = users.get_user(session, user_id)
    changes = body.model_dump(exclude_unset=True)
    users.update_user(session, row, role=body.role.value if body.role else None, password=body.password,
                      disabled=body.disabled)
    if body.disabled or body.password is not None:
        sessions.end_user_sessions(session, row.id)
    said = ", ".join(f"{k}={v}" for k, v in changes.items() if k != "password") + \
        (", password" if "password" in changes else "")
    audit.record(session, principal, "user.update", f"user {row.username}: {said}")
    session.commit()
    request.app.state.sessions.forget_user(row.id)
    request.app.state.serving.keys.forget_user(row.id)
    return public(row)
