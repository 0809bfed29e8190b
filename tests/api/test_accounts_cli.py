"""Accounts from the shell (`automl user create|list|set-password|disable`, passwords only from stdin), seen by a
running server; and `automl serve` refusing to bind beyond loopback without accounts, or printing the
first-admin link when accounts are on and nobody exists yet."""
from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import pytest
from accounts_support import PASSWORD, World, world
from typer.testing import CliRunner

from automl.cli import app as cli
from automl.config import get_settings
from automl.services.exposure import BIND_HOST_ENV


@pytest.fixture
def w(tmp_path, monkeypatch) -> Iterator[World]:
    with world(tmp_path) as w:
        monkeypatch.setenv("AUTOML_DATA_DIR", str(w.settings.data_dir))
        get_settings.cache_clear()
        try:
            yield w
        finally:
            get_settings.cache_clear()


def run(*args: str, password: str | None = None):
    return CliRunner().invoke(cli, list(args), input=None if password is None else password + "\n")


def sign_in(w: World, name: str, password: str = PASSWORD) -> int:
    return w.client().post("/api/auth/login", json={"username": name, "password": password}).status_code


def test_user_create_then_sign_in(w):
    r = run("user", "create", "Alice", "--role", "editor", "--password-stdin", password=PASSWORD)
    assert r.exit_code == 0, r.output
    assert "user alice (editor) created" in r.stdout and PASSWORD not in r.output
    c = w.client()
    assert c.post("/api/auth/login", json={"username": "alice", "password": PASSWORD}).json() == \
        {"username": "alice", "role": "editor"}
    entry = w.audit(action="user.create")[0]
    assert entry["object"] == "user alice (editor)" and entry["client"] == "cli"


def test_user_create_refuses_duplicates_bad_roles_and_short_passwords(w):
    assert run("user", "create", "bob", "--role", "viewer", "--password-stdin", password=PASSWORD).exit_code == 0
    r = run("user", "create", "BOB", "--role", "admin", "--password-stdin", password=PASSWORD)
    assert r.exit_code == 1 and "user 'bob' already exists" in r.stderr
    r = run("user", "create", "carol", "--role", "root", "--password-stdin", password=PASSWORD)
    assert r.exit_code == 2 and "root" in r.output
    r = run("user", "create", "carol", "--role", "viewer", "--password-stdin", password="short")
    assert r.exit_code == 1 and "8 to 1024 characters" in r.stderr
    r = run("user", "create", "no spaces", "--role", "viewer", "--password-stdin", password=PASSWORD)
    assert r.exit_code == 1 and "username" in r.stderr
    for reserved in ("local", "Anonymous", "cli"):  # the audit log's names for principals without an account
        r = run("user", "create", reserved, "--role", "admin", "--password-stdin", password=PASSWORD)
        assert r.exit_code == 1 and "reserved" in r.stderr
    listed = run("user", "list").stdout
    assert "carol" not in listed and listed.count("bob") == 1


def test_user_list_shows_role_state_and_last_sign_in(w):
    w.user("viewer")
    w.user("editor")
    sign_in(w, "editor")
    r = run("user", "list")
    assert r.exit_code == 0, r.output
    lines = dict(line.split("\t", 1) for line in r.stdout.strip().splitlines())
    assert set(lines) == {"editor", "viewer"}
    assert lines["viewer"] == "viewer\tactive\tlast sign-in never"
    assert re.fullmatch(r"editor\tactive\tlast sign-in \d{4}-\d\d-\d\d \d\d:\d\d", lines["editor"])
    assert "argon2" not in r.stdout


def test_set_password_changes_it_and_ends_sessions(w):
    c = w.login("viewer")
    r = run("user", "set-password", "viewer", "--password-stdin", password="a brand new password")
    assert r.exit_code == 0, r.output
    assert "a brand new password" not in r.output
    assert sign_in(w, "viewer") == 401
    assert sign_in(w, "viewer", "a brand new password") == 200
    w.app.state.sessions.forget(lambda live: True)  # another process changed it: seen once the 1 s cache lapses
    assert c.get("/api/auth/me").status_code == 401
    r = run("user", "set-password", "nobody", "--password-stdin", password="a brand new password")
    assert r.exit_code == 1 and "not found" in r.stderr
    assert run("user", "set-password", "viewer", "--password-stdin", password="short").exit_code == 1


