"""The `automl` command: serve, worker, train, predict, apikey, db."""
from __future__ import annotations

from typing import Annotated

import typer

from automl.config import get_settings
from automl.logging import configure_logging

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Self-hosted AutoML for tabular data.")
db_app = typer.Typer(no_args_is_help=True, help="Database maintenance.")
app.add_typer(db_app, name="db")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Embedded background workers (0 = none).")] = 1,
) -> None:
    """Run the web app and REST API (creates the data dir and database, applies migrations)."""
    import uvicorn

    from automl.db.migrate import upgrade

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    settings.ensure_dirs()
    upgrade(settings.db_url)
    uvicorn.run(
        "automl.main:app_factory", factory=True, host=host, port=port, access_log=False, log_config=None
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to the configured database."""
    from automl.db.migrate import upgrade

    settings = get_settings()
    settings.ensure_dirs()
    upgrade(settings.db_url)
    typer.echo(f"database at head: {settings.db_url}")


