"""Accounts on PostgreSQL: sign-in, CSRF, tokens, the rate-limit count and the audit filters run the same queries
there, and the one-time setup link holds even when two requests spend it at the same moment."""
from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from accounts_support import PASSWORD, predict, upload, world
from sqlalchemy import func, select, update

from automl.db import Database
from automl.db.base import utcnow
from automl.db.migrate import upgrade
from automl.db.models import User, UserSession
from automl.errors import Unauthorized
from automl.services import users
from automl.services.signin import MAX_FAILURES

pytestmark = pytest.mark.postgres


def test_accounts_on_postgres(pg_url: str, tmp_path: Path):
    with world(tmp_path, database_url=pg_url) as w:
        editor = w.login("editor")
        assert upload(editor).status_code == 201
        assert upload(w.login("editor", csrf=False)).status_code == 403
        tok = w.mint("editor", ["predict"], expires_in_days=1)
        assert predict(w.bearer(tok["token"]), w.model()) == 200
        assert editor.delete(f"/api/tokens/{tok['id']}").status_code == 204
        w.user("viewer")
        bad = {"username": "viewer", "password": "wrong password"}
        away = w.client(address=("198.51.100.9", 1))  # not the admin's address, which would be limited too
        assert {away.post("/api/auth/login", json=bad).status_code for _ in range(MAX_FAILURES)} == {401}
        good = {"username": "viewer", "password": PASSWORD}
        assert w.client().post("/api/auth/login", json=good).status_code == 429
        assert [e["action"] for e in w.audit(action="dataset.")] == ["dataset.upload"]
        assert len(w.audit(action="auth.login_failed", actor="viewer")) == MAX_FAILURES
        with w.app.state.db.session() as s:
            s.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(days=1)))
        w.app.state.sessions.forget(lambda live: True)
        assert editor.get("/api/auth/me").status_code == 401


def test_a_setup_link_spent_twice_at_once_makes_one_admin(pg_url: str):
    upgrade(pg_url)
    db = Database(pg_url)
    try:
        with db.session() as s:
            secret = users.new_setup_token(s)
        outcome: list[str] = []

        def second() -> None:
            try:
                with db.session() as s:
                    users.create_first_admin(s, secret, "second", PASSWORD)
                outcome.append("created")
            except Unauthorized:
                outcome.append("refused")

        with db.session() as s:
            users.create_first_admin(s, secret, "first", PASSWORD)
            s.flush()
            racer = threading.Thread(target=second)
            racer.start()
            time.sleep(1.0)  # the second request has checked the link and waits on the first one's row lock
        racer.join(30)
        with db.session() as s:
            names = list(s.scalars(select(User.username)))
            admins = s.scalar(select(func.count()).select_from(User))
        assert outcome == ["refused"] and names == ["first"] and admins == 1
    finally:
        db.dispose()
