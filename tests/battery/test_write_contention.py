"""Issue 13 row 2: concurrent writers against a real `automl serve --workers 1` on SQLite.

Before: with 3 clients on POST /api/keys and 1 on uploads `/healthz` took 30 s and writers got 500
`database is locked` (every transaction, reads too, began IMMEDIATE and waited up to 30 s in SQLite's busy
handler). Now readers take no lock and writers queue on a per-process gate (db/session.py).
"""
from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from batterytools import load

pytestmark = pytest.mark.battery
WRITERS, SECONDS = 8, 8.0  # 8 on POST /api/keys, 1 on uploads, 1 reading


def _writer(base: str, until: float, out: list[tuple[int, float]]) -> None:
    with httpx.Client(base_url=base, timeout=60) as c:
        while time.monotonic() < until:
            t0 = time.perf_counter()
            r = c.post("/api/keys", json={"name": f"w-{uuid.uuid4().hex[:12]}"})
            out.append((r.status_code, time.perf_counter() - t0))


def _uploader(base: str, until: float, out: list[tuple[int, float]]) -> None:
    small = load.csv_bytes(load.frame(200))
    with httpx.Client(base_url=base, timeout=60) as c:
        while time.monotonic() < until:
            t0 = time.perf_counter()
            r = c.post("/api/datasets/upload", files={"file": ("small.csv", small, "text/csv")})
            out.append((r.status_code, time.perf_counter() - t0))


def _prober(base: str, until: float, out: list[tuple[int, float]]) -> None:
    with httpx.Client(base_url=base, timeout=60) as c:
        while time.monotonic() < until:
            t0 = time.perf_counter()
            r = c.get(random_read())
            out.append((r.status_code, time.perf_counter() - t0))
            time.sleep(0.05)


def random_read() -> str:
    return "/healthz" if time.monotonic() % 2 < 1 else "/api/keys"


def test_eight_writers_neither_lock_out_nor_stall_the_readers(tmp_path: Path) -> None:
    with load.server(tmp_path / "data", log=tmp_path / "serve.log") as base:
        writes: list[tuple[int, float]] = []
        reads: list[tuple[int, float]] = []
        uploads: list[tuple[int, float]] = []
        until = time.monotonic() + SECONDS
        threads = [threading.Thread(target=_writer, args=(base, until, writes)) for _ in range(WRITERS)]
        threads.append(threading.Thread(target=_uploader, args=(base, until, uploads)))
        threads.append(threading.Thread(target=_prober, args=(base, until, reads)))
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        listed = httpx.get(base + "/api/keys", timeout=10).json()
    log = (tmp_path / "serve.log").read_text(errors="replace")
    assert writes and reads
    assert {s for s, _ in writes} == {201}, sorted({s for s, _ in writes})
    assert {s for s, _ in reads} == {200}
    assert uploads and {s for s, _ in uploads} == {201}
    assert max(t for _, t in reads) < 1.0, f"a read waited {max(t for _, t in reads):.1f} s behind the writers"
    assert max(t for _, t in writes) < 2.0, f"a write waited {max(t for _, t in writes):.1f} s"
    assert listed["total"] == len(writes)  # every 201 is a key that exists
    assert "database is locked" not in log and "worker tick failed" not in log and "flush failed" not in log
