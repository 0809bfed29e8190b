"""Issue 13 row 3: every write is committed before the response that reports it.

Before: the request's session committed after the response was sent, so with the data disk full
`POST /api/experiments` answered 202 `{"id": 1}` and `POST /api/keys` 201 with a key that did not exist. Now
the session dependency is function-scoped (api/deps.py) and a failed commit is the client's answer: here
every commit fails as SQLite does on a full disk, and each write route must answer 507 and leave nothing.
"""
from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from automl.api.deps import get_session
from automl.config import Settings
from automl.main import create_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from serving_support import add_model, fitted  # noqa: E402

pytestmark = pytest.mark.battery
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
CSV = b"a,b,label\n" + b"".join(f"{i},{i % 7},{'yes' if i % 3 else 'no'}\n".encode() for i in range(60))


def _session_deps(dependant: Any) -> Iterator[Any]:
    for dep in dependant.dependencies:
        if dep.call is get_session:
            yield dep
        yield from _session_deps(dep)


def test_every_write_route_commits_its_session_before_answering(settings: Settings) -> None:
    app = create_app(settings)
    checked = 0
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and route.methods & WRITE_METHODS:
            for dep in _session_deps(route.dependant):
                assert dep.scope == "function", f"{route.path}: its session would commit after the response"
                checked += 1
    assert checked >= 10


def test_a_commit_that_fails_is_the_answer_and_nothing_is_kept(settings: Settings, monkeypatch) -> None:
    with TestClient(create_app(settings), base_url="http://localhost") as c:
        model_id = add_model(settings, fitted(), deployed_api=False)
        ds = c.post("/api/datasets/upload", files={"file": ("t.csv", CSV, "text/csv")}).json()["id"]
        before = {p: c.get(p).json()["total"] for p in ("/api/keys", "/api/datasets", "/api/experiments")}

        def fail(self: Session) -> None:
            raise OperationalError("COMMIT", {}, sqlite3.OperationalError("database or disk is full"))

        monkeypatch.setattr(Session, "commit", fail)
        writes = [
            c.post("/api/keys", json={"name": "never"}),
            c.post("/api/experiments", json={"dataset_id": ds, "target_column": "label", "time_budget_s": 5}),
            c.post("/api/datasets/upload", files={"file": ("u.csv", CSV, "text/csv")}),
            c.post(f"/api/models/{model_id}/deploy", json={"api": True}),
            c.delete(f"/api/datasets/{ds}"),
        ]
        monkeypatch.undo()
        for r in writes:
            assert r.status_code == 507, (r.request.method, r.request.url.path, r.status_code, r.text)
            assert "disk is full" in r.json()["detail"]
        after = {p: c.get(p).json()["total"] for p in ("/api/keys", "/api/datasets", "/api/experiments")}
        assert after == before
        assert c.get(f"/api/models/{model_id}").json()["deployed_api"] is False
        assert c.get(f"/api/datasets/{ds}").status_code == 200
    data = settings.data_dir
    assert not list((data / "uploads").iterdir())
    assert len(list((data / "datasets").iterdir())) == 1  # the one uploaded before the disk filled
