"""The audit log (admins only), newest first."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from automl.api.deps import Offset, SessionDep, allow
from automl.schemas.accounts import AuditEntry
from automl.services import audit
from automl.services.permissions import Permission

router = APIRouter(prefix="/api/audit", tags=["accounts"], dependencies=[allow(Permission.ADMIN)])


@router.get("", response_model=list[AuditEntry])
def audit_log(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=32, description="An action or its prefix, e.g. `model.`")] = None,
) -> list[dict[str, object]]:
    return [audit.public(r) for r in audit.entries(session, limit=limit, offset=offset, actor=actor, action=action)]
