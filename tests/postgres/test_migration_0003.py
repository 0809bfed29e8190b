"""Migration 0003 keeps a 0002 database's API keys working as ownerless `predict` tokens, and goes back down."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from automl.db.migrate import alembic_config, upgrade
from automl.services.apikeys import KeyChecker, hash_key
from automl.services.permissions import Permission

NOW = "2026-12-01 10:00:00"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    return request.getfixturevalue("pg_url")


def test_old_keys_become_predict_tokens(url: str) -> None:
    from automl.db import Database

    upgrade(url, "0002")
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text("INSERT INTO api_keys (id, name, prefix, key_hash, created_at) "
                       "VALUES (1, 'ci', 'aml_x', :h, :t)"),
                  {"h": hash_key("aml_old-secret"), "t": NOW})
    upgrade(url)
    with engine.connect() as c:
        scopes, owner = c.execute(text("SELECT scopes, user_id FROM api_keys WHERE id = 1")).one()
    assert (scopes if isinstance(scopes, list) else json.loads(scopes)) == ["predict"]
    assert owner is None
    db = Database(url)
    grant = KeyChecker(db, required=True).check("aml_old-secret")
    db.dispose()
    assert grant is not None and grant.permissions == frozenset({Permission.PREDICT})
    tables = set(inspect(engine).get_table_names())
    assert {"users", "user_sessions", "setup_tokens", "audit_events"} <= tables
    command.downgrade(alembic_config(url), "0002")
    assert "users" not in set(inspect(engine).get_table_names())
    engine.dispose()
