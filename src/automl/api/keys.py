"""API keys for the predict endpoints: create (the secret is shown once), list, revoke."""
from __future__ import annotations

from fastapi import APIRouter, Request, Response

from automl.api.deps import SessionDep
from automl.schemas.models import KeyCreate, KeyCreated, KeyList
from automl.services import apikeys

router = APIRouter(prefix="/api/keys", tags=["api keys"])


@router.post("", status_code=201, response_model=KeyCreated)
def create_key(body: KeyCreate, session: SessionDep) -> dict[str, object]:
    row, secret = apikeys.create_key(session, body.name)
    return {"id": row.id, "name": row.name, "prefix": row.prefix, "key": secret, "created_at": row.created_at}


@router.get("", response_model=KeyList)
def list_keys(session: SessionDep) -> dict[str, object]:
    rows, total = apikeys.list_keys(session)
    return {"items": [apikeys.key_public(r) for r in rows], "total": total}


@router.delete("/{key_id}", status_code=204)
def revoke_key(key_id: int, request: Request, session: SessionDep) -> Response:
    """Takes effect at once in this server (its key cache forgets the key)."""
    apikeys.revoke_key(session, key_id)
    session.commit()
    runtime = getattr(request.app.state, "serving", None)
    if runtime is not None:
        runtime.keys.forget(key_id)
    return Response(status_code=204)
