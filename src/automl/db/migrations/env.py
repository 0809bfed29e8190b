from __future__ import annotations

from alembic import context
from sqlalchemy import pool, text

from automl.db import models  # noqa: F401  (registers the tables)
from automl.db.base import Base
from automl.db.session import make_engine

config = context.config
target_metadata = Base.metadata
MIGRATION_LOCK = 0x6175746F6D6C  # "automl": the advisory lock every process migrating this database takes


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url, poolclass=pool.NullPool) if not url.startswith("sqlite") else make_engine(url)
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # Batch migrations copy a table and drop the old one: with foreign keys on, that drop would
            # cascade-delete the rows that refer to it. The pragma only takes effect outside a transaction.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # replicas starting together: one migrates, the others wait here and then find the head
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            context.run_migrations()
    engine.dispose()


run_migrations()
