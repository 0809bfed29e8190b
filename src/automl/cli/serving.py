"""CLI groups for serving: `automl apikey create|list|revoke` and `automl model deploy|undeploy`."""
from __future__ import annotations

from typing import Annotated

import typer

from automl.config import get_settings
from automl.db import Database
from automl.services.permissions import Principal

apikey_app = typer.Typer(no_args_is_help=True, help="API keys for the predict endpoints.")
model_app = typer.Typer(no_args_is_help=True, help="Deploy trained models.")
CLI = Principal.local("cli")  # the audit log names the shell as the actor


def open_db() -> Database:
    from automl.db.migrate import upgrade

    settings = get_settings()
    settings.ensure_dirs()
    upgrade(settings.db_url)
    return Database(settings.db_url)


@apikey_app.command("create")
def create(name: Annotated[str, typer.Argument(help="A label to tell keys apart.")]) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from automl.services.apikeys import create_key

    db = open_db()
    with db.session() as s:
        row, secret = create_key(s, name, CLI)
        key_id = row.id
    db.dispose()
    typer.echo(secret)
    typer.echo(f"key {key_id} ({name}) created; it is not shown again", err=True)


@apikey_app.command("list")
def list_() -> None:
    """List keys (prefix, name, created, last used, revoked)."""
    from automl.services.apikeys import list_keys

    db = open_db()
    with db.session() as s:
        rows, _ = list_keys(s)
        for r in rows:
            state = f"revoked {r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "active"
            used = f"{r.last_used_at:%Y-%m-%d %H:%M}" if r.last_used_at else "never"
            typer.echo(f"{r.id}\t{r.prefix}…\t{r.name}\tcreated {r.created_at:%Y-%m-%d %H:%M}\tused {used}\t{state}")
    db.dispose()


@apikey_app.command("revoke")
def revoke(key_id: Annotated[int, typer.Argument(help="The key's id (see `apikey list`).")]) -> None:
    """Revoke a key; running servers stop accepting it within a second."""
    from automl.errors import NotFound
    from automl.services.apikeys import revoke_key

    db = open_db()
    try:
        with db.session() as s:
            revoke_key(s, key_id)
    except NotFound as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    typer.echo(f"key {key_id} revoked")


def _change(model_id: int, *, deploy: bool, api: bool, batch: bool, threshold: float | None = None) -> None:
    from automl.errors import DomainError
    from automl.services import models
    from automl.storage import Storage

    settings = get_settings()
    db = open_db()
    targets = {"api": api or None, "batch": batch or None}
    try:
        with db.session() as s:
            if deploy:
                row = models.deploy(s, Storage.from_settings(settings), None, model_id, by=CLI, **targets,
                                    threshold=... if threshold is None else threshold)
            else:
                row = models.undeploy(s, None, model_id, by=CLI, **targets)
            typer.echo(f"model {model_id}: api={'on' if row.deployed_api else 'off'} "
                       f"batch={'on' if row.deployed_batch else 'off'}"
                       + (f" threshold={row.threshold:g}" if row.threshold is not None else ""))
    except DomainError as exc:
        typer.echo(str(exc.detail), err=True)
        raise typer.Exit(1) from None
    finally:
        db.dispose()


@model_app.command("deploy")
def deploy(
    model_id: int,
    api: Annotated[bool, typer.Option("--api", help="Only the REST API.")] = False,
    batch: Annotated[bool, typer.Option("--batch", help="Only batch scoring.")] = False,
    threshold: Annotated[float | None, typer.Option(
        help="Binary models: predict the positive class (the second class) at P >= this, in (0, 1); kept when "
        "omitted.")] = None,
) -> None:
    """Deploy a model (both targets unless --api or --batch); the artifact's sha256 is checked."""
    _change(model_id, deploy=True, api=api, batch=batch, threshold=threshold)


@model_app.command("undeploy")
def undeploy(
    model_id: int,
    api: Annotated[bool, typer.Option("--api", help="Only the REST API.")] = False,
    batch: Annotated[bool, typer.Option("--batch", help="Only batch scoring.")] = False,
) -> None:
    """Undeploy a model (both targets unless --api or --batch); servers drop it within a few seconds."""
    _change(model_id, deploy=False, api=api, batch=batch)


@model_app.command("sign")
def sign(
    model_ids: Annotated[list[int] | None, typer.Argument(help="Models to sign; default every unsigned one.")] = None,
) -> None:
    """Sign the artifacts of models trained before artifact signing, once their sha256 still matches: until
    then they are refused before unpickling. Run it once after upgrading, on a data dir you trust."""
    from automl.services.models import sign_unsigned
    from automl.storage import Storage

    settings = get_settings()
    db = open_db()
    try:
        with db.session() as s:
            outcomes = sign_unsigned(s, Storage.from_settings(settings), model_ids or None)
    finally:
        db.dispose()
    for model_id, outcome in outcomes:
        typer.echo(f"model {model_id}: {outcome}")
    if not outcomes:
        typer.echo("no unsigned model")
    if any(o.endswith("not signed") for _, o in outcomes):
        raise typer.Exit(1)
