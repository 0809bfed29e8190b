"""What accounts cost on the hot path: single-row predict with a bearer token (accounts on) and with a
signed-in session beside the same request with accounts off, on the same model and machine, interleaved.

    uv run python bench/auth.py [--requests 1000]

Starts two `automl serve` processes on scratch data dirs (AUTOML_AUTH=off and AUTOML_AUTH=on), records the
bench/serving.py LightGBM pipeline in each, deploys it, creates an admin and a predict token in the second,
then times request by request, round robin: GET /healthz (the HTTP floor), POST /api/v1/predict with accounts
off, with a token, with a session cookie. Also times a sign-in (one Argon2id verification). Prints JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from serving import Client, build_model, percentile, record_model, start_server, synth

PASSWORD = "bench password 1"


def start(data_dir: Path, auth: str) -> tuple[subprocess.Popen[bytes], int]:
    return start_server(data_dir, workers=0, env={"AUTOML_AUTH": auth})


def add_admin(data_dir: Path) -> None:
    from automl.config import Settings
    from automl.db import Database
    from automl.services import users

    db = Database(Settings(data_dir=data_dir, _env_file=None).db_url)  # type: ignore[call-arg]
    with db.session() as s:
        users.create_user(s, "bench", PASSWORD, "admin")
    db.dispose()


def sign_in(port: int) -> tuple[dict[str, str], float]:
    """Session headers (cookie + CSRF) and how long the sign-in took."""
    c = Client(port)
    body = json.dumps({"username": "bench", "password": PASSWORD}).encode()
    t0 = time.perf_counter()
    c.conn.request("POST", "/api/auth/login", body=body, headers={"Content-Type": "application/json"})
    resp = c.conn.getresponse()
    resp.read()
    took = time.perf_counter() - t0
    assert resp.status == 200, resp.status
    cookies = "; ".join(h.split(";", 1)[0] for h in resp.headers.get_all("Set-Cookie") or [])
    return {"Cookie": cookies, "X-CSRF-Token": resp.headers["X-CSRF-Token"]}, took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000)
    args = ap.parse_args()
    model = build_model(synth(20_000))
    row = json.loads(synth(1, seed=1).drop(columns=["label"]).to_json(orient="records"))[0]
    procs = []
    try:
        with tempfile.TemporaryDirectory() as off_dir, tempfile.TemporaryDirectory() as on_dir:
            p_off, port_off = start(Path(off_dir), "off")  # the servers create and migrate the databases
            p_on, port_on = start(Path(on_dir), "on")
            procs = [p_off, p_on]
            ids = {name: record_model(Path(d), model) for name, d in (("off", off_dir), ("on", on_dir))}
            add_admin(Path(on_dir))
            session, login_s = sign_in(port_on)
            logins = [sign_in(port_on)[1] for _ in range(10)]
            admin = Client(port_on)
            assert admin.request("POST", f"/api/models/{ids['on']}/deploy", {"api": True}, session)[0] == 200
            assert Client(port_off).request("POST", f"/api/models/{ids['off']}/deploy", {"api": True})[0] == 200
            code, out = admin.request("POST", "/api/tokens", {"name": "bench", "scopes": ["predict"]}, session)
            assert code == 201, out
            bearer = {"Authorization": f"Bearer {json.loads(out)['token']}"}
            print(json.dumps({**measure(port_off, port_on, ids, row, bearer, session, args.requests),
                              "login_p50_ms": percentile([login_s, *logins], 0.5)}, indent=2))
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)


def measure(port_off: int, port_on: int, ids: dict[str, int], row: dict[str, Any], bearer: dict[str, str],
            session: dict[str, str], n: int) -> dict[str, float]:
    floor, off, on_c, on_s = Client(port_off), Client(port_off), Client(port_on), Client(port_on)
    body = {"data": [row]}
    calls = {
        "healthz": lambda: floor.request("GET", "/healthz"),
        "off": lambda: off.request("POST", f"/api/v1/predict/{ids['off']}", body),
        "token": lambda: on_c.request("POST", f"/api/v1/predict/{ids['on']}", body, bearer),
        "session": lambda: on_s.request("POST", f"/api/v1/predict/{ids['on']}", body, session),
    }
    for fn in calls.values():  # warm, and check every path answers 200
        for _ in range(50):
            code, out = fn()
            assert code == 200, (code, out[:200])
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(n):
        for name, fn in calls.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    p50 = {k: percentile(v, 0.5) for k, v in times.items()}
    return {"healthz_p50_ms": p50["healthz"], "predict_auth_off_p50_ms": p50["off"],
            "predict_token_p50_ms": p50["token"], "predict_session_p50_ms": p50["session"],
            "predict_token_p99_ms": percentile(times["token"], 0.99),
            "predict_auth_off_p99_ms": percentile(times["off"], 0.99),
            "token_over_off_ratio": p50["token"] / p50["off"], "session_over_off_ratio": p50["session"] / p50["off"]}


if __name__ == "__main__":
    main()
