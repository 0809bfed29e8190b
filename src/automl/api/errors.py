"""One JSON error shape, `{"detail": ...}`, and the one map from domain error classes to HTTP statuses.

Validation errors echo the offending `input`, made safe first: never a password, never NaN or Infinity
(Python's JSON reader takes them, JSON has none: they become the strings "NaN", "Infinity"), nothing that
does not serialise, and nothing long. No message names a server path: one under the data dir, the
temporary dir, the working dir, the home dir or the Python install is cut to its file name. A request whose
only errors are in its path (an id out of range, a word where an id goes) names nothing that exists: 404.
"""
from __future__ import annotations

import math
import os
import re
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from automl.errors import (
    BadInput,
    Conflict,
    DomainError,
    Forbidden,
    InsufficientStorage,
    NotFound,
    RateLimited,
    TooLarge,
    Unauthorized,
    Unavailable,
    Unprocessable,
    UnsupportedMedia,
)

STATUS: dict[type[DomainError], int] = {
    BadInput: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    UnsupportedMedia: 415,
    Unprocessable: 422,
    RateLimited: 429,
    Unavailable: 503,
    InsufficientStorage: 507,
}


def status_of(exc: DomainError) -> int:
    """The status of the nearest mapped class in the error's MRO (400 for an unmapped DomainError)."""
    return next((STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS), 400)


SECRET_FIELDS = frozenset({"password"})


def hide_secrets(error: dict[str, Any]) -> dict[str, Any]:
    """A validation error without its `input` where that is (or holds) a password: a password is never echoed."""
    loc, value = error.get("loc") or (), error.get("input")
    if (loc and loc[-1] in SECRET_FIELDS) or (isinstance(value, dict) and SECRET_FIELDS & value.keys()):
        return {k: v for k, v in error.items() if k != "input"}
    return error


MAX_ECHO = 200  # characters of an echoed input; longer ones are cut


def json_safe(value: Any) -> Any:
    """`value` as strict JSON can carry it: non-finite floats as their names, odd objects as short strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    try:
        return json_safe(jsonable_encoder(value))
    except Exception:  # noqa: BLE001 - whatever it is, it is only echoed
        return repr(value)[:MAX_ECHO]


def _short(value: Any) -> Any:
    """An echoed input, cut to MAX_ECHO characters of its text where it is longer (a 60 MB body is not echoed)."""
    text = value if isinstance(value, str) else repr(value)
    return value if len(text) <= MAX_ECHO else f"{text[:MAX_ECHO]}... ({len(text)} characters)"


def safe_errors(errors: Any) -> list[dict[str, Any]]:
    out = []
    for error in errors:
        error = hide_secrets(dict(error))
        if "input" in error:
            error["input"] = _short(json_safe(error["input"]))
        out.append(json_safe(error))
    return out


@lru_cache(maxsize=8)
def _server_paths(data_dir: str) -> re.Pattern[str]:
    roots = {data_dir, str(Path(data_dir).resolve()), tempfile.gettempdir(), os.getcwd(), str(Path.home()),
             sys.prefix, sys.base_prefix}
    absolute = sorted({r.rstrip("/") for r in roots if r.startswith("/")} - {""}, key=len, reverse=True)
    alternatives = "|".join(map(re.escape, absolute))
    return re.compile(rf"(?:{alternatives})(?![\w.-])(?:/[^\s'\"(),;:]*)?")


def without_paths(value: Any, data_dir: str) -> Any:
    """`value` (a detail: text, or lists and dicts of it) with each server path cut to its last part."""
    if isinstance(value, str):
        return _server_paths(data_dir).sub(lambda m: Path(m.group(0)).name or "(server)", value)
    if isinstance(value, dict):
        return {k: without_paths(v, data_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [without_paths(v, data_dir) for v in value]
    return value


def _data_dir(request: Request) -> str:
    settings = getattr(request.app.state, "settings", None)
    return str(settings.data_dir) if settings is not None else os.getcwd()


ERROR_DETAIL = {"anyOf": [
    {"type": "string"},
    {"type": "array", "items": {"type": "object", "required": ["msg"], "properties": {
        "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
        "msg": {"type": "string"}, "type": {"type": "string"}, "column": {"type": "string"}}}},
], "title": "Detail", "description": "A message, or one entry per problem (where, what)."}


def _document_errors(app: FastAPI) -> None:
    """/openapi.json says what a 422 really holds: FastAPI's validation list, or a service's message (a
    string, or problems naming columns), all in the one `{"detail": ...}` shape."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            error = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError")
            if error is not None:
                error["properties"]["detail"] = ERROR_DETAIL
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    _document_errors(app)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = without_paths(safe_errors(exc.errors()), _data_dir(request))
        if errors and all(e.get("loc", ())[:1] == ["path"] for e in errors):
            names = ", ".join(f"{e['loc'][-1]} {e.get('input')!s:.40}" for e in errors)
            return JSONResponse({"detail": f"not found: no object has {names}"}, status_code=404)
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        status = status_of(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, Unavailable):
            headers = {"Retry-After": str(exc.retry_after_s)}
        detail = without_paths(json_safe(exc.detail), _data_dir(request))
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
