"""Default deny with accounts on: every route refuses anonymous requests (401 for the API, a redirect to /login
for pages), unknown paths too; every route declares the permission it needs, so a new route cannot be open by
accident; every response, errors included, carries the browser protections."""
from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from accounts_support import World, world
from fastapi.routing import APIRoute, iter_route_contexts

from automl.api.authn import OPEN
from automl.config import Settings
from automl.main import create_app

SCHEMA_OPEN = {("GET", "/healthz"), ("POST", "/api/auth/login")}
PAGES = ["/", "/datasets/1", "/experiments/1", "/models/1", "/admin", "/docs", "/models/1/batches",
         "/experiments/1/live", "/keys/fragment"]
NOT_PAGES = ["/openapi.json", "/metrics"]


@pytest.fixture
def w(tmp_path) -> Iterator[World]:
    with world(tmp_path) as w:
        yield w


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def schema_operations(app) -> list[tuple[str, str]]:
    return [(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops
            if m in ("get", "post", "put", "patch", "delete")]


def test_every_schema_route_refuses_anonymous_requests(w):
    operations = schema_operations(w.app)
    assert len(operations) >= 30, operations
    assert SCHEMA_OPEN <= set(operations)
    anon = w.client()
    let_through = []
    for method, path in operations:
        if (method, path) in SCHEMA_OPEN:
            continue
        body = {} if method in ("POST", "PUT", "PATCH") else None
        r = anon.request(method, concrete(path), json=body)
        if r.status_code != 401 or r.headers.get("www-authenticate") != "Bearer":
            let_through.append(f"{method} {path} -> {r.status_code}")
    assert not let_through, let_through


def test_open_routes_stay_open(w):
    anon = w.client()
    assert anon.get("/healthz").json() == {"status": "ok"}
    assert anon.get("/login").status_code == 200
    assert anon.get("/favicon.ico").status_code == 200
    assert anon.get("/static/js/app.js").status_code == 200
    assert anon.head("/healthz").status_code in (200, 405)  # HEAD counts as GET: never a 401
    # the sign-in route itself answers for what it is, not with a challenge
    assert anon.post("/api/auth/login", json={}).status_code == 422
    assert anon.post("/api/auth/login", json={"username": "nobody", "password": "x"}).status_code == 401


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_anonymous_visitors_to_sign_in(w, path):
    r = w.client().get(path + "?tab=2")
    assert r.status_code == 303, r.text
    location = urlsplit(r.headers["location"])
    assert location.path == "/login" and not location.netloc
    assert parse_qs(location.query)["next"] == [path + "?tab=2"]


def test_htmx_fragments_get_a_401_that_points_to_sign_in(w):
    r = w.client().get("/models/1/batches", headers={"HX-Request": "true"})
    assert r.status_code == 401
    assert r.headers["hx-redirect"].startswith("/login?next=")


@pytest.mark.parametrize("path", NOT_PAGES)
def test_schema_and_metrics_are_not_pages_and_answer_401(w, path):
    r = w.client().get(path)
    assert r.status_code == 401 and "location" not in r.headers


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/nope"), ("POST", "/api/nope"), ("DELETE", "/nope/1"),
                                              ("GET", "/api/datasets/1/nope"), ("PUT", "/api/datasets/1")])
def test_unknown_routes_are_401_not_404(w, method, path):
    r = w.client().request(method, path)
    assert r.status_code == 401, (method, path, r.status_code)


def test_unknown_pages_redirect_and_unknown_routes_are_404_once_signed_in(w):
    assert w.client().get("/nope").status_code == 303
    viewer = w.login("viewer")
    assert viewer.get("/docs").status_code == 200 and viewer.get("/openapi.json").status_code == 200
    assert viewer.get("/api/nope").status_code == 404
    assert viewer.put("/api/datasets/1").status_code == 405


def test_bad_credentials_are_401_not_anonymous(w):
    """A wrong token or a stale cookie is not silently treated as anonymous on an open route."""
    assert w.client(headers={"Authorization": "Bearer aml_nope"}).get("/api/datasets").status_code == 401
    assert w.client(headers={"Authorization": "Bearer aml_nope"}).get("/healthz").status_code == 401
    stale = w.client()
    stale.cookies.set("automl_session", "not-a-session")
    assert stale.get("/api/auth/me").status_code == 401
    assert stale.get("/").status_code == 303


def api_routes(app) -> list:
    """Every FastAPI route with its router's dependencies (FastAPI keeps included routers as branches)."""
    return [rc for rc in iter_route_contexts(app.routes) if isinstance(rc.original_route, APIRoute)]


def _permission_labels(route) -> list[object]:
    labels, stack = [], list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if hasattr(dep.call, "permission"):
            labels.append(dep.call.permission)
        stack.extend(dep.dependencies)
    return labels


def test_every_route_declares_its_permission(tmp_path):
    app = create_app(Settings(data_dir=tmp_path / "data", _env_file=None))  # type: ignore[call-arg]
    undeclared, twice = set(), []
    routes = api_routes(app)
    assert len(routes) >= 40
    for route in routes:
        labels = _permission_labels(route)
        for method in route.methods:
            if not labels:
                undeclared.add((method, route.path))
            elif len(labels) > 1:
                twice.append(f"{method} {route.path}: {labels}")
    # exactly the routes the middleware lets through without credentials, and no others
    assert undeclared == {(m, p) for m, p in OPEN}, undeclared ^ set(OPEN)
    assert not twice, twice


def test_the_open_set_names_only_real_routes(tmp_path):
    app = create_app(Settings(data_dir=tmp_path / "data", _env_file=None))  # type: ignore[call-arg]
    routes = {(m, r.path) for r in api_routes(app) for m in r.methods}
    assert set(OPEN) <= routes


def _assert_protected(r, where: str) -> None:
    csp = r.headers.get("content-security-policy", "")
    directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";") if d.strip())
    script_src = directives.get("script-src", directives.get("default-src"))
    assert script_src is not None and "unsafe-inline" not in script_src and "unsafe-eval" not in script_src, where
    assert directives.get("frame-ancestors") == "'none'", where
    assert directives.get("object-src") == "'none'", where
    assert r.headers.get("x-content-type-options") == "nosniff", where
    assert r.headers.get("x-frame-options") == "DENY", where
    assert r.headers.get("referrer-policy") in ("same-origin", "no-referrer", "strict-origin-when-cross-origin"), where


def test_security_headers_on_every_kind_of_response(w):
    anon, viewer = w.client(), w.login("viewer")
    responses = {
        "api 200": viewer.get("/api/datasets"),
        "api 404": viewer.get("/api/datasets/999"),
        "api 422": viewer.get("/api/datasets?limit=0"),
        "page 200": viewer.get("/"),
        "page 404": viewer.get("/datasets/999"),
        "page 403": viewer.get("/admin"),
        "login page": anon.get("/login"),
        "static": anon.get("/static/js/app.js"),
        "healthz": anon.get("/healthz"),
        "401": anon.get("/api/datasets"),
        "303": anon.get("/"),
        "403 csrf": w.login("viewer", csrf=False).post("/api/tokens", json={"name": "t", "scopes": ["read"]}),
        "403 origin": viewer.delete("/api/datasets/1", headers={"Origin": "http://evil.example"}),
        "400 host": anon.get("/api/datasets", headers={"Host": "evil.example"}),
        "429/401 login": anon.post("/api/auth/login", json={"username": "x", "password": "y"}),
    }
    for where, r in responses.items():
        _assert_protected(r, f"{where} ({r.status_code})")
    assert responses["page 403"].status_code == 403 and responses["400 host"].status_code == 400
