"""Who is asking and what they may do: roles, token scopes and the principal every request carries.

A role grants a set of permissions; a token carries scopes, and what it may do is its scopes (with their
implications) cut down to what its creator's role allows today, so demoting a user demotes their tokens.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from automl.errors import Forbidden
from automl.schemas.accounts import Permission, Role

__all__ = ["ALL", "ROLE_PERMISSIONS", "Kind", "Permission", "Principal", "Role", "expand"]


ALL = frozenset(Permission)
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ, Permission.PREDICT, Permission.METRICS}),
    Role.EDITOR: frozenset({Permission.READ, Permission.PREDICT, Permission.WRITE, Permission.METRICS}),
    Role.ADMIN: ALL,
}
_IMPLIES = {Permission.ADMIN: ALL, Permission.WRITE: frozenset({Permission.WRITE, Permission.READ})}


def expand(scopes: frozenset[Permission] | set[Permission]) -> frozenset[Permission]:
    """A scope with what it implies: `admin` is everything, `write` includes `read`."""
    out: set[Permission] = set()
    for s in scopes:
        out |= _IMPLIES.get(s, {s})
    return frozenset(out)


class Kind(StrEnum):
    LOCAL = "local"  # authentication is off (loopback only): the operator's own machine
    SESSION = "session"  # a signed-in browser (cookie + CSRF token)
    TOKEN = "token"  # Authorization: Bearer <token> / X-API-Key
    SETUP = "setup"  # the one-time link that creates the first admin
    ANONYMOUS = "anonymous"  # an open route (login page, health) with authentication on


@dataclass(frozen=True)
class Principal:
    kind: Kind
    permissions: frozenset[Permission] = frozenset()
    user_id: int | None = None
    username: str | None = None
    role: Role | None = None
    token_id: int | None = None
    session_id: int | None = None
    model_ids: frozenset[int] | None = None  # a token limited to these models (predict)
    client: str | None = field(default=None, compare=False)

    @classmethod
    def local(cls, client: str | None = None) -> Principal:
        return cls(Kind.LOCAL, ALL, client=client)

    @classmethod
    def anonymous(cls, client: str | None = None) -> Principal:
        return cls(Kind.ANONYMOUS, client=client)

    @property
    def actor(self) -> str:
        """The name the audit log records."""
        if self.username:
            return self.username
        if self.token_id is not None:
            return f"token {self.token_id}"
        return self.kind.value

    def can(self, permission: Permission | str) -> bool:
        return Permission(permission) in self.permissions

    def require(self, permission: Permission) -> None:
        if permission not in self.permissions:
            raise Forbidden(f"this needs the '{permission}' permission, which {self.actor} does not have")

    def require_model(self, model_id: int) -> None:
        if self.model_ids is not None and model_id not in self.model_ids:
            raise Forbidden(f"this token may not use model {model_id}")

    def owns(self, created_by_id: int | None) -> bool:
        """Admins and the local operator own everything; others what they created."""
        return Permission.ADMIN in self.permissions or (self.user_id is not None and created_by_id == self.user_id)

    def require_owner(self, created_by_id: int | None, what: str) -> None:
        if not self.owns(created_by_id):
            raise Forbidden(f"only its creator or an admin may change {what}")
