"""How far the server is exposed, decided once at start: is authentication on, which Host names it answers
to, are API keys required on the predict routes when authentication is off.

`automl serve` records the interface it binds in `AUTOML_BIND_HOST`; an app made without it (tests, an
embedding program) counts as bound to loopback.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from automl.config import Settings

BIND_HOST_ENV = "AUTOML_BIND_HOST"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
WILDCARD = {"0.0.0.0", "::", "[::]", ""}


class ExposureError(ValueError):
    """A configuration that would expose the server without authentication."""


def bind_host() -> str:
    return (os.environ.get(BIND_HOST_ENV) or "127.0.0.1").strip().lower()


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


@dataclass(frozen=True)
class Exposure:
    host: str
    auth: bool
    allowed_hosts: frozenset[str]  # "*" inside = any Host header
    keys_required: bool

    def host_allowed(self, hostname: str) -> bool:
        return "*" in self.allowed_hosts or hostname.lower() in self.allowed_hosts


def default_hosts(host: str) -> set[str]:
    names = {"localhost", "127.0.0.1", "::1"}
    if host in WILDCARD:  # every interface: the machine's own names are what clients will type
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    else:
        names.add(host.strip("[]"))
    return names


def decide(settings: Settings, host: str | None = None) -> Exposure:
    host = (host if host is not None else bind_host()).strip().lower()
    loopback = is_loopback(host)
    if settings.auth == "off" and not loopback:
        raise ExposureError(f"AUTOML_AUTH=off is refused when binding {host!r} beyond loopback: anyone who can "
                            "reach the server would own it. Use AUTOML_AUTH=on (or auto), or bind 127.0.0.1.")
    auth = settings.auth == "on" or (settings.auth == "auto" and not loopback)
    hosts = {h.strip().lower().strip("[]") for h in settings.allowed_hosts} if settings.allowed_hosts \
        else default_hosts(host)
    keys = settings.api_keys_required if settings.api_keys_required is not None else not loopback
    return Exposure(host, auth, frozenset(hosts), keys)
