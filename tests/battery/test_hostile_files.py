"""Issue 13, item 8: each hostile file through the real upload API: a clear 4xx (or 201 where it is valid), never
a 5xx, nothing kept on refusal, the server healthy after; the bombs against a real `automl serve` with its
resident memory measured. Rows 1 and 5 of the issue's table are files of this corpus."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import hostile_files
import pytest
from fastapi.testclient import TestClient

from automl.config import Settings
from automl.main import create_app

pytestmark = pytest.mark.battery
ROOT = Path(__file__).resolve().parents[2]
NAMES = hostile_files.names()


@pytest.fixture(scope="module")
def corpus(request: pytest.FixtureRequest) -> tuple[Path, dict[str, hostile_files.Expect]]:
    """Generated once per version of the generator, kept in pytest's cache folder (about 15 s to build)."""
    version = hashlib.sha256(Path(hostile_files.__file__).read_bytes()).hexdigest()[:12]
    folder = Path(request.config.cache.mkdir(f"hostile_files_{version}"))  # type: ignore[union-attr]
    return folder, hostile_files.build(folder)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Settings]]:
    """One app for the whole corpus: it must still serve after every file."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("hostile") / "data", _env_file=None)  # type: ignore[call-arg]
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        yield client, settings


def test_the_corpus_has_at_least_40_files(corpus: tuple[Path, dict[str, hostile_files.Expect]]) -> None:
    folder, expected = corpus
    assert len(expected) >= 40 and sorted(expected) == sorted(NAMES)
    assert all((folder / name).exists() for name in expected)


def _kept(settings: Settings) -> list[str]:
    return sorted(str(p.relative_to(settings.data_dir)) for area in ("uploads", "datasets")
                  for p in (settings.data_dir / area).glob("*"))


@pytest.mark.parametrize("name", NAMES)
def test_hostile_file_is_a_clear_answer_and_leaves_nothing(
    name: str, corpus: tuple[Path, dict[str, hostile_files.Expect]], server: tuple[TestClient, Settings]
) -> None:
    folder, expected = corpus
    client, settings = server
    allowed = expected[name] if isinstance(expected[name], tuple) else (expected[name],)
    before = client.get("/api/datasets").json()["total"]
    with open(folder / name, "rb") as f:
        r = client.post("/api/datasets/upload", files={"file": (name, f, "application/octet-stream")})
    assert r.status_code < 500, r.text
    assert r.status_code in allowed, f"{name}: {r.status_code} {r.text[:300]}"
    if r.status_code == 201:
        shown = r.json()["name"]
        assert "\u202e" not in shown
        client.delete(f"/api/datasets/{r.json()['id']}")
    else:
        detail = r.json()["detail"]
        assert isinstance(detail, str) and 10 < len(detail) < 2000, detail
        assert str(settings.data_dir) not in detail
        assert client.get("/api/datasets").json()["total"] == before
    assert _kept(settings) == []
    assert client.get("/healthz").status_code == 200


def test_limits_are_named_in_the_answer(corpus: tuple[Path, dict[str, hostile_files.Expect]],
                                        server: tuple[TestClient, Settings]) -> None:
    folder, _ = corpus
    client, _ = server
    for name, words in (("row1_a1_xfd1048576.xlsx", "AUTOML_MAX_CELLS"), ("row5_whitespace_2gb.xlsx", "MB"),
                        ("row5_million_rows.xlsx", "times"), ("single_line_80mb.csv", "line"),
                        ("huge_declared_rows.parquet", "AUTOML_MAX_CELLS")):
        r = client.post("/api/datasets/upload", files={"file": (name, (folder / name).read_bytes())})
        assert r.status_code == 413 and words in r.json()["detail"], (name, r.text)


# -- a real server: the bombs do not grow its memory ---------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _python_pid(root: int) -> int:
    todo, seen = [root], []
    while todo:
        pid = todo.pop()
        seen.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                todo += [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                pass
    for pid in seen:
        try:
            if "python" in os.readlink(f"/proc/{pid}/exe") and "serve" in Path(f"/proc/{pid}/cmdline").read_text():
                return pid
        except OSError:
            continue
    raise RuntimeError("server process not found")


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(field)


def _post(port: int, name: str, content: bytes) -> int:
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'.encode()
            + content + f"\r\n--{boundary}--\r\n".encode())
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/datasets/upload", data=body, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        json.loads(exc.read())
        return int(exc.code)


@pytest.fixture(scope="module")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    data = tmp_path_factory.mktemp("hostile-serve") / "data"
    port = _free_port()
    env = {**os.environ, "AUTOML_DATA_DIR": str(data)}
    log = open(data.parent / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(["uv", "run", "--quiet", "automl", "serve", "--workers", "1", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError((data.parent / "server.log").read_text()[-2000:]) from None
                time.sleep(0.3)
        yield port, _python_pid(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        log.close()


def test_bombs_leave_a_real_server_small_and_serving(
    corpus: tuple[Path, dict[str, hostile_files.Expect]], real_server: tuple[int, int]
) -> None:
    folder, expected = corpus
    port, pid = real_server
    _post(port, "warm.csv", b"a,b\n1,2\n3,4\n")  # the forkserver and the first request's imports
    rss0 = _rss_mb(pid)
    report = {}
    for name in hostile_files.BOMBS:
        status = _post(port, name, (folder / name).read_bytes())
        allowed = expected[name] if isinstance(expected[name], tuple) else (expected[name],)
        assert status in allowed, (name, status)
        report[name] = status
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            assert r.status == 200
    rss1, hwm = _rss_mb(pid), _rss_mb(pid, "VmHWM")
    print(json.dumps({"rss_before_mb": round(rss0), "rss_after_mb": round(rss1), "peak_mb": round(hwm),
                      "answers": report}))
    assert rss1 - rss0 < 150, (rss0, rss1)
    assert hwm - rss0 < 250, (rss0, hwm)  # the request bodies pass through; parsing happens elsewhere


@pytest.mark.parametrize("name", ["row1_a1_xfd1048576.xlsx", "row1_a1_xfd1048576_no_dimension.xlsx",
                                  "row5_whitespace_2gb.xlsx", "huge_declared_rows.parquet"])
def test_batch_files_are_checked_in_the_sandbox(name: str, corpus: tuple[Path, dict[str, hostile_files.Expect]],
                                                tmp_path: Path) -> None:
    from automl.serving.batch import BatchInputError, check_columns, score_file

    folder, _ = corpus
    schema = [{"name": "x", "kind": "numeric"}]
    with pytest.raises(BatchInputError):
        check_columns(schema, folder / name, filename=name)
    with pytest.raises(BatchInputError):
        score_file(object(), schema, folder / name, tmp_path / "out.csv", filename=name, classifier=False)
    assert list(tmp_path.iterdir()) == []
