"""Signing in: the rate limit on failures (per name and per address, durable in the audit log), Argon2id hashes
at rest and passwords nowhere else (logs, audit, responses, the database file), the one-time setup link."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from accounts_support import PASSWORD, World, world
from sqlalchemy import select, update

from automl.db.base import utcnow
from automl.db.models import AuditEvent, User
from automl.services import users
from automl.services.signin import MAX_FAILURES

SECRET = "Tr0ub4dor&3 is not a passphrase"


@pytest.fixture
def w(tmp_path) -> Iterator[World]:
    with world(tmp_path) as w:
        yield w


def attempt(w: World, name: str, password: str, address: str = "testclient") -> int:
    c = w.client(address=(address, 40000))
    return c.post("/api/auth/login", json={"username": name, "password": password}).status_code


def test_failures_for_one_name_limit_it_from_any_address(w):
    w.user("viewer")
    codes = [attempt(w, "viewer" if i % 2 else " Viewer", "wrong password", f"10.0.0.{i}") for i in range(MAX_FAILURES)]
    assert codes == [401] * MAX_FAILURES
    r = w.client(address=("10.0.1.1", 1)).post("/api/auth/login", json={"username": "viewer", "password": PASSWORD})
    assert r.status_code == 429 and "too many" in r.json()["detail"]
    assert not r.headers.get_list("set-cookie")
    w.user("editor")
    assert attempt(w, "editor", PASSWORD, "10.0.0.3") == 200  # the addresses are not limited yet: another name passes
    failed = w.audit(action="auth.login_failed")
    assert len(failed) == MAX_FAILURES  # refused attempts are not counted, so the limit lapses on time
    assert {e["actor"] for e in failed} == {"viewer"} and failed[0]["object"] == "user viewer"
    assert {e["client"] for e in failed} == {f"10.0.0.{i}" for i in range(MAX_FAILURES)}
    assert [e["time"] for e in failed] == sorted((e["time"] for e in failed), reverse=True)


def test_failures_from_one_address_limit_it_for_every_name(w):
    w.user("viewer")
    assert {attempt(w, f"guess{i}", "wrong password", "192.0.2.7") for i in range(MAX_FAILURES)} == {401}
    assert attempt(w, "viewer", PASSWORD, "192.0.2.7") == 429
    assert attempt(w, "viewer", PASSWORD, "192.0.2.8") == 200  # another address is not held back


def test_successful_sign_ins_are_not_counted(w):
    w.user("viewer")
    assert {attempt(w, "viewer", "wrong password") for _ in range(MAX_FAILURES - 1)} == {401}
    assert [attempt(w, "viewer", PASSWORD) for _ in range(3)] == [200, 200, 200]
    assert attempt(w, "viewer", "wrong password") == 401
    assert attempt(w, "viewer", PASSWORD) == 429


def test_the_limit_lapses_after_its_window(w):
    w.user("viewer")
    for _ in range(MAX_FAILURES):
        attempt(w, "viewer", "wrong password")
    assert attempt(w, "viewer", PASSWORD) == 429
    with w.app.state.db.session() as s:
        s.execute(update(AuditEvent).values(at=utcnow() - timedelta(minutes=11)))
    assert attempt(w, "viewer", PASSWORD) == 200


def test_passwords_are_argon2id_hashes_at_rest(w):
    w.user("viewer", password=SECRET)
    admin = w.login("admin")
    assert admin.post("/api/users", json={"username": "carol", "password": SECRET, "role": "editor"}).status_code == 201
    with w.app.state.db.session() as s:
        hashes = dict(s.execute(select(User.username, User.password_hash)).all())
    assert set(hashes) == {"viewer", "admin", "carol"}
    for name, h in hashes.items():
        assert h.startswith("$argon2id$v=19$m=") and SECRET not in h and PASSWORD not in h, name
    assert hashes["viewer"] != hashes["carol"]  # salted
    assert users.HASHER.verify(SECRET, hashes["carol"]) and not users.HASHER.verify(PASSWORD, hashes["carol"])


def test_a_password_is_never_logged_audited_echoed_or_stored(w, caplog):
    caplog.set_level(logging.DEBUG)
    admin = w.login("admin")
    created = admin.post("/api/users", json={"username": "carol", "password": SECRET, "role": "editor"})
    carol = f"/api/users/{created.json()['id']}"
    responses = [
        created,
        w.client().post("/api/auth/login", json={"username": "carol", "password": SECRET}),
        w.client().post("/api/auth/login", json={"username": "carol", "password": SECRET + "x"}),
        w.client().post("/api/auth/login", json={"username": "nobody", "password": SECRET}),
        admin.patch(carol, json={"password": SECRET + "!"}),
        # rejected passwords are not echoed in the 422 either (FastAPI's default would)
        admin.post("/api/users", json={"username": "dave", "password": "Sh0rt!7", "role": "viewer"}),
        admin.patch(carol, json={"password": "Sh0rt!7"}),
        w.client().post("/api/auth/login", json={"password": SECRET}),
        w.client().post("/api/auth/login", json={"username": "carol", "password": SECRET * 40}),
    ]
    assert [r.status_code for r in responses] == [201, 200, 401, 401, 200, 422, 422, 422, 422]
    for r in responses:
        assert SECRET not in r.text and "Sh0rt!7" not in r.text, r.text
    assert SECRET not in caplog.text and "Sh0rt!7" not in caplog.text
    audit = str(w.audit())
    assert "user carol" in audit and SECRET not in audit
    assert "password" in next(e["object"] for e in w.audit(action="user.update"))  # that it changed, not to what
    for path in w.settings.data_dir.glob("automl.db*"):
        assert SECRET.encode() not in path.read_bytes(), path


def new_link(w: World) -> str:
    with w.app.state.db.session() as s:
        return users.new_setup_token(s)


def setup(w: World, secret: str | None, username: str = "root", **headers: str):
    h = {"X-Setup-Token": secret} if secret is not None else {}
    body = {"username": username, "password": PASSWORD}
    return w.client().post("/api/auth/setup", json=body, headers={**h, **headers})


def test_the_setup_link_creates_the_first_admin_once(w):
    stale, secret = new_link(w), new_link(w)
    assert setup(w, stale).status_code == 401  # a newer link replaces older ones
    assert setup(w, "not-the-secret").status_code == 401
    assert setup(w, None).status_code == 401
    assert setup(w, secret, Origin="http://evil.example").status_code == 403
    c = w.client()
    r = c.post("/api/auth/setup", json={"username": "Root", "password": PASSWORD}, headers={"X-Setup-Token": secret})
    assert r.status_code == 200, r.text
    assert r.json() == {"username": "root", "role": "admin"} and r.headers["x-csrf-token"]
    assert c.get("/api/auth/me").json()["role"] == "admin"  # signed in by the cookie it set
    c.headers["X-CSRF-Token"] = r.headers["x-csrf-token"]
    assert c.post("/api/users", json={"username": "ed", "password": PASSWORD, "role": "editor"}).status_code == 201
    assert setup(w, secret, "again").status_code == 401  # used
    assert setup(w, new_link(w), "again").status_code == 401  # a user exists: no link works any more
    with w.app.state.db.session() as s:
        assert sorted(s.scalars(select(User.username))) == ["ed", "root"]
    actions = [e["action"] for e in w.audit(actor="root")]
    assert actions[-2:] == ["auth.login", "user.create"]


def test_the_setup_link_needs_a_valid_password_and_name(w):
    secret = new_link(w)
    r = w.client().post("/api/auth/setup", json={"username": "root", "password": "short"},
                        headers={"X-Setup-Token": secret})
    assert r.status_code == 400
    r = w.client().post("/api/auth/setup", json={"username": "no spaces", "password": PASSWORD},
                        headers={"X-Setup-Token": secret})
    assert r.status_code == 400
    assert setup(w, secret).status_code == 200  # a refused attempt did not spend the link