def test_disable_stops_sign_in_sessions_and_tokens(w):
    w.user("admin")
    c = w.login("editor")
    token = w.mint("editor", ["read"])["token"]
    r = run("user", "disable", "editor")
    assert r.exit_code == 0, r.output
    assert sign_in(w, "editor") == 401
    w.app.state.sessions.forget(lambda live: True)
    w.app.state.serving.keys.forget_user(w.ids["editor"])
    assert c.get("/api/auth/me").status_code == 401
    assert w.bearer(token).get("/api/datasets").status_code == 401
    assert "editor\teditor\tdisabled " in run("user", "list").stdout
    assert run("user", "disable", "nobody").exit_code == 1
    r = run("user", "disable", "admin")
    assert r.exit_code == 1 and "no active admin" in r.stderr
    assert sign_in(w, "admin") == 200
    assert [e["action"] for e in w.audit(action="user.")][:1] == ["user.disable"]


@pytest.fixture
def serve(monkeypatch, tmp_path):
    """`automl serve` up to the point where uvicorn would bind, which records what it would have served."""
    import automl.cli
    import automl.jobs.embedded

    bound: list[str] = []
    monkeypatch.setenv("AUTOML_DATA_DIR", str(tmp_path / "served"))
    monkeypatch.setenv(BIND_HOST_ENV, "127.0.0.1")  # serve sets it; monkeypatch puts it back
    monkeypatch.setattr(automl.cli, "configure_logging", lambda *a, **k: None)
    monkeypatch.setattr(automl.jobs.embedded, "embedded_workers", lambda n: contextlib.nullcontext([]))
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: bound.append(k["host"]))
    get_settings.cache_clear()
    yield bound
    get_settings.cache_clear()


def test_serve_refuses_accounts_off_beyond_loopback(serve, monkeypatch):
    monkeypatch.setenv("AUTOML_AUTH", "off")
    for host in ("0.0.0.0", "10.1.2.3", "::"):
        r = run("serve", "--host", host, "--workers", "0")
        assert r.exit_code == 2 and "AUTOML_AUTH=off is refused" in r.stderr, r.output
    assert serve == []  # it never got as far as binding
    assert run("serve", "--host", "127.0.0.1", "--workers", "0").exit_code == 0
    assert serve == ["127.0.0.1"]


def test_serve_beyond_loopback_turns_accounts_on_and_prints_a_working_setup_link(serve, monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOML_AUTH", "auto")
    r = run("serve", "--host", "0.0.0.0", "--port", "8123", "--workers", "0")
    assert r.exit_code == 0, r.output
    assert serve == ["0.0.0.0"] and "accounts are on" in r.stderr
    secret = re.search(r":8123/setup\?token=([\w-]+)", r.stderr).group(1)
    with world(tmp_path, auth="on", data_dir=tmp_path / "served") as w:
        c = w.client()
        res = c.post("/api/auth/setup", json={"username": "root", "password": PASSWORD},
                     headers={"X-Setup-Token": secret})
        assert res.status_code == 200 and res.json()["role"] == "admin"
    r = run("serve", "--host", "0.0.0.0", "--workers", "0")
    assert "setup?token=" not in r.stderr  # a user exists: no link any more


def test_accounts_without_any_admin_can_still_be_changed(w):
    """Only demoting or disabling the last active admin is refused; an editors-only install stays manageable."""
    assert run("user", "create", "ed", "--role", "editor", "--password-stdin", password=PASSWORD).exit_code == 0
    r = run("user", "set-password", "ed", "--password-stdin", password="another password")
    assert r.exit_code == 0, r.output
    assert run("user", "disable", "ed").exit_code == 0
    assert sign_in(w, "ed", "another password") == 401
