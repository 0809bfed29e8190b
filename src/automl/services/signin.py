"""Signing in and out: the rate limit, the password check, the session and their audit entries together."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from automl.db import Database
from automl.errors import RateLimited, Unauthorized
from automl.services import audit, sessions, users
from automl.services.permissions import Principal

MAX_FAILURES = 10
WINDOW = timedelta(minutes=10)


def sign_in(db: Database, principal: Principal, username: str, password: str, *,
            max_age: timedelta) -> tuple[sessions.Opened, str, str]:
    """(session, username, role); 429 after MAX_FAILURES failures in WINDOW for the name or the address."""
    name = (username or "").strip().lower()[:64] or "-"
    with db.session() as s:
        if audit.recent_failures(s, username=name, client=principal.client, window=WINDOW) >= MAX_FAILURES:
            raise RateLimited(f"too many failed sign-ins; try again in {int(WINDOW.total_seconds() // 60)} minutes")
    try:
        with db.session() as s:
            user = users.authenticate(s, name, password)
            opened = sessions.open_session(s, user, client=principal.client, max_age=max_age)
            audit.record(s, principal, "auth.login", f"user {user.username}", actor=user.username)
            return opened, user.username, user.role
    except Unauthorized:
        with db.session() as s:  # its own transaction: the failure is recorded whatever happened above
            audit.record(s, principal, audit.LOGIN_FAILED, f"user {name}", actor=name)
        raise


def set_up_first_admin(db: Database, principal: Principal, secret: str, username: str, password: str, *,
                       max_age: timedelta) -> tuple[sessions.Opened, str, str]:
    with db.session() as s:
        user = users.create_first_admin(s, secret, username, password)
        opened = sessions.open_session(s, user, client=principal.client, max_age=max_age)
        audit.record(s, principal, "user.create", f"user {user.username} (admin, setup link)", actor=user.username)
        audit.record(s, principal, "auth.login", f"user {user.username}", actor=user.username)
        return opened, user.username, user.role


def sign_out(session: Session, store: sessions.SessionStore, principal: Principal) -> None:
    if principal.session_id is not None:
        store.end(session, principal.session_id)
    audit.record(session, principal, "auth.logout", f"user {principal.username}")
