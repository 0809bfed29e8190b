"""Jinja2 set-up for the pages: autoescaping templates plus a few display filters."""
from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

from automl.db.models import ACTIVE, JobStatus
from automl.services.permissions import Kind, Principal

TEMPLATES_DIR = Path(__file__).parent / "templates"

STATUS_STYLE = {
    JobStatus.QUEUED: "secondary",
    JobStatus.RUNNING: "primary",
    JobStatus.COMPLETED: "success",
    JobStatus.FAILED: "danger",
    JobStatus.CANCELLED: "warning",
}
KIND_STYLE = {
    "numeric": "primary",
    "categorical": "success",
    "boolean": "info",
    "datetime": "warning",
    "text": "secondary",
    "id": "dark",
    "constant": "light",
}


def fmt_num(value: Any, digits: int = 4) -> str:
    """Compact number display: 4 significant digits, thousands separators for big integers."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    return f"{value:.{digits}g}"


def fmt_when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "—"


def fmt_size(n: int | None) -> str:
    if n is None:
        return "—"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def fmt_pct(value: Any) -> str:
    if value is None:
        return "—"
    pct = float(value)
    return "0%" if pct == 0 else f"{pct:.1f}%" if pct >= 0.1 else "<0.1%"


def principal_of(request: Request) -> Principal:
    """Who is asking, as the authentication middleware decided; nobody (no permissions) if it did not say."""
    principal = getattr(request.state, "principal", None)
    return principal if isinstance(principal, Principal) else Principal.anonymous()


def auth_enabled(request: Request) -> bool:
    return bool(getattr(request.app.state, "auth_enabled", False))


def user_context(request: Request) -> dict[str, Any]:
    """What every template knows about the visitor: the controls a role may not use are not rendered
    (the routes refuse them anyway), and a signed-in browser gets the user menu."""
    principal = principal_of(request)
    return {
        "principal": principal,
        "can_write": principal.can("write"),
        "signed_in": principal.kind == Kind.SESSION,
        "auth_enabled": auth_enabled(request),
    }


def make_templates() -> Jinja2Templates:
    # autoescape is on for .html
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR), context_processors=[user_context])
    env = templates.env
    env.filters.update(num=fmt_num, when=fmt_when, size=fmt_size, pct=fmt_pct)
    env.globals.update(status_style=STATUS_STYLE, kind_style=KIND_STYLE, active_statuses=ACTIVE)
    return templates


templates = make_templates()
