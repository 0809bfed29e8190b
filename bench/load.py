"""Load on the write path: concurrent clients mixing reads, uploads, key creation and predictions while an
experiment trains, against a real `automl serve --workers 1` on loopback.

    uv run python bench/load.py [--clients 16] [--seconds 60] [--baseline-s 10] [--database-url URL]

Starts the server in a scratch data dir (SQLite by default), uploads a 3,000-row table, starts an experiment
whose budget outlasts the run, deploys its first model for the API as soon as it registers, then runs the mix
once with one client (the baseline) and once with `--clients`. Prints one JSON object: per kind the requests
sent, errors (any unexpected status or transport error), p50 / p99 / max in ms, and the stalls (requests over
1 s). tests/battery/test_load.py runs the same mix and asserts zero errors and zero stalls.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

STALL_S = 1.0
KINDS = {"read": 4, "upload": 1, "key": 2, "predict": 3}  # relative weights of the mix
EXPECTED = {"read": 200, "upload": 201, "key": 201, "predict": 200}
AUTOML = str(Path(sys.executable).with_name("automl"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 4)).round(3), columns=["a", "b", "c", "d"])
    df["city"] = rng.choice(["north", "south", "east"], n)
    logit = df.a - df.b + (df.city == "south") * 0.8
    df["label"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return df


def csv_bytes(df: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    return buf.getvalue().encode()


def start(data_dir: Path, *, database_url: str | None = None, log: Path | None = None
          ) -> tuple[subprocess.Popen[bytes], str]:
    """`automl serve --workers 1` on a free loopback port, in its own process group, once it is healthy."""
    port = free_port()
    env = {**os.environ, "AUTOML_DATA_DIR": str(data_dir), "AUTOML_LOG_LEVEL": "WARNING"}
    env.pop("AUTOML_DATABASE_URL", None)
    if database_url:
        env["AUTOML_DATABASE_URL"] = database_url
    with open(log or os.devnull, "ab") as out:
        proc = subprocess.Popen([AUTOML, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc)
    except BaseException:
        stop(proc)
        raise
    return proc, base


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Signal the whole group (the API and its workers); SIGKILL whatever is left after 15 s."""
    try:
        os.killpg(proc.pid, sig)
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    except ProcessLookupError:
        pass


@contextmanager
def server(data_dir: Path, *, database_url: str | None = None, log: Path | None = None) -> Iterator[str]:
    """`start`, and `stop` afterwards."""
    proc, base = start(data_dir, database_url=database_url, log=log)
    try:
        yield base
    finally:
        stop(proc)


def wait_healthy(base: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("server did not answer /healthz")


@dataclass
class Scene:
    """What the mix needs: a dataset, the experiment training meanwhile, a deployed model, one predict body."""

    dataset_id: int
    experiment_id: int
    model_id: int
    rows: list[dict[str, Any]] = field(default_factory=list)


def prepare(base: str, *, train_s: float) -> Scene:
    """Upload a table, start an experiment of `train_s` seconds, deploy its first model once it registers."""
    with httpx.Client(base_url=base, timeout=30) as c:
        df = frame(3000)
        r = c.post("/api/datasets/upload", files={"file": ("train.csv", csv_bytes(df), "text/csv")})
        r.raise_for_status()
        ds = r.json()["id"]
        r = c.post("/api/experiments", json={"dataset_id": ds, "target_column": "label", "time_budget_s": train_s})
        r.raise_for_status()
        exp = r.json()["id"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            board = c.get(f"/api/experiments/{exp}").json()
            if board["leaderboard"]:
                break
            if board["status"] in ("failed", "cancelled", "completed"):
                raise RuntimeError(f"the experiment ended before a model registered: {board}")
            time.sleep(0.3)
        else:
            raise RuntimeError("no model registered within 120 s")
        model = board["leaderboard"][0]["model_id"]
        c.post(f"/api/models/{model}/deploy", json={"api": True}).raise_for_status()
    rows = frame(3, seed=1).drop(columns=["label"]).to_dict(orient="records")
    return Scene(ds, exp, model, rows)


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    errors: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KINDS})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            if error is not None:
                self.errors[kind].append(error)


def one_request(c: httpx.Client, kind: str, scene: Scene, small: bytes) -> httpx.Response:
    if kind == "read":
        path = random.choice(["/api/datasets?limit=20", f"/api/experiments/{scene.experiment_id}", "/healthz"])
        return c.get(path)
    if kind == "upload":
        return c.post("/api/datasets/upload", files={"file": (f"{uuid.uuid4().hex[:8]}.csv", small, "text/csv")})
    if kind == "key":
        return c.post("/api/keys", json={"name": f"load-{uuid.uuid4().hex[:12]}"})
    return c.post(f"/api/v1/predict/{scene.model_id}", json={"data": scene.rows})


def client_loop(base: str, scene: Scene, tally: Tally, until: float, seed: int) -> None:
    rng = random.Random(seed)
    kinds, weights = list(KINDS), list(KINDS.values())
    small = csv_bytes(frame(50, seed=seed))
    with httpx.Client(base_url=base, timeout=60) as c:
        while time.monotonic() < until:
            kind = rng.choices(kinds, weights)[0]
            t0 = time.perf_counter()
            error: str | None = None
            try:
                r = one_request(c, kind, scene, small)
                if r.status_code != EXPECTED[kind]:
                    error = f"{r.status_code} {r.text[:200]}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            tally.add(kind, time.perf_counter() - t0, error)


def run_mix(base: str, scene: Scene, *, clients: int, seconds: float) -> dict[str, Any]:
    """`clients` threads for `seconds`; the figures per kind and in total."""
    tally = Tally()
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=client_loop, args=(base, scene, tally, until, i), daemon=True)
               for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 120)
    return summarize(tally, clients=clients, seconds=seconds)


def _figures(latencies: list[float], errors: list[str]) -> dict[str, Any]:
    ms = np.array(latencies or [0.0]) * 1000
    return {"requests": len(latencies), "errors": len(errors), "stalls": int((ms > STALL_S * 1000).sum()),
            "p50_ms": round(float(np.percentile(ms, 50)), 1), "p99_ms": round(float(np.percentile(ms, 99)), 1),
            "max_ms": round(float(ms.max()), 1)}


def summarize(tally: Tally, *, clients: int, seconds: float) -> dict[str, Any]:
    kinds = {k: _figures(tally.latencies[k], tally.errors[k]) for k in KINDS}
    every = [x for k in KINDS for x in tally.latencies[k]]
    all_errors = [e for k in KINDS for e in tally.errors[k]]
    return {"clients": clients, "seconds": seconds, "total": _figures(every, all_errors), "kinds": kinds,
            "error_samples": all_errors[:5]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--baseline-s", type=float, default=10)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="automl-load-") as tmp:
        with server(Path(tmp) / "data", database_url=args.database_url, log=Path(tmp) / "serve.log") as base:
            scene = prepare(base, train_s=args.baseline_s + args.seconds + 30)
            baseline = run_mix(base, scene, clients=1, seconds=args.baseline_s)
            loaded = run_mix(base, scene, clients=args.clients, seconds=args.seconds)
            training = httpx.get(f"{base}/api/experiments/{scene.experiment_id}").json()["status"]
    print(json.dumps({"database": "postgresql" if args.database_url else "sqlite", "experiment": training,
                      "baseline": baseline, "load": loaded}, indent=2))


if __name__ == "__main__":
    main()
