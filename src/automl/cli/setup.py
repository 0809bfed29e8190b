"""What `serve` says at start about access: accounts on or off, the Host names served, and while no user
exists the one-time link that creates the first admin."""
from __future__ import annotations

import socket

import typer

from automl.config import Settings
from automl.db import Database
from automl.services.exposure import WILDCARD, Exposure


def announce(settings: Settings, exposure: Exposure, port: int) -> None:
    if not exposure.auth:
        typer.echo("accounts are off (loopback only): anyone on this machine can use the server", err=True)
        return
    shown = socket.gethostname() if exposure.host in WILDCARD else exposure.host
    typer.echo(f"accounts are on; serving Host names: {', '.join(sorted(exposure.allowed_hosts))} "
               "(set AUTOML_ALLOWED_HOSTS for others)", err=True)
    from automl.services import users

    db = Database(settings.db_url)
    try:
        with db.session() as s:
            if users.has_users(s):
                return
            secret = users.new_setup_token(s)
    finally:
        db.dispose()
    host = f"[{shown}]" if ":" in shown else shown
    typer.echo(f"no user yet: create the first admin at http://{host}:{port}/setup?token={secret} "
               "(works once), or run `automl user create NAME --role admin --password-stdin`", err=True)
