"""One JSON error shape, `{"detail": ...}`, and the one map from domain error classes to HTTP statuses."""
from __future__ import annotations

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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": jsonable_encoder([hide_secrets(e) for e in exc.errors()])}, status_code=422)

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        status = status_of(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, Unavailable):
            headers = {"Retry-After": str(exc.retry_after_s)}
        return JSONResponse({"detail": exc.detail}, status_code=status, headers=headers)
