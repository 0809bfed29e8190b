from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from automl.api.deps import DbDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(db: DbDep) -> JSONResponse:
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - report any database failure as not ready
        return JSONResponse({"status": "unavailable", "detail": str(exc)[:200]}, status_code=503)
    return JSONResponse({"status": "ok"})
