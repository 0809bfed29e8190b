"""The FastAPI app factory: mounts the API, the web pages and static assets; lifespan opens resources."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from automl import __version__
from automl.api import (
    audit,
    auth,
    datasets,
    docs,
    experiments,
    health,
    keys,
    metrics,
    models,
    predictions,
    tokens,
    users,
)
from automl.api.authn import Authenticate
from automl.api.bodylimit import LimitBody
from automl.api.errors import install_error_handlers
from automl.api.guard import Guard
from automl.config import Settings, get_settings
from automl.db import Database
from automl.db.migrate import upgrade
from automl.ingest import sandbox
from automl.logging import configure_logging
from automl.observability import TimingMiddleware
from automl.services.exposure import decide
from automl.services.janitor import Janitor
from automl.services.serving import ServingRuntime
from automl.services.sessions import SessionStore
from automl.storage import Storage
from automl.web import pages

STATIC = Path(__file__).parent / "web" / "static"


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    settings = settings or get_settings()
    exposure = decide(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.ensure_dirs()
        if migrate:
            upgrade(settings.db_url)
        app.state.settings = settings
        app.state.db = Database(settings.db_url)
        app.state.storage = Storage.from_settings(settings)
        app.state.serving = ServingRuntime(app.state.db, app.state.storage, settings,
                                           keys_required=exposure.keys_required)
        app.state.sessions = SessionStore(app.state.db, idle=timedelta(minutes=settings.session_idle_minutes))
        app.state.serving.start()
        janitor = Janitor(app.state.db, app.state.storage)  # orphaned files: swept now, then every 10 minutes
        janitor.start()
        sandbox.warm()  # the parsing forkserver starts now, not on the first upload
        try:
            yield
        finally:
            janitor.stop()
            app.state.serving.stop()
            app.state.db.dispose()

    app = FastAPI(title="automl", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.exposure = exposure
    app.state.auth_enabled = exposure.auth
    install_error_handlers(app)
    app.add_middleware(LimitBody, max_json_bytes=settings.max_json_mb << 20,  # inside authentication
                       max_upload_bytes=settings.max_upload_mb << 20)
    app.add_middleware(Authenticate, enabled=exposure.auth)
    app.add_middleware(Guard, exposure=exposure)  # outside authentication: its refusals and headers cover all
    app.add_middleware(TimingMiddleware)
    for module in (health, auth, docs, datasets, experiments, models, predictions, keys, tokens, users, audit,
                   metrics):
        app.include_router(module.router)
    app.include_router(pages.open_router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def app_factory() -> FastAPI:
    """Entry point for uvicorn (`factory=True`): settings from the environment, logging configured."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings)
