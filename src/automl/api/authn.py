"""Authentication for every request, default deny: with accounts on, a request without a valid session
cookie or token gets 401 (API) or a redirect to /login (pages) before routing, body parsing or a 404, so a
route added tomorrow is closed too. Cookie sessions must echo their CSRF token on state-changing requests.
What an authenticated principal may do is checked by each route (`allow(...)` in api/deps.py).

With accounts off (loopback only) every request acts as the local operator, as before accounts existed.
"""
from __future__ import annotations

import secrets
from urllib.parse import quote

from anyio import to_thread
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from automl.api.guard import UNSAFE, refuse
from automl.errors import Forbidden, Unauthorized
from automl.services import users
from automl.services.apikeys import KeyChecker, secret_from_headers
from automl.services.permissions import Kind, Principal
from automl.services.sessions import SessionStore

SESSION_COOKIE = "automl_session"
CSRF_COOKIE = "automl_csrf"
CSRF_HEADER = "x-csrf-token"
SETUP_HEADER = "x-setup-token"
SETUP_PATH = "/api/auth/setup"
OPEN = frozenset({("GET", "/healthz"), ("GET", "/login"), ("GET", "/setup"), ("GET", "/favicon.ico"),
                  ("POST", "/api/auth/login")})
NOT_PAGES = ("/api/", "/openapi.json", "/metrics")


def is_open(method: str, path: str) -> bool:
    method = "GET" if method == "HEAD" else method
    return (method, path) in OPEN or (method == "GET" and path.startswith("/static/"))


class Authenticate:
    def __init__(self, app: ASGIApp, *, enabled: bool) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope["client"][0] if scope.get("client") else None
        if not self.enabled:
            scope.setdefault("state", {})["principal"] = Principal.local(client)
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            principal = await self._principal(scope, headers, client)
        except Unauthorized as exc:
            await refuse(send, 401, str(exc.detail), [(b"www-authenticate", b"Bearer")])
            return
        except Forbidden as exc:
            await refuse(send, 403, str(exc.detail))
            return
        if principal is None:
            if is_open(scope["method"], scope["path"]):
                principal = Principal.anonymous(client)
            else:
                await self._challenge(scope, headers, send)
                return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    async def _principal(self, scope: Scope, headers: Headers, client: str | None) -> Principal | None:
        state = scope["app"].state
        secret = secret_from_headers(headers.get("authorization"), headers.get("x-api-key"))
        if secret:
            keys: KeyChecker = state.serving.keys
            grant = keys.cached(secret) or await to_thread.run_sync(keys.check, secret)
            assert grant is not None  # a secret was given: check() returned a grant or raised
            return grant.principal(client)
        if scope["path"] == SETUP_PATH and headers.get(SETUP_HEADER):
            return await self._setup(state, headers[SETUP_HEADER], client)
        cookie = cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE)
        if not cookie:
            return None
        store: SessionStore = state.sessions
        live = store.cached(cookie) or await to_thread.run_sync(store.lookup, cookie)
        if live is None:
            return None
        unsafe = scope["method"] in UNSAFE and not is_open(scope["method"], scope["path"])  # signing in anew is
        if unsafe and not secrets.compare_digest(headers.get(CSRF_HEADER, ""), live.csrf):  # Origin-checked
            raise Forbidden("missing or wrong X-CSRF-Token header (it is in the automl_csrf cookie)")
        return store.principal(live, client)

    async def _setup(self, state: object, secret: str, client: str | None) -> Principal:
        def valid() -> bool:
            with state.db.session() as s:  # type: ignore[attr-defined]
                return users.setup_token_valid(s, secret)

        if not await to_thread.run_sync(valid):
            raise Unauthorized("this setup link is invalid or was already used")
        return Principal(Kind.SETUP, client=client)

    async def _challenge(self, scope: Scope, headers: Headers, send: Send) -> None:
        path = scope["path"]
        page = scope["method"] in ("GET", "HEAD") and not path.startswith(NOT_PAGES)
        if not page:
            await refuse(send, 401, "sign in or send 'Authorization: Bearer <token>'",
                         [(b"www-authenticate", b"Bearer")])
            return
        query = scope.get("query_string", b"").decode("latin-1")
        target = "/login?next=" + quote(path + (f"?{query}" if query else ""), safe="")
        if headers.get("hx-request"):  # htmx swaps fragments: ask it to load the login page instead
            await refuse(send, 401, "signed out", [(b"hx-redirect", target.encode())])
            return
        await send({"type": "http.response.start", "status": 303, "headers": [(b"location", target.encode())]})
        await send({"type": "http.response.body", "body": b""})
