"""The pages with accounts on: sign-in and setup pages, the user menu, the admin page (admins only), controls a
role may not use left out, and no inline script anywhere (the CSP forbids it)."""
from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
import web_seed as seed
from fastapi.testclient import TestClient

from automl.config import Settings
from automl.main import create_app
from automl.services import apikeys, users
from automl.web.pages import safe_next

PASSWORD = "correct horse battery staple"
WRITE_TESTIDS = ("deploy-api", "deploy-batch", "artifact-download", "batch-input", "batch-submit")


class Tags(HTMLParser):
    """Start tags as (tag, attrs) and the text of each inline <script> element."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script = dict(attrs)
            self.scripts.append((self._script, ""))

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def testid(self, name: str) -> list[dict[str, str | None]]:
        return [a for _, a in self.tags if a.get("data-testid") == name]


def assert_no_inline_code(html: str, where: str) -> None:
    tags = Tags(html)
    for attrs, text in tags.scripts:
        assert attrs.get("src") or attrs.get("type") == "application/json", f"{where}: inline script {text[:80]!r}"
        assert not (attrs.get("src") and text.strip()), where
    handlers = [(t, k) for t, a in tags.tags for k in a if k.startswith("on")]
    assert not handlers, f"{where}: inline event handlers {handlers[:3]}"
    assert "javascript:" not in html.lower(), where


@pytest.fixture
def auth_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", auth="on", _env_file=None)  # type: ignore[call-arg]
    with TestClient(create_app(settings), base_url="http://localhost") as c:
        yield c


def add_user(client: TestClient, name: str, role: str) -> None:
    with client.app.state.db.session() as s:
        users.create_user(s, name, PASSWORD, role)


def sign_in(client: TestClient, name: str, role: str) -> None:
    add_user(client, name, role)
    client.cookies.clear()  # a new sign-in, not a request of the previous session (which would need its CSRF token)
    resp = client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
    assert resp.status_code == 200, resp.text


def get(client: TestClient, path: str, status: int = 200) -> tuple[str, Tags]:
    resp = client.get(path, follow_redirects=False)
    assert resp.status_code == status, (path, resp.status_code, resp.text[:300])
    return resp.text, Tags(resp.text)


def seeded(client: TestClient) -> dict[str, int]:
    db = client.app.state.db
    ds = seed.dataset(db)
    exp, models = seed.experiment(db, ds, status="running")
    seed.batch(db, models[0], status="completed")
    return {"dataset": ds, "experiment": exp, "model": models[0]}


def test_login_page_is_a_plain_form(auth_client: TestClient) -> None:
    html, tags = get(auth_client, "/login?next=/models/3")
    names = {a.get("name") for t, a in tags.tags if t == "input"}
    assert {"username", "password"} <= names
    (submit,) = tags.testid("login-submit")
    assert submit.get("type") == "submit"
    assert '<script src="/static/js/login.js"' in html
    assert not tags.testid("user-menu") and 'href="/#datasets"' not in html  # nothing to browse yet
    assert_no_inline_code(html, "/login")


def test_setup_page_has_the_three_fields(auth_client: TestClient) -> None:
    html, tags = get(auth_client, "/setup?token=abc")
    names = [a.get("name") for t, a in tags.tags if t == "input"]
    assert names == ["username", "password", "confirm"]
    assert "abc" not in html  # the token is read by setup.js from the address, never echoed
    assert_no_inline_code(html, "/setup")


def test_with_accounts_off_login_and_setup_go_home(client: TestClient) -> None:
    for path in ("/login", "/login?next=/admin", "/setup?token=x"):
        resp = client.get(path, follow_redirects=False)
        assert resp.status_code == 303 and resp.headers["location"] == "/", path


def test_a_signed_in_user_is_sent_on_from_the_login_page(auth_client: TestClient) -> None:
    sign_in(auth_client, "vera", "viewer")
    for asked, lands in (("/models/3?x=1", "/models/3?x=1"), ("//evil.example/", "/"), ("https://evil.example", "/"),
                         ("/\\evil.example", "/")):
        resp = auth_client.get("/login", params={"next": asked}, follow_redirects=False)
        assert resp.status_code == 303 and resp.headers["location"] == lands, asked


def test_safe_next_keeps_only_paths_on_this_site() -> None:
    assert safe_next("/experiments/4") == "/experiments/4"
    assert safe_next("/a?b=c#d") == "/a?b=c#d"
    for bad in (None, "", "x", "//evil", "/\\evil", "https://evil", "/\x00", "javascript:alert(1)"):
        assert safe_next(bad) == "/", bad


def test_the_user_menu_names_the_user_and_links_admins_to_admin(auth_client: TestClient) -> None:
    sign_in(auth_client, "vera", "viewer")
    html, tags = get(auth_client, "/")
    (menu,) = tags.testid("user-menu")
    assert ">vera<" in html and ">viewer<" in html
    assert tags.testid("sign-out") and not tags.testid("admin-link")
    sign_in(auth_client, "ada", "admin")
    html, tags = get(auth_client, "/")
    assert ">ada<" in html and tags.testid("admin-link")[0]["href"] == "/admin"


def test_no_user_menu_with_accounts_off(client: TestClient) -> None:
    html, tags = get(client, "/")
    assert not tags.testid("user-menu") and not tags.testid("sign-out")


def test_a_viewer_reads_and_predicts_but_sees_no_write_controls(auth_client: TestClient) -> None:
    ids = seeded(auth_client)
    sign_in(auth_client, "vera", "viewer")
    _, tags = get(auth_client, f"/models/{ids['model']}")
    assert tags.testid("predict-form") and tags.testid("predict-submit")  # predicting is a viewer's right
    assert [t for t in WRITE_TESTIDS if tags.testid(t)] == []
    assert not tags.testid("batch-download") and not tags.testid("deploy-button")
    _, tags = get(auth_client, f"/experiments/{ids['experiment']}")
    assert tags.testid("leaderboard-row") and not tags.testid("deploy-button")
    assert not tags.testid("cancel-experiment")
    _, tags = get(auth_client, f"/experiments/{ids['experiment']}/live")
    assert not tags.testid("deploy-button")
    _, tags = get(auth_client, f"/datasets/{ids['dataset']}")
    assert tags.testid("dataset-profile") and not tags.testid("start-experiment")
    assert not tags.testid("delete-dataset")
    _, tags = get(auth_client, "/")
    assert not tags.testid("upload-input") and tags.testid("upload-not-allowed")
    batches = get(auth_client, f"/models/{ids['model']}/batches")[1]
    assert not batches.testid("batch-download")


def test_an_editor_gets_every_control(auth_client: TestClient) -> None:
    ids = seeded(auth_client)
    sign_in(auth_client, "ed", "editor")
    _, tags = get(auth_client, f"/models/{ids['model']}")
    assert [t for t in WRITE_TESTIDS if not tags.testid(t)] == []
    _, tags = get(auth_client, f"/experiments/{ids['experiment']}")
    assert len(tags.testid("deploy-button")) == 2 and tags.testid("cancel-experiment")
    _, tags = get(auth_client, "/")
    assert tags.testid("upload-input")
    _, tags = get(auth_client, f"/models/{ids['model']}/batches")
    assert tags.testid("batch-download")


def test_the_keys_card_lists_only_ones_own_keys(auth_client: TestClient) -> None:
    ids = seeded(auth_client)
    add_user(auth_client, "ada", "admin")
    with auth_client.app.state.db.session() as s:
        apikeys.create_key(s, "someone-elses-key")  # made from the shell: nobody's
    sign_in(auth_client, "vera", "viewer")
    html, _ = get(auth_client, f"/models/{ids['model']}")
    assert "someone-elses-key" not in html
    assert "someone-elses-key" not in get(auth_client, "/keys/fragment")[0]


def test_the_admin_page_is_for_admins(auth_client: TestClient) -> None:
    sign_in(auth_client, "ada", "admin")
    html, tags = get(auth_client, "/admin")
    for testid in ("users-table", "tokens-table", "audit-table", "user-create", "token-create", "audit-filter"):
        assert tags.testid(testid), testid
    scopes = [a["value"] for t, a in tags.tags if a.get("name") == "scopes"]
    assert scopes == ["read", "predict", "write", "metrics", "admin"]
    assert '<script src="/static/js/admin.js"' in html
    assert_no_inline_code(html, "/admin")
    for name, role in (("ed", "editor"), ("vera", "viewer")):
        sign_in(auth_client, name, role)
        html, tags = get(auth_client, "/admin", status=403)
        assert "Not allowed" in html and not tags.testid("users-table")


def test_anonymous_pages_redirect_to_login(auth_client: TestClient) -> None:
    for path in ("/", "/admin", "/models/1"):
        resp = auth_client.get(path, follow_redirects=False)
        assert resp.status_code == 303 and resp.headers["location"].startswith("/login?next="), path


def test_no_page_carries_inline_script(auth_client: TestClient) -> None:
    ids = seeded(auth_client)
    sign_in(auth_client, "ada", "admin")
    for path in ("/", f"/datasets/{ids['dataset']}", f"/experiments/{ids['experiment']}",
                 f"/experiments/{ids['experiment']}/live", f"/models/{ids['model']}",
                 f"/models/{ids['model']}/batches", "/keys/fragment", "/admin", "/docs"):
        assert_no_inline_code(get(auth_client, path)[0], path)
    for path in ("/docs", "/static/js/app.js"):
        assert auth_client.get(path).headers["content-security-policy"].startswith("default-src 'self'")


def test_every_page_script_file_exists(auth_client: TestClient) -> None:
    sign_in(auth_client, "ada", "admin")
    for path in ("/", "/admin", "/docs"):
        for t, attrs in get(auth_client, path)[1].tags:
            if t == "script" and attrs.get("src", "").startswith("/static/"):
                assert auth_client.get(attrs["src"]).status_code == 200, attrs["src"]
