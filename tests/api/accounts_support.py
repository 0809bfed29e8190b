"""Helpers for the accounts tests: one app with AUTOML_AUTH=on, users made on demand (through the service, so
their passwords are really hashed with Argon2id), and one TestClient per signed-in user or token.

Every client shares the app (and so its database, session store and token cache); only the first, opened by
`world()`, runs the lifespan. Clients never follow redirects, so a test sees the 303 to /login itself.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from serving_support import add_model, fitted, rows, table
from sqlalchemy import update

from automl.config import Settings
from automl.db.models import User
from automl.main import create_app
from automl.services import users

PASSWORD = "correct horse battery staple"
BASE = "http://localhost"
ADDRESS = ("testclient", 50000)


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(**{"data_dir": tmp_path / "data", "auth": "on", **overrides}, _env_file=None)  # type: ignore[arg-type]


def csv_bytes(n: int = 60) -> bytes:
    return table(n).to_csv(index=False).encode()


class World:
    """The app under test and its users; `login(name)` signs a user in (made on first use, role = its name
    unless given) and returns that user's own client, with the CSRF header set."""

    def __init__(self, client: TestClient, settings: Settings) -> None:
        self.anon = client
        self.app = client.app
        self.settings = settings
        self.ids: dict[str, int] = {}
        self.clients: dict[str, TestClient] = {}

    def client(self, *, base_url: str = BASE, address: tuple[str, int] = ADDRESS,
               headers: dict[str, str] | None = None) -> TestClient:
        return TestClient(self.app, base_url=base_url, follow_redirects=False, client=address, headers=headers)

    def user(self, name: str, role: str | None = None, password: str = PASSWORD) -> int:
        if name not in self.ids:
            with self.app.state.db.session() as s:
                self.ids[name] = users.create_user(s, name, password, role or name).id
        return self.ids[name]

    def login(self, name: str, role: str | None = None, *, csrf: bool = True, base_url: str = BASE) -> TestClient:
        """The user's signed-in client (cached per name while `csrf` and `base_url` are the defaults)."""
        key = name if csrf and base_url == BASE else None
        if key in self.clients:
            return self.clients[key]
        self.user(name, role)
        c = self.client(base_url=base_url)
        r = c.post("/api/auth/login", json={"username": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        c.csrf = r.headers["x-csrf-token"]  # type: ignore[attr-defined]
        c.login_response = r  # type: ignore[attr-defined]
        if csrf:
            c.headers["X-CSRF-Token"] = c.csrf  # type: ignore[attr-defined]
        if key is not None:
            self.clients[key] = c
        return c

    def bearer(self, secret: str) -> TestClient:
        return self.client(headers={"Authorization": f"Bearer {secret}"})

    def mint(self, name: str, scopes: list[str], **body: Any) -> dict[str, Any]:
        """A token created by `name`'s session; the response body (with the secret)."""
        r = self.login(name).post("/api/tokens", json={"name": f"{name}-{'-'.join(scopes)}", "scopes": scopes, **body})
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    def model(self, *, api: bool = True, batch: bool = False) -> int:
        return add_model(self.settings, fitted(), deployed_api=api, deployed_batch=batch)

    def set_user(self, name: str, **values: Any) -> None:
        """Change a user's row behind the server's back (as another process would)."""
        with self.app.state.db.session() as s:
            s.execute(update(User).where(User.id == self.ids[name]).values(**values))

    def audit(self, **params: Any) -> list[dict[str, Any]]:
        r = self.login("admin").get("/api/audit", params={"limit": 1000, **params})
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]


@contextmanager
def world(tmp_path: Path, **overrides: Any) -> Iterator[World]:
    settings = settings_for(tmp_path, **overrides)
    with TestClient(create_app(settings), base_url=BASE, follow_redirects=False) as client:
        yield World(client, settings)


def predict(client: TestClient, model_id: int, n: int = 1) -> int:
    return client.post(f"/api/v1/predict/{model_id}", json={"data": rows(n)}).status_code


def upload(client: TestClient, name: str = "synth.csv") -> Any:
    return client.post("/api/datasets/upload", files={"file": (name, csv_bytes())})


def set_cookie_headers(response: Any, name: str) -> str:
    """The Set-Cookie header that sets `name`, lower-cased ("" when none does)."""
    return next((h.lower() for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")), "")
