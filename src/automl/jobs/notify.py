"""Waking idle workers on PostgreSQL: NOTIFY in the transaction that queues a job, LISTEN in the worker.

`notify(session, what)` sends `NOTIFY automl_jobs, what` inside the caller's transaction, so the message is
delivered on commit (and never for a transaction that rolls back). A `Listener` holds one autocommit
connection of its own (outside the engine's pool) that LISTENs on the channel; the worker selects on its socket,
beside its children's sentinels, instead of sleeping. A listener that loses its connection (a database restart)
says so and the worker falls back to polling until `reconnect()` succeeds. On SQLite nothing is sent and no
listener exists: workers poll as before.
"""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

CHANNEL = "automl_jobs"
QUEUED = "queued"  # a job became claimable: enqueued, handed back, or re-queued after a lost attempt
CANCEL = "cancel"  # a running job was asked to stop: its worker looks at once instead of at its next tick


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def notify(session: Session, what: str) -> None:
    """Queue a notification in the session's transaction (sent on commit); nothing on SQLite."""
    if is_postgres(session):
        session.execute(text("SELECT pg_notify(:channel, :what)"), {"channel": CHANNEL, "what": what})


def libpq_url(sqlalchemy_url: str) -> str:
    """`postgresql+psycopg://...` as a libpq URI for psycopg.connect (same host, credentials, options)."""
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    """A LISTEN connection; `fileno()` is readable when a notification (or an error) arrives."""

    def __init__(self, url: str, *, connect_timeout_s: float = 5.0) -> None:
        self.url = libpq_url(url)
        self.connect_timeout_s = connect_timeout_s
        self._conn: Any = None

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def connect(self) -> bool:
        """Open the connection and LISTEN; False (logged) when the database cannot be reached now."""
        import psycopg

        self.close()
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, int(self.connect_timeout_s)))
            conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error:
            log.warning("job listener could not connect; polling meanwhile", exc_info=True)
            return False
        self._conn = conn
        return True

    def fileno(self) -> int | None:
        return self._conn.fileno() if self.connected else None

    def drain(self) -> list[str]:
        """The payloads waiting on the connection, without blocking; on a broken connection, close it."""
        import psycopg

        if not self.connected:
            return []
        try:
            return [n.payload for n in self._conn.notifies(timeout=0)]
        except psycopg.Error:
            log.warning("job listener lost its connection; polling until it reconnects", exc_info=True)
            self.close()
            return []

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
            self._conn = None
