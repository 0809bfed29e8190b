"""Domain errors, below every layer that raises them and free of HTTP (api/errors.py maps them to statuses)."""
from __future__ import annotations


class DomainError(Exception):
    """A request the platform refuses; `detail` is shown to the client as it is."""

    def __init__(self, detail: object) -> None:
        super().__init__(str(detail))
        self.detail = detail


class BadInput(DomainError):
    """The input cannot be read or used as sent."""


class NotFound(DomainError):
    """No such resource."""


class Conflict(DomainError):
    """The resource's current state does not allow this."""


class Forbidden(DomainError):
    """The caller is known but may not do this."""


class Unauthorized(DomainError):
    """No valid credentials."""


class TooLarge(DomainError):
    """Over a size limit known before the input is read whole."""


class UnsupportedMedia(DomainError):
    """A file or content type the platform does not read."""


class Unprocessable(DomainError):
    """Well-formed but invalid values (the detail names them)."""


class RateLimited(DomainError):
    """Too many attempts in a while (sign-ins); try again later."""


class Unavailable(DomainError):
    """Temporarily unable to serve (the database stayed busy past the bounded retry); try again shortly."""

    retry_after_s = 1


class InsufficientStorage(DomainError):
    """The data disk (files or database) is full; nothing was kept, and the request works once space returns."""

    def __init__(self, detail: object = "the data disk is full: nothing was saved; free some space and try again"
                 ) -> None:
        super().__init__(detail)
