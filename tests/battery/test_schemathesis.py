"""Issue 13, item 8: Schemathesis over the app's own /openapi.json, in process (ASGI), every operation, a fixed
seed and a bounded number of examples each, with accounts off and with accounts on (an admin's bearer token):
no 5xx, and every documented response matches its schema and content type.

Seeded with a real dataset, a completed experiment and a deployed model, so that id 1 (Hypothesis' favourite)
reaches real objects. Writes that end the run's own access (revoking its token, demoting or disabling its
user) are tried last. Figures for docs/reliability.md: `-s` prints the operations and requests per mode.
"""
from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, seed, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from automl.config import Settings
from automl.db import Database
from automl.db.migrate import upgrade
from automl.main import create_app
from automl.services import apikeys, users
from automl.services.permissions import ROLE_PERMISSIONS, Kind, Principal, Role

sys.path.insert(0, str(Path(__file__).parents[1] / "api"))
from serving_support import add_model, fitted  # noqa: E402

pytestmark = [pytest.mark.battery, pytest.mark.timeout(240)]
BASE = "http://localhost"
EXAMPLES = 25
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
ORDER = {"GET": 0, "HEAD": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}
PASSWORD = "correct horse battery staple"
LAST = ("/api/users/{user_id}", "/api/tokens/{token_id}", "/api/keys/{key_id}")


def _app(tmp: Path, auth: str) -> tuple[Any, Settings]:
    cfg = Settings(data_dir=tmp / auth / "data", auth=auth, allowed_hosts=["localhost", "testserver"],  # type: ignore[arg-type]
                   _env_file=None)
    return create_app(cfg), cfg


def _admin_token(cfg: Settings) -> dict[str, str]:
    """An admin user and a token with every scope, made before the app starts (the schema needs it too)."""
    cfg.ensure_dirs()
    upgrade(cfg.db_url)
    db = Database(cfg.db_url)
    with db.session() as s:
        admin = users.create_user(s, "fuzz-admin", PASSWORD, "admin")
        creator = Principal(Kind.SESSION, ROLE_PERMISSIONS[Role.ADMIN], user_id=admin.id, username=admin.username,
                            role=Role.ADMIN)
        _, secret = apikeys.create_token(s, creator, "fuzz", ["read", "write", "predict", "metrics", "admin"])
    db.dispose()
    return {"Authorization": f"Bearer {secret}"}


def _seed(app: Any, cfg: Settings, headers: dict[str, str]) -> None:
    """A dataset, and a completed experiment with a model deployed for both kinds of scoring."""
    client = TestClient(app, base_url=BASE, headers=headers)  # the lifespan runs already (Schemathesis started it)
    csv = "k_a,k_b,k_label\n" + "".join(f"{i % 7},{i * 0.5},{'yes' if i % 3 else 'no'}\n" for i in range(60))
    r = client.post("/api/datasets/upload", files={"file": ("seed.csv", csv.encode())})
    assert r.status_code == 201, r.text
    add_model(cfg, fitted(), deployed_api=True, deployed_batch=True)


def _operations(schema: Any) -> list[Any]:
    ops = [result.ok() for result in schema.get_all_operations()]
    return sorted(ops, key=lambda op: (op.path in LAST, ORDER.get(op.method.upper(), 5), op.path))


def _run(app: Any, cfg: Settings, *, auth: bool) -> tuple[int, Counter[int]]:
    headers = _admin_token(cfg) if auth else {}
    # loading the schema starts the app's lifespan, kept for the rest of the process
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=headers)
    _seed(app, cfg, headers)
    statuses: Counter[int] = Counter()
    operations = _operations(schema)
    for op in operations:
        @seed(13)
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def check(case: Any) -> None:
            response = case.call(base_url=BASE, headers=headers)
            statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS)

        check()
    return len(operations), statuses


@pytest.mark.parametrize("auth", ["off", "on"])
def test_every_operation_answers_within_its_schema_and_never_5xx(tmp_path: Path, auth: str) -> None:
    app, cfg = _app(tmp_path, auth)
    start = time.monotonic()
    operations, statuses = _run(app, cfg, auth=auth == "on")
    sent = sum(statuses.values())
    print(f"schemathesis auth={auth}: {operations} operations, {sent} requests, "
          f"{sum(n for code, n in statuses.items() if code >= 500)} 5xx, {time.monotonic() - start:.0f} s; "
          f"statuses {dict(sorted(statuses.items()))}")
    assert operations >= 35 and sent >= operations * 5  # every operation, each tried several ways
    assert sum(n for code, n in statuses.items() if code < 300) > sent // 10  # the token works: not all refusals
