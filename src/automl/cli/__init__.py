"""The `automl` command: serve, worker, train, predict, user, apikey, model, cluster, db."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from automl.cli.cluster import cluster_app
from automl.cli.serving import apikey_app, model_app
from automl.cli.users import user_app
from automl.config import get_settings
from automl.logging import configure_logging

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Self-hosted AutoML for tabular data.")
db_app = typer.Typer(no_args_is_help=True, help="Database maintenance.")
app.add_typer(db_app, name="db")
app.add_typer(apikey_app, name="apikey")
app.add_typer(user_app, name="user")
app.add_typer(model_app, name="model")
app.add_typer(cluster_app, name="cluster")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Embedded background workers (0 = none).")] = 1,
) -> None:
    """Run the web app and REST API (creates the data dir and database, applies migrations)."""
    import uvicorn

    from automl.cli.setup import announce
    from automl.db.migrate import upgrade
    from automl.jobs.embedded import embedded_workers
    from automl.services.exposure import BIND_HOST_ENV, ExposureError, decide

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    try:
        exposure = decide(settings, host)
    except ExposureError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    settings.ensure_dirs()
    upgrade(settings.db_url)
    os.environ[BIND_HOST_ENV] = host  # the app decides authentication and hosts the same way
    announce(settings, exposure, port)
    with embedded_workers(workers):  # training never runs in the API process
        uvicorn.run(
            "automl.main:app_factory", factory=True, host=host, port=port, access_log=False, log_config=None,
            timeout_graceful_shutdown=3,  # open event streams must not hold a shutdown
        )


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs this worker runs at once.")] = 1,
    burst: Annotated[bool, typer.Option(help="Exit once nothing is running or queued (cron-style runs).")] = False,
) -> None:
    """Run a standalone background worker (scale-out): claims queued jobs until SIGTERM (or, with --burst, until
    the queue is empty)."""
    from automl.db.migrate import upgrade
    from automl.jobs.worker import Worker

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    settings.ensure_dirs()
    upgrade(settings.db_url)
    Worker(settings, concurrency=concurrency).run(burst=burst)


@app.command()
def train(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV, Excel or Parquet file.")],
    target: Annotated[str, typer.Option(help="The column to predict.")],
    time_budget: Annotated[float, typer.Option(min=1, help="Whole run's wall time in seconds.")] = 60,
    out: Annotated[Path, typer.Option(help="Folder for the model artifacts.")] = Path("models"),
) -> None:
    """Train from the shell with a progress bar; print the leaderboard and save the models."""
    from automl.cli.engine import train_command

    train_command(file, target, time_budget, out)


@app.command()
def predict(
    model: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A saved model artifact.")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Rows to score.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the scored CSV.")],
) -> None:
    """Score a file with a saved model: the input columns, then `prediction` (and class probabilities)."""
    from automl.cli.engine import predict_command

    predict_command(model, file, output)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to the configured database."""
    from automl.db.migrate import upgrade

    settings = get_settings()
    settings.ensure_dirs()
    upgrade(settings.db_url)
    typer.echo(f"database at head: {settings.db_url}")


