"""Engine and session factory: one writer at a time without stalls, readers that never wait.

SQLite (WAL) is shared by the API, its workers and their children. The write path:

- **Readers never take the write lock.** A read-only session (`db.session(readonly=True)`, the API's GET
  requests, `/healthz`, the event stream, the serving refresh) begins a plain deferred transaction; in WAL
  mode it reads a snapshot and neither waits for a writer nor blocks one.
- **Writers are serialised twice, fairly.** A write session begins `BEGIN IMMEDIATE`, so a read-then-write
  transaction can never fail on the lock upgrade. Inside one process, writers first queue on a lock
  (`WriteGate`, FIFO-ish, held from the transaction's first statement to its commit or rollback), so the API's
  threads hand the SQLite lock over directly instead of polling SQLite's busy handler (whose sleeps grow to
  100 ms and let newcomers overtake: the 30 s stalls of issue 13). Other processes (workers, children) hold
  the lock for milliseconds; SQLite's busy timeout (`BUSY_TIMEOUT_MS`) covers them.
- **Bounded, then a clear answer.** `BEGIN IMMEDIATE` is retried (`BEGIN_ATTEMPTS`, jittered backoff); past
  that, or past `GATE_WAIT_S` in the queue, the session raises `Unavailable` (503, Retry-After), never a 500
  `database is locked` and never a thread parked for 30 s.
- **Full disk.** SQLite's `database or disk is full` and PostgreSQL's `disk_full` (53100) become
  `InsufficientStorage` (507); the transaction is rolled back, so nothing is half-written.

PostgreSQL needs none of the locking (MVCC, row locks); its errors are translated the same way.
"""
from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from automl.errors import InsufficientStorage, Unavailable
from automl.files import is_disk_full

BUSY_TIMEOUT_MS = 2000  # SQLite's own wait for another process's write transaction, per BEGIN attempt
BEGIN_ATTEMPTS = 4
GATE_WAIT_S = 10.0  # the longest a writer queues behind this process's other writers
WRITE = "automl_write"  # execution option marking a write session's connections
BUSY = "the database is busy; try again in a moment"


class WriteGate:
    """One write transaction at a time in this process; released on commit, rollback or a closed connection."""

    def __init__(self, wait_s: float = GATE_WAIT_S) -> None:
        self.wait_s = wait_s
        self._lock = threading.Lock()
        self._holder: Any = None

    def enter(self, dbapi_conn: Any) -> None:
        if not self._lock.acquire(timeout=self.wait_s):
            raise Unavailable(BUSY)
        self._holder = dbapi_conn

    def leave(self, dbapi_conn: Any) -> None:
        raw = getattr(dbapi_conn, "dbapi_connection", dbapi_conn)
        if raw is not None and self._holder is raw:
            self._holder = None
            self._lock.release()


def is_busy(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "sqlite_errorname", "").startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or \
        "database is locked" in str(orig)


def _begin_immediate(conn: Any) -> None:
    for attempt in range(BEGIN_ATTEMPTS):
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except DBAPIError as exc:
            if not is_busy(exc) or attempt == BEGIN_ATTEMPTS - 1:
                raise
        time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))


def _sqlite_engine(url: str, gate: WriteGate, **kwargs: Any) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
                           **kwargs)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "BEGIN" below start transactions instead of the driver's implicit ones.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Any) -> None:
        if not conn.get_execution_options().get(WRITE):
            conn.exec_driver_sql("BEGIN")  # a reader: a WAL snapshot, no lock taken, nobody waited for
            return
        raw = conn.connection.dbapi_connection
        gate.enter(raw)
        try:
            _begin_immediate(conn)
        except DBAPIError as exc:
            gate.leave(raw)
            if is_busy(exc):
                raise Unavailable(BUSY) from exc
            raise
        except BaseException:
            gate.leave(raw)
            raise

    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_conn: Any) -> None:
        try:
            commit(dbapi_conn)
        finally:
            gate.leave(dbapi_conn)

    def do_rollback(dbapi_conn: Any) -> None:
        try:
            rollback(dbapi_conn)
        finally:
            gate.leave(dbapi_conn)

    dialect.do_commit = do_commit  # type: ignore[method-assign,assignment]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign,assignment]
    for name in ("close", "invalidate", "checkin"):
        event.listen(engine.pool, name, lambda dbapi_conn, *_: gate.leave(dbapi_conn))
    return engine


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url, WriteGate(), **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:
        kwargs.update(pool_size=10, max_overflow=20)
    return create_engine(url, **kwargs)


class Database:
    """One engine and its session factories; each request, job or command opens its own session."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessionmaker = sessionmaker(self.engine.execution_options(**{WRITE: True}), expire_on_commit=False)
        self.readmaker = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """Commit on success, roll back on any error. `readonly`: a reader that never waits for a writer (a
        write in it still works, taking the lock late; a write that loses that race is a 503)."""
        with (self.readmaker if readonly else self.sessionmaker)() as s:
            try:
                yield s
                s.commit()
            except DBAPIError as exc:
                s.rollback()
                domain = translate(exc)
                if domain is exc:
                    raise
                raise domain from exc
            except BaseException:
                s.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()


def translate(exc: DBAPIError) -> Exception:
    """A full disk is a 507, a database still busy after the retries a 503; anything else stays itself."""
    if is_disk_full(exc):
        return InsufficientStorage()
    if is_busy(exc):
        return Unavailable(BUSY)
    return exc
