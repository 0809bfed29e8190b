"""Sign-in, sign-out, who am I, and the first admin from the setup link."""
from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse

from automl.api.authn import CSRF_COOKIE, SESSION_COOKIE
from automl.api.deps import DbDep, PrincipalDep, SessionDep, SettingsDep, allow, setup_link, signed_in
from automl.schemas.accounts import Credentials, Me
from automl.services import signin
from automl.services.permissions import Permission
from automl.services.sessions import Opened

router = APIRouter(prefix="/api/auth", tags=["accounts"])


def _signed_in(request: Request, opened: Opened, username: str, role: str) -> JSONResponse:
    response = JSONResponse({"username": username, "role": role}, headers={"X-CSRF-Token": opened.csrf})
    secure = request.url.scheme == "https"
    response.set_cookie(SESSION_COOKIE, opened.secret, max_age=opened.max_age_s, httponly=True, samesite="lax",
                        secure=secure)
    response.set_cookie(CSRF_COOKIE, opened.csrf, max_age=opened.max_age_s, httponly=False, samesite="lax",
                        secure=secure)
    return response


@router.post("/login", response_model=Me, responses={401: {"description": "Wrong username or password"},
                                                      429: {"description": "Too many failed sign-ins"}})
def login(body: Credentials, request: Request, db: DbDep, principal: PrincipalDep,
          settings: SettingsDep) -> JSONResponse:
    """Sets the session cookie and hands out the CSRF token (header `X-CSRF-Token`, cookie `automl_csrf`)."""
    opened, username, role = signin.sign_in(db, principal, body.username, body.password,
                                            max_age=timedelta(hours=settings.session_max_hours))
    return _signed_in(request, opened, username, role)


@router.post("/setup", response_model=Me, dependencies=[setup_link()])
def setup(body: Credentials, request: Request, db: DbDep, principal: PrincipalDep, settings: SettingsDep,
          x_setup_token: Annotated[str, Header(description="The secret from the link `serve` printed")],
          ) -> JSONResponse:
    """Creates the first admin (only while no user exists; the link works once) and signs it in."""
    opened, username, role = signin.set_up_first_admin(db, principal, x_setup_token, body.username, body.password,
                                                       max_age=timedelta(hours=settings.session_max_hours))
    return _signed_in(request, opened, username, role)


@router.post("/logout", status_code=204, dependencies=[allow(Permission.READ)])
def logout(request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
    signin.sign_out(session, request.app.state.sessions, principal)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return response


@router.get("/me", response_model=Me, dependencies=[signed_in()])
def me(principal: PrincipalDep) -> Me:
    return Me(username=principal.username, role=principal.role, permissions=sorted(principal.permissions))
