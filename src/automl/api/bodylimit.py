"""Request bodies are bounded before they are read (issue 13, row 6): a pure ASGI middleware.

Every body but a multipart upload is held to AUTOML_MAX_JSON_MB: a declared Content-Length over it is a 413
before the app sees the request, and a body without one (chunked) is counted as it arrives; past the limit
the rest is read out and thrown away (constant memory; the client, which sends everything before reading,
gets the 413 instead of a connection reset) and whatever the app would have answered becomes the 413.
Multipart uploads are bounded by the route's own streaming limit (AUTOML_MAX_UPLOAD_MB, api/uploads.py);
here only as a backstop at that limit plus room for the multipart framing.

Installed inside authentication, so with accounts on an anonymous request is a 401 before a byte of its
body is read. A route that refuses a request before reading its body calls `discard_body`, which reads it
out without counting (nothing is kept), so that its own answer (401, 404) stands.
"""
from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from automl.api.guard import refuse
from automl.errors import TooLarge

DISCARD = "automl.discard_body"
MULTIPART_SLACK = 1 << 20  # boundaries and part headers around the uploaded file


class BodyTooLarge(TooLarge):
    """Raised from `receive` once a body passes its limit; the middleware answers 413 whatever happens next."""


async def discard_body(request: Request) -> None:
    """Read out and drop the rest of the body (a refusal decided before reading it)."""
    request.scope[DISCARD] = True
    try:
        async for _ in request.stream():
            pass
    except Exception:  # noqa: BLE001 - the body was already read, or the client went away: nothing to drop
        return


class LimitBody:
    def __init__(self, app: ASGIApp, *, max_json_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_json_bytes = max_json_bytes
        self.max_upload_bytes = max_upload_bytes

    def _limit(self, headers: Headers) -> tuple[int, str]:
        """The cap on this body, and the 413's message."""
        if headers.get("content-type", "").lower().startswith("multipart/form-data"):
            return (self.max_upload_bytes + MULTIPART_SLACK,
                    f"the file is larger than the upload limit of {self.max_upload_bytes >> 20} MB "
                    "(AUTOML_MAX_UPLOAD_MB)")
        return (self.max_json_bytes, f"the request body is larger than the limit of {self.max_json_bytes >> 20} MB "
                                     "for JSON and forms (AUTOML_MAX_JSON_MB); send files as uploads")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit, message = self._limit(headers)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _drain(receive)
            await refuse(send, 413, message)
            return
        await _Guarded(scope, receive, send, limit=limit, message=message).run(self.app)


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


class _Guarded:
    """One request: counts its body as the app reads it; once over, the app's answer is replaced by a 413."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, *, limit: int, message: str) -> None:
        self.scope, self._receive, self._send = scope, receive, send
        self.limit, self.message = limit, message
        self.seen = 0
        self.over = False
        self.started = False
        self.replaced = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] != "http.request" or self.scope.get(DISCARD):
            return message
        self.seen += len(message.get("body", b""))
        if self.seen > self.limit:
            self.over = True
            if message.get("more_body", False):
                await _drain(self._receive)
            raise BodyTooLarge(self.message)
        return message

    async def send(self, message: Message) -> None:
        if self.over and not self.started:  # the app answers a truncated body (FastAPI: "error parsing the
            if message["type"] == "http.response.start":  # body"), or our exception: say why instead
                self.started = self.replaced = True
                await refuse(self._send, 413, self.message)
            return
        if self.replaced:
            return
        self.started = self.started or message["type"] == "http.response.start"
        await self._send(message)

    async def run(self, app: Any) -> None:
        try:
            await app(self.scope, self.receive, self.send)
        except BodyTooLarge:
            if self.started:
                return  # answered already (the 413 itself, most likely); nothing more to say
            self.started = self.replaced = True
            await refuse(self._send, 413, self.message)
