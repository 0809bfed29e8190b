"""API keys (the older interface to /api/tokens): create a `predict` token (shown once), list, revoke."""
from __future__ import annotations

from fastapi import APIRouter, Request, Response

from automl.api.deps import IdPath, PrincipalDep, SessionDep, manages_tokens
from automl.schemas.models import KeyCreate, KeyCreated, KeyList
from automl.services import apikeys, audit

router = APIRouter(prefix="/api/keys", tags=["api keys"], dependencies=[manages_tokens()])


@router.post("", status_code=201, response_model=KeyCreated)
def create_key(body: KeyCreate, session: SessionDep, principal: PrincipalDep) -> dict[str, object]:
    row, secret = apikeys.create_key(session, body.name, principal)
    audit.record(session, principal, "token.create", f"token {row.id} {row.name!r} [predict]")
    return {"id": row.id, "name": row.name, "prefix": row.prefix, "key": secret, "created_at": row.created_at}


@router.get("", response_model=KeyList)
def list_keys(session: SessionDep, principal: PrincipalDep) -> dict[str, object]:
    """Everyone's for an admin, one's own otherwise."""
    rows, total = apikeys.list_keys(session, principal)
    return {"items": [apikeys.key_public(r) for r in rows], "total": total}


@router.delete("/{key_id}", status_code=204)
def revoke_key(key_id: IdPath, request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
    """Takes effect at once in this server (its key cache forgets the key)."""
    apikeys.revoke_key(session, key_id, principal)
    audit.record(session, principal, "token.revoke", f"token {key_id}")
    session.commit()
    runtime = getattr(request.app.state, "serving", None)
    if runtime is not None:
        runtime.keys.forget(key_id)
    return Response(status_code=204)
