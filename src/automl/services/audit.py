"""The audit log: who did what to which object, when, from where. Written in the transaction of the change
it records, so an action and its entry commit together. Failed sign-ins are entries too, and the sign-in
rate limit counts them (one durable source, shared by every server process)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from automl.db.base import utcnow
from automl.db.models import AuditEvent
from automl.services.permissions import Principal

LOGIN_FAILED = "auth.login_failed"


def record(session: Session, principal: Principal, action: str, obj: str | None = None, *,
           actor: str | None = None) -> None:
    session.add(AuditEvent(actor=(actor or principal.actor)[:64], action=action, object=obj and obj[:255],
                           client=principal.client and principal.client[:64]))


def entries(session: Session, *, limit: int = 100, offset: int = 0, actor: str | None = None,
            action: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if actor:
        query = query.where(AuditEvent.actor == actor.strip().lower())
    if action:
        query = query.where(AuditEvent.action.startswith(action.strip(), autoescape=True))
    return list(session.scalars(query.limit(limit).offset(offset)))


def public(row: AuditEvent) -> dict[str, object]:
    return {"time": row.at, "actor": row.actor, "action": row.action, "object": row.object, "client": row.client}


def recent_failures(session: Session, *, username: str, client: str | None, window: timedelta) -> int:
    """Failed sign-ins in `window` for this name or from this address (the larger count)."""
    since = utcnow() - window
    who = [AuditEvent.actor == username[:64]]
    if client:
        who.append(AuditEvent.client == client[:64])
    rows = session.execute(
        select(AuditEvent.actor, AuditEvent.client, func.count())
        .where(AuditEvent.action == LOGIN_FAILED, AuditEvent.at >= since, or_(*who))
        .group_by(AuditEvent.actor, AuditEvent.client)
    ).all()
    by_name = sum(n for a, _, n in rows if a == username[:64])
    by_client = sum(n for _, c, n in rows if client and c == client[:64])
    return max(by_name, by_client)
