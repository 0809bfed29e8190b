"""API tokens with scopes: create (the secret is shown once), list, revoke. Admins see everyone's."""
from __future__ import annotations

from fastapi import APIRouter, Request, Response

from automl.api.deps import IdPath, PrincipalDep, SessionDep, manages_tokens
from automl.schemas.accounts import TokenCreate, TokenCreated, TokenList
from automl.services import apikeys, audit

router = APIRouter(prefix="/api/tokens", tags=["accounts"], dependencies=[manages_tokens()])


@router.post("", status_code=201, response_model=TokenCreated)
def create_token(body: TokenCreate, session: SessionDep, principal: PrincipalDep) -> dict[str, object]:
    """Scopes: read, write, predict, metrics, admin; never more than the creator's role allows."""
    row, secret = apikeys.create_token(session, principal, body.name, [s.value for s in body.scopes],
                                       model_ids=body.model_ids, expires_in_days=body.expires_in_days)
    audit.record(session, principal, "token.create", f"token {row.id} {row.name!r} [{', '.join(row.scopes)}]")
    return {"id": row.id, "name": row.name, "scopes": row.scopes, "model_ids": row.model_ids,
            "expires_at": row.expires_at, "token": secret}


@router.get("", response_model=TokenList)
def list_tokens(session: SessionDep, principal: PrincipalDep) -> dict[str, object]:
    rows, total = apikeys.list_keys(session, principal)
    owners = apikeys.owner_names(session, rows)
    return {"items": [apikeys.key_public(r, owners) for r in rows], "total": total}


@router.delete("/{token_id}", status_code=204)
def revoke_token(token_id: IdPath, request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
    """Takes effect at once in this server (its token cache forgets the token)."""
    apikeys.revoke_key(session, token_id, principal)
    audit.record(session, principal, "token.revoke", f"token {token_id}")
    session.commit()
    request.app.state.serving.keys.forget(token_id)
    return Response(status_code=204)
