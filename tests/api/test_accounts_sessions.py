"""Browser sessions: cookie flags, the CSRF token on every state-changing request, foreign origins and unknown
Host headers refused (with accounts on and off), sign-out, idle and absolute expiry, and a disabled user's
sessions ending at once."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from accounts_support import PASSWORD, World, set_cookie_headers, upload, world
from sqlalchemy import select, update

from automl.db.base import utcnow
from automl.db.models import UserSession

TOKEN = {"name": "t", "scopes": ["read"]}


@pytest.fixture
def w(tmp_path) -> Iterator[World]:
    with world(tmp_path) as w:
        yield w


def set_session(w: World, name: str, **values) -> None:
    with w.app.state.db.session() as s:
        s.execute(update(UserSession).where(UserSession.user_id == w.ids[name]).values(**values))
    w.app.state.sessions.forget(lambda live: True)  # as once the 1 s cache has lapsed


def test_cookie_flags_over_http(w):
    r = w.login("viewer").login_response
    session, csrf = set_cookie_headers(r, "automl_session"), set_cookie_headers(r, "automl_csrf")
    assert "httponly" in session and "samesite=lax" in session and "path=/" in session
    assert f"max-age={w.settings.session_max_hours * 3600}" in session
    assert "secure" not in session  # plain http (loopback): a Secure cookie would never come back
    assert "httponly" not in csrf and "samesite=lax" in csrf  # the page's script reads it
    assert r.cookies["automl_csrf"] == r.headers["x-csrf-token"]
    assert r.cookies["automl_session"] != r.cookies["automl_csrf"] and len(r.cookies["automl_session"]) >= 40


def test_cookies_are_secure_over_https(w):
    r = w.login("viewer", base_url="https://localhost").login_response
    assert "secure" in set_cookie_headers(r, "automl_session")
    assert "secure" in set_cookie_headers(r, "automl_csrf")


def test_the_session_secret_is_stored_only_as_a_hash(w):
    r = w.login("viewer").login_response
    with w.app.state.db.session() as s:
        row = s.scalars(select(UserSession)).one()
        assert r.cookies["automl_session"] not in (row.token_hash, row.csrf_token) and len(row.token_hash) == 64


def test_a_wrong_password_sets_no_cookie(w):
    w.user("viewer")
    c = w.client()
    for body in ({"username": "viewer", "password": "wrong password"}, {"username": "nobody", "password": PASSWORD}):
        r = c.post("/api/auth/login", json=body)
        assert r.status_code == 401 and r.json()["detail"] == "wrong username or password"
        assert not r.headers.get_list("set-cookie")
    assert c.get("/api/auth/me").status_code == 401


def test_cookie_writes_need_the_csrf_token(w):
    bare = w.login("editor", csrf=False)
    assert bare.get("/api/datasets").status_code == 200  # reads need none
    assert bare.post("/api/tokens", json=TOKEN).status_code == 403
    assert bare.post("/api/tokens", json=TOKEN, headers={"X-CSRF-Token": "x" + bare.csrf}).status_code == 403
    assert bare.post("/api/tokens", json=TOKEN, headers={"X-CSRF-Token": ""}).status_code == 403
    assert upload(bare).status_code == 403
    assert bare.delete("/api/datasets/1").status_code == 403
    assert bare.patch("/api/users/1", json={}).status_code == 403
    assert bare.post("/api/auth/logout").status_code == 403
    assert bare.post("/api/nope").status_code == 403  # checked before routing
    # another session's CSRF token does not fit this cookie
    other = w.login("viewer")
    assert bare.post("/api/tokens", json=TOKEN, headers={"X-CSRF-Token": other.csrf}).status_code == 403
    r = bare.post("/api/tokens", json=TOKEN, headers={"X-CSRF-Token": bare.csrf})
    assert r.status_code == 201, r.text
    assert upload(w.login("editor")).status_code == 201


def test_bearer_requests_need_no_csrf_token(w):
    tok = w.mint("editor", ["write"])["token"]
    bot = w.bearer(tok)
    r = upload(bot)
    assert r.status_code == 201
    assert bot.delete(f"/api/datasets/{r.json()['id']}").status_code == 204


def test_foreign_origins_are_refused_with_accounts_on(w):
    editor = w.login("editor")
    bot = w.bearer(w.mint("editor", ["write"])["token"])
    # (the scheme is not compared: behind a TLS proxy the app sees http while the browser says https)
    for origin in ("http://evil.example", "null", "http://localhost:8000", "http://localhost.evil", "localhost"):
        for client in (editor, bot):
            r = client.post("/api/tokens", json=TOKEN, headers={"Origin": origin})
            assert r.status_code == 403 and "cross-origin" in r.json()["detail"], origin
    assert editor.post("/api/tokens", json=TOKEN, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert editor.post("/api/tokens", json=TOKEN, headers={"Origin": "http://localhost"}).status_code == 201
    assert editor.post("/api/tokens", json=TOKEN, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 201
    assert editor.get("/api/datasets", headers={"Origin": "http://evil.example"}).status_code == 200  # reads pass
    # an anonymous cross-site sign-in (login CSRF) is refused too
    r = w.client().post("/api/auth/login", json={"username": "editor", "password": PASSWORD},
                        headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and not r.headers.get_list("set-cookie")


def test_unknown_hosts_are_refused_with_accounts_on(w):
    viewer = w.login("viewer")
    for host in ("attacker.example", "localhost.attacker.example", "127.0.0.2", ""):
        r = viewer.get("/api/datasets", headers={"Host": host})
        assert r.status_code == 400, host
    assert w.client().get("/login", headers={"Host": "attacker.example"}).status_code == 400
    assert viewer.get("/api/datasets", headers={"Host": "127.0.0.1:8000"}).status_code == 200
    assert w.client().get("/healthz", headers={"Host": "10.0.0.7:8000"}).status_code == 200  # probes use the IP


@pytest.mark.parametrize("auth", ["off", "auto"])  # auto on loopback (no AUTOML_BIND_HOST in tests) = off
def test_origins_and_hosts_hold_with_accounts_off(tmp_path, auth):
    with world(tmp_path, auth=auth) as w:
        c = w.client()
        assert c.get("/api/auth/me").json()["permissions"] == ["admin", "metrics", "predict", "read", "write"]
        assert c.delete("/api/datasets/1", headers={"Origin": "http://evil.example"}).status_code == 403
        assert c.delete("/api/datasets/1", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
        assert c.delete("/api/datasets/1", headers={"Origin": "http://localhost"}).status_code == 404
        assert c.delete("/api/datasets/1").status_code == 404  # a plain client (curl) sends no Origin
        assert upload(c, "x.csv").status_code == 201
        assert c.get("/api/datasets", headers={"Host": "attacker.example"}).status_code == 400
        assert c.post("/api/datasets/upload", headers={"Host": "attacker.example"}).status_code == 400
        assert c.get("/", headers={"Host": "rebound.attacker.example"}).status_code == 400


def test_allowed_hosts_replace_the_defaults(tmp_path):
    with world(tmp_path, auth="off", allowed_hosts=["automl.example.org"]) as w:
        assert w.client(base_url="http://automl.example.org").get("/api/datasets").status_code == 200
        assert w.client().get("/api/datasets").status_code == 400
        r = w.client(base_url="http://automl.example.org").delete(
            "/api/datasets/1", headers={"Origin": "http://automl.example.org"})
        assert r.status_code == 404


def test_logout_ends_the_session_for_good(w):
    c = w.login("viewer")
    cookie = c.cookies["automl_session"]
    r = c.post("/api/auth/logout")
    assert r.status_code == 204
    assert 'automl_session=""' in r.headers.get("set-cookie", "") or "max-age=0" in r.headers["set-cookie"].lower()
    assert c.get("/api/auth/me").status_code == 401
    replay = w.client()
    replay.cookies.set("automl_session", cookie)
    assert replay.get("/api/auth/me").status_code == 401
    assert replay.get("/").status_code == 303
    with w.app.state.db.session() as s:
        assert s.scalars(select(UserSession.ended_at)).one() is not None
    assert [e["action"] for e in w.audit(actor="viewer")][:2] == ["auth.logout", "auth.login"]


def test_a_session_ends_after_the_idle_limit(w):
    c = w.login("viewer")
    set_session(w, "viewer", last_seen_at=utcnow() - timedelta(minutes=w.settings.session_idle_minutes - 2))
    assert c.get("/api/auth/me").status_code == 200  # still inside the limit; the request counts as activity
    set_session(w, "viewer", last_seen_at=utcnow() - timedelta(minutes=w.settings.session_idle_minutes + 1))
    assert c.get("/api/auth/me").status_code == 401
    set_session(w, "viewer", last_seen_at=utcnow())
    assert c.get("/api/auth/me").status_code == 401  # ended, not just asleep


def test_a_session_ends_at_its_absolute_limit(w):
    c = w.login("viewer")
    with w.app.state.db.session() as s:
        row = s.scalars(select(UserSession)).one()
        assert timedelta(hours=w.settings.session_max_hours - 1) < row.expires_at - utcnow() <= \
            timedelta(hours=w.settings.session_max_hours)
    set_session(w, "viewer", expires_at=utcnow() - timedelta(seconds=1), last_seen_at=utcnow())
    assert c.get("/api/auth/me").status_code == 401


def test_the_session_cache_notices_changes_from_another_process(w):
    c = w.login("viewer")
    assert c.get("/api/auth/me").status_code == 200
    w.set_user("viewer", disabled_at=utcnow())  # e.g. `automl user disable` in a shell
    w.app.state.sessions.forget(lambda live: True)
    assert c.get("/api/auth/me").status_code == 401


def test_disabling_a_user_or_changing_the_password_ends_their_sessions(w):
    admin, viewer = w.login("admin"), w.login("viewer")
    editor = w.login("editor")
    assert viewer.get("/api/auth/me").status_code == 200 and editor.get("/api/auth/me").status_code == 200
    assert admin.patch(f"/api/users/{w.ids['viewer']}", json={"disabled": True}).status_code == 200
    assert viewer.get("/api/auth/me").status_code == 401  # no waiting for the cache
    r = w.client().post("/api/auth/login", json={"username": "viewer", "password": PASSWORD})
    assert r.status_code == 401
    assert admin.patch(f"/api/users/{w.ids['editor']}", json={"password": "a new password"}).status_code == 200
    assert editor.get("/api/auth/me").status_code == 401
    r = w.client().post("/api/auth/login", json={"username": "editor", "password": "a new password"})
    assert r.status_code == 200
    assert admin.get("/api/auth/me").status_code == 200  # nobody else was signed out


def test_signing_in_again_needs_no_old_csrf_token_but_a_same_site_origin(w):
    bare = w.login("editor", csrf=False)
    old = bare.cookies["automl_session"]
    body = {"username": "viewer", "password": PASSWORD}
    w.user("viewer")
    assert bare.post("/api/auth/login", json=body, headers={"Origin": "http://evil.example"}).status_code == 403
    r = bare.post("/api/auth/login", json=body)
    assert r.status_code == 200 and r.cookies["automl_session"] != old  # a fresh session, never the old one
    assert bare.get("/api/auth/me").json()["username"] == "viewer"
