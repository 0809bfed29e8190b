"""API tokens: created once and shown once, stored as sha256 hashes, carrying scopes (and optionally the
only models they may predict with) and an expiry. `/api/keys` (the older interface) makes `predict` tokens.

A token looks like `aml_<43 url-safe chars>`; its first 12 characters are kept as a `prefix` so lists can
tell tokens apart. Checks go through `KeyChecker`, an in-process cache of recent hits (a revoke through
this process forgets the token at once; a revoke from another process, e.g. the CLI, within `ttl_s`).
A token can never do more than its creator's role allows now; one with no creator (made while
authentication was off) at most what a viewer may.
"""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from automl.db import Database
from automl.db.base import utcnow
from automl.db.models import ApiKey, User
from automl.errors import BadInput, Forbidden, NotFound, Unauthorized
from automl.services.permissions import ROLE_PERMISSIONS, Kind, Permission, Principal, Role, expand

KEY_PREFIX = "aml_"
PREFIX_LEN = 12
MAX_EXPIRY_DAYS = 3650


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(scopes: list[str]) -> frozenset[Permission]:
    try:
        out = frozenset(Permission(s) for s in scopes)
    except ValueError:
        raise BadInput(f"scopes are among {', '.join(p.value for p in Permission)}") from None
    if not out:
        raise BadInput("a token needs at least one scope")
    return out


def create_token(session: Session, creator: Principal, name: str, scopes: list[str], *,
                 model_ids: list[int] | None = None, expires_in_days: int | None = None) -> tuple[ApiKey, str]:
    name = name.strip()
    if not name or len(name) > 255:
        raise BadInput("a token needs a name of 1 to 255 characters")
    wanted = parse_scopes(scopes)
    if not expand(wanted) <= creator.permissions or creator.kind not in (Kind.LOCAL, Kind.SESSION, Kind.TOKEN):
        raise Forbidden(f"a token cannot have more than {creator.actor} may do")
    if creator.model_ids is not None and not (model_ids and set(model_ids) <= creator.model_ids):
        raise Forbidden(f"a token cannot reach models that {creator.actor} may not use")
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
        raise BadInput(f"expires_in_days is between 1 and {MAX_EXPIRY_DAYS}")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, prefix=secret[:PREFIX_LEN], key_hash=hash_key(secret), scopes=sorted(wanted),
                 model_ids=sorted(set(model_ids)) if model_ids else None, user_id=creator.user_id,
                 expires_at=utcnow() + timedelta(days=expires_in_days) if expires_in_days else None)
    session.add(row)
    session.flush()
    return row, secret


def create_key(session: Session, name: str, creator: Principal | None = None) -> tuple[ApiKey, str]:
    """The older interface: a `predict` token for any model, never expiring."""
    return create_token(session, creator or Principal.local(), name, [Permission.PREDICT.value])


def list_keys(session: Session, viewer: Principal | None = None, *,
              include_revoked: bool = True) -> tuple[list[ApiKey], int]:
    """Everyone's tokens for an admin (or the local operator), a user's own otherwise."""
    query = select(ApiKey).order_by(ApiKey.id.desc())
    if viewer is not None and not viewer.can(Permission.ADMIN):
        query = query.where(ApiKey.user_id == viewer.user_id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    rows = list(session.scalars(query))
    return rows, len(rows)


def revoke_key(session: Session, key_id: int, by: Principal | None = None) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None or (by is not None and not by.owns(row.user_id)):
        raise NotFound(f"API token {key_id} not found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def owner_names(session: Session, rows: list[ApiKey]) -> dict[int, str]:
    ids = {r.user_id for r in rows if r.user_id is not None}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all()) if ids else {}


def key_public(row: ApiKey, owners: dict[int, str] | None = None) -> dict[str, object]:
    return {"id": row.id, "name": row.name, "prefix": row.prefix, "scopes": row.scopes, "model_ids": row.model_ids,
            "owner": (owners or {}).get(row.user_id) if row.user_id is not None else None,
            "created_at": row.created_at, "expires_at": row.expires_at, "last_used_at": row.last_used_at,
            "revoked_at": row.revoked_at}


def secret_from_headers(authorization: str | None, x_api_key: str | None) -> str | None:
    if x_api_key:
        return x_api_key.strip()
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return None


@dataclass(frozen=True)
class Grant:
    token_id: int
    permissions: frozenset[Permission]
    model_ids: frozenset[int] | None
    user_id: int | None
    username: str | None
    role: Role | None
    expires_at: datetime | None

    def principal(self, client: str | None) -> Principal:
        return Principal(Kind.TOKEN, self.permissions, user_id=self.user_id, username=self.username, role=self.role,
                         token_id=self.token_id, model_ids=self.model_ids, client=client)


def _grant(row: ApiKey, user: User | None) -> Grant:
    role = Role(user.role) if user is not None else None
    ceiling = ROLE_PERMISSIONS[role or Role.VIEWER]
    return Grant(row.id, expand(frozenset(Permission(s) for s in row.scopes)) & ceiling,
                 frozenset(row.model_ids) if row.model_ids is not None else None,
                 row.user_id, user.username if user else None, role, row.expires_at)


class KeyChecker:
    """Validates secrets against the database, remembering valid ones for `ttl_s` seconds."""

    def __init__(self, db: Database, *, required: bool, ttl_s: float = 1.0) -> None:
        self.db = db
        self.required = required
        self.ttl_s = ttl_s
        self._hits: dict[str, tuple[Grant, float]] = {}
        self._used: dict[int, datetime] = {}
        self._lock = threading.Lock()

    def cached(self, secret: str) -> Grant | None:
        """A fresh, unexpired cache hit without touching the database (callable on the event loop)."""
        with self._lock:
            hit = self._hits.get(hash_key(secret))
        if hit is None or time.monotonic() - hit[1] > self.ttl_s:
            return None
        return self._use(hit[0])

    def check(self, secret: str | None) -> Grant | None:
        """The token's grant, or None when tokens are not required and none was given; raises Unauthorized."""
        if not secret:
            if self.required:
                raise Unauthorized("an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key'")
            return None
        grant = self.cached(secret)
        if grant is not None:
            return grant
        digest = hash_key(secret)
        with self.db.session() as s:
            row = s.execute(select(ApiKey, User).outerjoin(User, User.id == ApiKey.user_id)
                            .where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None))).first()
        if row is None or (row[1] is not None and row[1].disabled_at is not None):
            with self._lock:
                self._hits.pop(digest, None)
            raise Unauthorized("invalid or revoked API token")
        grant = _grant(row[0], row[1])
        with self._lock:
            self._hits[digest] = (grant, time.monotonic())
        return self._use(grant)

    def _use(self, grant: Grant) -> Grant:
        now = utcnow()
        if grant.expires_at is not None and grant.expires_at <= now:
            raise Unauthorized("this API token has expired")
        with self._lock:
            self._used[grant.token_id] = now
        return grant

    def forget(self, key_id: int) -> None:
        with self._lock:
            self._hits = {h: hit for h, hit in self._hits.items() if hit[0].token_id != key_id}

    def forget_user(self, user_id: int) -> None:
        with self._lock:
            self._hits = {h: hit for h, hit in self._hits.items() if hit[0].user_id != user_id}

    def has_pending(self) -> bool:
        with self._lock:
            return bool(self._used)

    def flush(self, session: Session) -> None:
        """Write `last_used_at` for the tokens used since the last flush (one UPDATE per token)."""
        with self._lock:
            used, self._used = self._used, {}
        for key_id, at in used.items():
            session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at))
