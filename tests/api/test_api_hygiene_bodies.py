"""Issue 13, row 6: request bodies are bounded before they are read. 300 MB of JSON to the predict route
with a 1 MB upload limit used to be read whole (RSS 380 MB -> 1 GB) before the key check and the 404.

The big bodies here are sent straight to the ASGI app in 1 MB chunks without a Content-Length (the test
client would build them in memory first), and the peak of Python allocations while the request runs shows
that the server never holds them.
"""
from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from serving_support import add_model, fitted, rows

from automl.config import Settings
from automl.main import create_app

MB = 1 << 20
CHUNK = b'{"data": [' + b'{"x0": 1.0},' * (MB // 12 - 1)
CHUNK = CHUNK + b" " * (MB - len(CHUNK))


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=tmp_path / "data", max_json_mb=1, max_upload_mb=4,  # type: ignore[call-arg]
                    _env_file=None, **overrides)


@pytest.fixture
def small(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path)), base_url="http://localhost") as c:
        yield c


def _send_chunked(client: TestClient, path: str, *, mb: int, headers: dict[str, str] | None = None
                  ) -> tuple[int, bytes, int, int]:
    """POST `mb` MB in 1 MB chunks to the app, as a server would deliver them; (status, body, chunks the app
    took, peak bytes allocated meanwhile)."""
    taken = 0
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal taken
        if taken >= mb:
            return {"type": "http.disconnect"}
        taken += 1
        return {"type": "http.request", "body": CHUNK, "more_body": taken < mb}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "server": ("localhost", 80), "client": ("127.0.0.1", 5000),
             "headers": [(b"host", b"localhost"), (b"content-type", b"application/json"), *extra]}

    async def call() -> None:
        await client.app(scope, receive, send)  # type: ignore[arg-type]

    tracemalloc.start()
    try:
        client.portal.call(call)  # type: ignore[union-attr]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return answer["status"], answer["body"], taken, peak


def test_a_declared_body_over_the_limit_is_413_before_it_is_read(small: TestClient) -> None:
    big = b'{"name": "' + b"x" * (2 * MB) + b'"}'
    for path in ("/api/v1/predict/1", "/api/keys", "/api/experiments"):
        r = small.post(path, content=big, headers={"Content-Type": "application/json"})
        assert r.status_code == 413, (path, r.text)
        assert "AUTOML_MAX_JSON_MB" in r.json()["detail"] and "1 MB" in r.json()["detail"]


def test_a_streamed_body_over_the_limit_is_413_on_a_pydantic_route(small: TestClient) -> None:
    status, body, taken, peak = _send_chunked(small, "/api/experiments", mb=40)
    assert status == 413, body
    assert b"AUTOML_MAX_JSON_MB" in body
    assert taken == 40  # read out to the end (the client gets the answer, not a reset)...
    assert peak < 12 * MB, peak  # ...and never held


def test_predict_for_an_unknown_model_is_404_before_the_body_is_read(small: TestClient) -> None:
    status, body, _, peak = _send_chunked(small, "/api/v1/predict/99", mb=40)
    assert status == 404, body
    assert peak < 12 * MB, peak


def test_predict_without_a_required_key_is_401_before_the_body_is_read(tmp_path: Path) -> None:
    settings = _settings(tmp_path, api_keys_required=True)
    with TestClient(create_app(settings), base_url="http://localhost") as c:
        mid = add_model(settings, fitted(), deployed_api=True)
        status, body, _, peak = _send_chunked(c, f"/api/v1/predict/{mid}", mb=40)
        assert status == 401, body
        assert peak < 12 * MB, peak


def test_predict_on_a_served_model_stops_at_the_limit(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with TestClient(create_app(settings), base_url="http://localhost") as c:
        mid = add_model(settings, fitted(), deployed_api=True)
        assert c.post(f"/api/v1/predict/{mid}", json={"data": rows(2)}).status_code == 200
        status, body, taken, peak = _send_chunked(c, f"/api/v1/predict/{mid}", mb=40)
        assert status == 413 and b"AUTOML_MAX_JSON_MB" in body, body
        assert taken == 40 and peak < 12 * MB, peak


def test_with_accounts_on_an_anonymous_body_is_401_unread(tmp_path: Path) -> None:
    with TestClient(create_app(_settings(tmp_path, auth="on")), base_url="http://localhost") as c:
        status, body, taken, _ = _send_chunked(c, "/api/v1/predict/1", mb=40)
        assert status == 401 and taken <= 1, (status, taken)


def test_uploads_keep_their_own_limit(small: TestClient) -> None:
    csv = b"a,b\n" + b"1,2\n" * (MB // 2)  # 2 MB: over the JSON limit, under the upload limit
    r = small.post("/api/datasets/upload", files={"file": ("two.csv", csv, "text/csv")})
    assert r.status_code == 201, r.text
    r = small.post("/api/datasets/upload", files={"file": ("five.csv", csv * 3, "text/csv")})
    assert r.status_code == 413 and "upload limit" in r.json()["detail"]
