"""`automl user create|list|set-password|disable`: accounts from the shell (passwords only from stdin)."""
from __future__ import annotations

import sys
from typing import Annotated

import typer

from automl.cli.serving import CLI, open_db
from automl.errors import DomainError
from automl.services.permissions import Role

user_app = typer.Typer(no_args_is_help=True, help="User accounts (sign-in with a role).")
PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input.")]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return str(password)


def _fail(exc: DomainError) -> None:
    typer.echo(f"error: {exc.detail}", err=True)
    raise typer.Exit(1)


@user_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Sign-in name (lower-cased).")],
    role: Annotated[Role, typer.Option(help="viewer reads and predicts; editor also changes; admin everything.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a user."""
    from automl.services import audit, users

    password = _password(password_stdin)
    db = open_db()
    try:
        with db.session() as s:
            row = users.create_user(s, name, password, role.value)
            audit.record(s, CLI, "user.create", f"user {row.username} ({row.role})")
            typer.echo(f"user {row.username} ({row.role}) created")
    except DomainError as exc:
        _fail(exc)
    finally:
        db.dispose()


@user_app.command("list")
def list_() -> None:
    """List users: name, role, state, last sign-in."""
    from automl.services import users

    db = open_db()
    with db.session() as s:
        for r in users.list_users(s):
            state = f"disabled {r.disabled_at:%Y-%m-%d}" if r.disabled_at else "active"
            seen = f"{r.last_login_at:%Y-%m-%d %H:%M}" if r.last_login_at else "never"
            typer.echo(f"{r.username}\t{r.role}\t{state}\tlast sign-in {seen}")
    db.dispose()


def _change(name: str, action: str, **change: object) -> None:
    from automl.services import audit, sessions, users

    db = open_db()
    try:
        with db.session() as s:
            row = users.by_name(s, name)
            users.update_user(s, row, **change)  # type: ignore[arg-type]
            sessions.end_user_sessions(s, row.id)  # running servers notice within a second
            audit.record(s, CLI, action, f"user {row.username}")
            typer.echo(f"user {row.username}: {action.removeprefix('user.').replace('_', ' ')} done")
    except DomainError as exc:
        _fail(exc)
    finally:
        db.dispose()


@user_app.command("set-password")
def set_password(name: Annotated[str, typer.Argument()], password_stdin: PasswordStdin = False) -> None:
    """Set a user's password; their sessions end."""
    _change(name, "user.set_password", password=_password(password_stdin))


@user_app.command("disable")
def disable(name: Annotated[str, typer.Argument()]) -> None:
    """Disable a user: they cannot sign in, their sessions end and their tokens stop working."""
    _change(name, "user.disable", disabled=True)
