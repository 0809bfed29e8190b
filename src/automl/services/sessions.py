"""Signed-in browser sessions, kept server-side: the cookie carries a random secret, the table its sha256,
the user, a CSRF token, and two limits (idle, counted from the last request, and absolute).

`SessionStore` remembers recent lookups for `ttl_s` so a page's many requests cost one query; signing out
or disabling a user through this process forgets at once, through another within `ttl_s`.
"""
from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from automl.db import Database
from automl.db.base import utcnow
from automl.db.models import User, UserSession
from automl.services.apikeys import hash_key
from automl.services.permissions import ROLE_PERMISSIONS, Kind, Principal, Role

TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often per session


@dataclass(frozen=True)
class Opened:
    secret: str  # goes into the cookie, never stored
    csrf: str
    max_age_s: int


@dataclass(frozen=True)
class Live:
    session_id: int
    user_id: int
    username: str
    role: Role
    csrf: str
    last_seen_at: datetime
    expires_at: datetime



def open_session(session: Session, user: User, *, client: str | None, max_age: timedelta) -> Opened:
    secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(UserSession(user_id=user.id, token_hash=hash_key(secret), csrf_token=csrf,
                            client=client and client[:64], expires_at=utcnow() + max_age))
    return Opened(secret, csrf, int(max_age.total_seconds()))


def end_user_sessions(session: Session, user_id: int) -> None:
    session.execute(update(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
                    .values(ended_at=utcnow()))


class SessionStore:
    def __init__(self, db: Database, *, idle: timedelta, ttl_s: float = 1.0) -> None:
        self.db = db
        self.idle = idle
        self.ttl_s = ttl_s
        self._hits: dict[str, tuple[Live, float]] = {}
        self._lock = threading.Lock()

    def principal(self, live: Live, client: str | None) -> Principal:
        return Principal(Kind.SESSION, ROLE_PERMISSIONS[live.role], user_id=live.user_id, username=live.username,
                         role=live.role, session_id=live.session_id, client=client)

    def cached(self, secret: str) -> Live | None:
        """A fresh cache hit, without touching the database (callable on the event loop)."""
        with self._lock:
            hit = self._hits.get(hash_key(secret))
        if hit is None or time.monotonic() - hit[1] > self.ttl_s or not self._alive(hit[0], utcnow()):
            return None
        return hit[0]

    def lookup(self, secret: str) -> Live | None:
        """The live session behind this cookie, or None (unknown, ended, idle too long, past its limit)."""
        digest = hash_key(secret)
        now = utcnow()
        with self.db.session() as s:
            row = s.execute(
                select(UserSession, User).join(User, User.id == UserSession.user_id)
                .where(UserSession.token_hash == digest, UserSession.ended_at.is_(None), User.disabled_at.is_(None))
            ).first()
            if row is None:
                self._drop(digest)
                return None
            us, user = row
            live = Live(us.id, user.id, user.username, Role(user.role), us.csrf_token, us.last_seen_at, us.expires_at)
            if not self._alive(live, now):
                us.ended_at = now
                self._drop(digest)
                return None
            if now - us.last_seen_at > TOUCH_EVERY:
                us.last_seen_at = now
                live = Live(us.id, user.id, user.username, Role(user.role), us.csrf_token, now, us.expires_at)
        with self._lock:
            self._hits[digest] = (live, time.monotonic())
        return live

    def _alive(self, live: Live, now: datetime) -> bool:
        return now < live.expires_at and now - live.last_seen_at < self.idle

    def _drop(self, digest: str) -> None:
        with self._lock:
            self._hits.pop(digest, None)

    def end(self, session: Session, session_id: int) -> None:
        session.execute(update(UserSession).where(UserSession.id == session_id).values(ended_at=utcnow()))
        self.forget(lambda live: live.session_id == session_id)

    def forget_user(self, user_id: int) -> None:
        self.forget(lambda live: live.user_id == user_id)

    def forget(self, match: Callable[[Live], bool]) -> None:
        with self._lock:
            self._hits = {d: h for d, h in self._hits.items() if not match(h[0])}
