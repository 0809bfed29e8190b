"""Users: created by an admin (API, page or CLI) or by the one-time setup link; Argon2id hashes at rest.

Passwords are never stored, logged or echoed: only `pwdlib`'s Argon2id hash is kept. Signing in a name
that does not exist still runs one hash verification, so timing does not tell which names exist.
"""
from __future__ import annotations

import re
import secrets

from pwdlib import PasswordHash
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from automl.db.base import utcnow
from automl.db.models import SetupToken, User
from automl.errors import BadInput, Conflict, NotFound, Unauthorized
from automl.services.apikeys import hash_key
from automl.services.permissions import Kind, Role

HASHER = PasswordHash.recommended()  # Argon2id with pwdlib's defaults (m=64 MiB, t=3, p=4)
_DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
MIN_PASSWORD, MAX_PASSWORD = 8, 1024
RESERVED = frozenset(k.value for k in Kind) | {"cli", "system"}


def normalize_username(name: str) -> str:
    name = (name or "").strip().lower()
    if not USERNAME.match(name):
        raise BadInput("a username is 1 to 64 characters: letters, digits and . _ @ - (first a letter or digit)")
    if name in RESERVED:
        raise BadInput(f"'{name}' is reserved: the audit log uses it for a principal without an account")
    return name


def check_password(password: str) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise BadInput(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


def parse_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise BadInput(f"role must be one of {', '.join(r.value for r in Role)}") from None


def create_user(session: Session, username: str, password: str, role: str) -> User:
    name = normalize_username(username)
    row = User(username=name, password_hash=HASHER.hash(check_password(password)), role=parse_role(role).value)
    if session.scalar(select(User.id).where(User.username == name)) is not None:
        raise Conflict(f"user '{name}' already exists")
    session.add(row)
    session.flush()
    return row


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def get_user(session: Session, user_id: int) -> User:
    row = session.get(User, user_id)
    if row is None:
        raise NotFound(f"user {user_id} not found")
    return row


def by_name(session: Session, username: str) -> User:
    row = session.scalar(select(User).where(User.username == (username or "").strip().lower()))
    if row is None:
        raise NotFound(f"user '{username}' not found")
    return row


def update_user(session: Session, row: User, *, role: str | None = None, password: str | None = None,
                disabled: bool | None = None) -> User:
    was_admin = row.role == Role.ADMIN and row.disabled_at is None
    if role is not None:
        row.role = parse_role(role).value
    if password is not None:
        row.password_hash = HASHER.hash(check_password(password))
    if disabled is not None:
        row.disabled_at = (row.disabled_at or utcnow()) if disabled else None
    if was_admin and (row.role != Role.ADMIN or row.disabled_at is not None):
        _keep_an_admin(session, row)
    return row


def _keep_an_admin(session: Session, changed: User) -> None:
    others = session.scalar(select(func.count()).select_from(User).where(
        User.role == Role.ADMIN, User.disabled_at.is_(None), User.id != changed.id))
    if not others:
        raise Conflict("this would leave no active admin")


def authenticate(session: Session, username: str, password: str) -> User:
    """The active user with this password, or Unauthorized (same message and cost for every failure)."""
    row = session.scalar(select(User).where(User.username == (username or "").strip().lower()))
    ok = HASHER.verify(password or "", row.password_hash if row else _DUMMY_HASH)
    if row is None or not ok or row.disabled_at is not None:
        raise Unauthorized("wrong username or password")
    row.last_login_at = utcnow()
    return row


def has_users(session: Session) -> bool:
    return session.scalar(select(User.id).limit(1)) is not None



def new_setup_token(session: Session) -> str:
    """A fresh first-admin link secret (earlier unused ones stop working)."""
    session.execute(update(SetupToken).where(SetupToken.used_at.is_(None)).values(used_at=utcnow()))
    secret = secrets.token_urlsafe(32)
    session.add(SetupToken(token_hash=hash_key(secret)))
    return secret


def setup_token_valid(session: Session, secret: str) -> bool:
    if not secret or has_users(session):
        return False
    return session.scalar(select(SetupToken.id).where(
        SetupToken.token_hash == hash_key(secret), SetupToken.used_at.is_(None))) is not None


def create_first_admin(session: Session, secret: str, username: str, password: str) -> User:
    """Spends the setup link: valid once, and only while no user exists."""
    if not setup_token_valid(session, secret):
        raise Unauthorized("this setup link is invalid or was already used")
    spent = session.execute(update(SetupToken).where(  # only one of two concurrent requests spends it
        SetupToken.token_hash == hash_key(secret), SetupToken.used_at.is_(None)).values(used_at=utcnow()))
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise Unauthorized("this setup link is invalid or was already used")
    return create_user(session, username, password, Role.ADMIN.value)
