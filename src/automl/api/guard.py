"""Checks every request before anything else, with authentication on or off: the Host header must be one the
server answers to (DNS rebinding), a state-changing request must not come from a foreign origin (CSRF from
any page the operator opens), and every response carries the browser protections (CSP, nosniff, framing).
Pure ASGI, so the refusals cost no routing and no body parsing."""
from __future__ import annotations

from urllib.parse import urlsplit

import orjson
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from automl.services.exposure import Exposure

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HOSTLESS = frozenset({"/healthz"})  # probes address pods by IP; it says nothing but "ok"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
       "frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


async def refuse(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *(headers or [])]})
    await send({"type": "http.response.body", "body": orjson.dumps({"detail": detail})})


def hostname(host_header: str) -> str:
    return (urlsplit(f"//{host_header}").hostname or "").lower()


def foreign_origin(headers: Headers) -> bool:
    """True for a request a browser made on behalf of another site."""
    origin = headers.get("origin")
    if origin is not None:
        return origin == "null" or urlsplit(origin).netloc.lower() != headers.get("host", "").lower()
    return headers.get("sec-fetch-site") == "cross-site"


class Guard:
    def __init__(self, app: ASGIApp, exposure: Exposure) -> None:
        self.app = app
        self.exposure = exposure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        api = scope["path"].startswith("/api/")

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in present]
                if api and b"cache-control" not in present:  # secrets (tokens, CSRF) never sit in a cache
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        headers = Headers(scope=scope)
        if scope["path"] not in HOSTLESS and not self.exposure.host_allowed(hostname(headers.get("host", ""))):
            await refuse(send_secured, 400, "unknown Host header; add the name to AUTOML_ALLOWED_HOSTS")
            return
        if scope["method"] in UNSAFE and foreign_origin(headers):
            await refuse(send_secured, 403, "cross-origin request refused")
            return
        await self.app(scope, receive, send_secured)
