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


def test_processes_migrating_one_empty_database_at_once_all_succeed(pg_url: str, tmp_path) -> None:
    """API replicas and workers each migrate at start-up: started together, one migrates and the others wait."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    automl = str(Path(sys.executable).with_name("automl"))
    env = {**os.environ, "AUTOML_DATABASE_URL": pg_url, "AUTOML_DATA_DIR": str(tmp_path / "data")}
    procs = [subprocess.Popen([automl, "db", "upgrade"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for _ in range(4)]
    outputs = [p.communicate(timeout=120)[0].decode(errors="replace") for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, outputs
    engine = create_engine(pg_url)
    assert "trained_models" in inspect(engine).get_table_names()
    engine.dispose()
