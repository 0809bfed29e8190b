"""One JSON error shape, `{"detail": ...}`, and the one map from domain error classes to HTTP statuses."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from automl.errors import (
    BadInput,
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    RateLimited,
    TooLarge,
    Unauthorized,
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
}


def status_of(exc: DomainError) -> int:
    """The status of the nearest mapped class in the error's MRO (400 for an unmapped DomainError)."""
    return next((STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS), 400)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        status = status_of(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"detail": exc.detail}, status_code=status, headers=headers)
