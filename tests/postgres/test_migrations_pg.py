import pytest
from sqlalchemy import create_engine, inspect

from automl.db.migrate import upgrade

pytestmark = pytest.mark.postgres


def test_migrations_create_the_whole_domain_on_postgres(pg_url: str) -> None:
    upgrade(pg_url)
    engine = create_engine(pg_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"datasets", "experiments", "trained_models", "jobs", "batch_predictions", "api_keys"} <= tables
