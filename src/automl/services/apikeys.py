"""API keys: created once and shown once, stored as sha256 hashes, checked on the predict endpoints.

A key looks like `aml_<43 url-safe chars>`; its first 12 characters are kept as a `prefix` so lists can
tell keys apart. Checks go through `KeyChecker`, an in-process cache of recent hits (a revoke through
this process forgets the key at once; a revoke from another process, e.g. the CLI, within `ttl_s`).
"""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from automl.db import Database
from automl.db.base import utcnow
from automl.db.models import ApiKey
from automl.errors import BadInput, NotFound, Unauthorized

KEY_PREFIX = "aml_"
PREFIX_LEN = 12
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
BIND_HOST_ENV = "AUTOML_BIND_HOST"  # set by `automl serve` so the app knows which interface it is bound to


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def keys_required(setting: bool | None, host: str | None) -> bool:
    """Explicit setting wins; otherwise required unless the server is bound to loopback only."""
    if setting is not None:
        return setting
    return (host or "127.0.0.1").strip().lower() not in LOOPBACK


def create_key(session: Session, name: str) -> tuple[ApiKey, str]:
    name = name.strip()
    if not name or len(name) > 255:
        raise BadInput("a key needs a name of 1 to 255 characters")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, prefix=secret[:PREFIX_LEN], key_hash=hash_key(secret))
    session.add(row)
    session.flush()
    return row, secret


def list_keys(session: Session, *, include_revoked: bool = True) -> tuple[list[ApiKey], int]:
    query = select(ApiKey).order_by(ApiKey.id.desc())
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    rows = list(session.scalars(query))
    return rows, len(rows)


def revoke_key(session: Session, key_id: int) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"API key {key_id} not found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def key_public(row: ApiKey) -> dict[str, object]:
    return {"id": row.id, "name": row.name, "prefix": row.prefix, "created_at": row.created_at,
            "last_used_at": row.last_used_at, "revoked_at": row.revoked_at}


def secret_from_headers(authorization: str | None, x_api_key: str | None) -> str | None:
    if x_api_key:
        return x_api_key.strip()
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return None


@dataclass
class _Hit:
    key_id: int
    checked_at: float


class KeyChecker:
    """Validates secrets against the database, remembering valid ones for `ttl_s` seconds."""

    def __init__(self, db: Database, *, required: bool, ttl_s: float = 1.0) -> None:
        self.db = db
        self.required = required
        self.ttl_s = ttl_s
        self._hits: dict[str, _Hit] = {}
        self._used: dict[int, datetime] = {}
        self._lock = threading.Lock()

    def check(self, secret: str | None) -> int | None:
        """The key's id, or None when keys are not required and none was given; raises Unauthorized."""
        if not secret:
            if self.required:
                raise Unauthorized("an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key'")
            return None
        digest = hash_key(secret)
        now = time.monotonic()
        with self._lock:
            hit = self._hits.get(digest)
        if hit is None or now - hit.checked_at > self.ttl_s:
            with self.db.session() as s:
                key_id = s.scalar(select(ApiKey.id).where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None)))
            if key_id is None:
                with self._lock:
                    self._hits.pop(digest, None)
                raise Unauthorized("invalid or revoked API key")
            hit = _Hit(key_id, now)
            with self._lock:
                self._hits[digest] = hit
        with self._lock:
            self._used[hit.key_id] = utcnow()
        return hit.key_id

    def forget(self, key_id: int) -> None:
        with self._lock:
            self._hits = {h: hit for h, hit in self._hits.items() if hit.key_id != key_id}

    def has_pending(self) -> bool:
        with self._lock:
            return bool(self._used)

    def flush(self, session: Session) -> None:
        """Write `last_used_at` for the keys used since the last flush (one UPDATE per key)."""
        with self._lock:
            used, self._used = self._used, {}
        for key_id, at in used.items():
            session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at))
