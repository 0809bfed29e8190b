"""Interactive API docs (Swagger UI) from vendored assets, without inline script (the CSP forbids it).

FastAPI's `get_swagger_ui_html` starts Swagger UI with an inline <script>; this page loads the vendored bundle
and `/static/js/swagger-init.js` instead, which reads the schema's address from a data attribute and adds the
session's CSRF token (App.csrfHeaders in app.js) to the requests "Try it out" sends.
"""
from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from automl.api.deps import signed_in

router = APIRouter(include_in_schema=False, dependencies=[signed_in()])  # like /openapi.json: anyone signed in

SWAGGER = "/static/vendor/swagger-ui"
PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="{swagger}/swagger-ui.css">
  <script src="{swagger}/swagger-ui-bundle.js" defer></script>
  <script src="/static/js/app.js" defer></script>
  <script src="/static/js/swagger-init.js" defer></script>
</head>
<body>
  <div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
</body>
</html>
"""


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE.format(
        title=escape(f"{request.app.title} API"),
        swagger=SWAGGER,
        openapi_url=escape(request.app.openapi_url or "/openapi.json"),
    ))
