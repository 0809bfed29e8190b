"""Ingest benchmark: a 1,000,000-row x 20-column CSV uploaded over HTTP and profiled, against pyarrow alone.

    uv run python bench/ingest.py [--rows 1000000] [--csv PATH] [--repeat 1]

In one run: `pyarrow.csv.read_csv(path)` in this (fresh) process is the baseline; then `uv run automl serve
--workers 0` starts on a free port with a temporary data dir, the file is uploaded to /api/datasets/upload
(multipart, as the acceptance check does, client time included) and the server's peak resident memory
(VmHWM of its Python process) is read from /proc. Prints one JSON object with the figures.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[1]


def make_csv(path: Path, rows: int) -> None:
    """Mixed numeric, categorical, datetime and missing values (the acceptance check's recipe)."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({f"n{i}": rng.normal(size=rows).round(4) for i in range(12)})
    for i in range(5):
        df[f"c{i}"] = rng.choice([f"level_{k}" for k in range(50 * (i + 1))], rows)
    df["d0"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 2000, rows), unit="D")
    df["n12"] = df["n0"].where(rng.random(rows) > 0.1)
    df["c5"] = rng.choice(["yes", "no", None], rows)
    df.to_csv(path, index=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError):
                kids = [int(k) for k in (task / "children").read_text().split()]
                out += kids
                todo += kids
    return out


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def server_pid(root_pid: int) -> int:
    """The Python process running uvicorn (`uv run` starts it as a child)."""
    for pid in [root_pid, *descendants(root_pid)]:
        with contextlib.suppress(OSError):
            if "python" in os.readlink(f"/proc/{pid}/exe"):
                return pid
    raise RuntimeError("server process not found")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def multipart(filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    buf = io.BytesIO()
    buf.write(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
              "Content-Type: application/octet-stream\r\n\r\n".encode())
    buf.write(content)
    buf.write(f"\r\n--{boundary}--\r\n".encode())
    return buf.getvalue(), f"multipart/form-data; boundary={boundary}"


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AUTOML_DATA_DIR": str(data_dir)}
    log = open(data_dir.parent / "server.log", "wb")  # noqa: SIM115 - the server owns it until it exits
    proc = subprocess.Popen(["uv", "run", "--quiet", "automl", "serve", "--workers", "0", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return proc
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGTERM)
    raise RuntimeError("server did not start")


def upload(port: int, body: bytes, ctype: str) -> tuple[float, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/datasets/upload", data=body, method="POST",
                                 headers={"Content-Type": ctype})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=600) as r:
        payload = json.loads(r.read())
    return time.perf_counter() - t0, payload


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--csv", type=Path, help="use this CSV instead of generating one")
    ap.add_argument("--repeat", type=int, default=1, help="number of uploads (the ratio uses the first)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="automl-bench-"))
    path = args.csv or tmp / "ingest.csv"
    if args.csv is None:
        make_csv(path, args.rows)
    data = path.read_bytes()
    t0, c0 = time.perf_counter(), time.process_time()
    pacsv.read_csv(path)  # the baseline, as the acceptance check runs it: a fresh process, default options
    t_arrow, c_arrow = time.perf_counter() - t0, time.process_time() - c0
    pa.set_memory_pool(pa.system_memory_pool())
    t0 = time.perf_counter()
    pacsv.read_csv(path)
    t_arrow_system = time.perf_counter() - t0
    body, ctype = multipart("ingest.csv", data)
    port = free_port()
    proc = start_server(tmp / "data", port)
    try:
        pid = server_pid(proc.pid)
        hwm_idle = vm_hwm_mb(pid)
        times, cpu = [], []
        for _ in range(args.repeat):
            c0 = cpu_s(pid)
            t_up, ds = upload(port, body, ctype)
            times.append(t_up)
            cpu.append(cpu_s(pid) - c0)
        hwm = vm_hwm_mb(pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)  # the CSV, the server's data dir and its log
    size_mb = len(data) / 2**20
    print(json.dumps({
        "rows": ds["n_rows"], "cols": ds["n_cols"], "file_mb": round(size_mb, 1),
        "pyarrow_read_s": round(t_arrow, 3), "pyarrow_read_system_pool_s": round(t_arrow_system, 3),
        "upload_and_profile_s": [round(t, 3) for t in times],
        "ratio_vs_pyarrow": round(times[0] / t_arrow, 2),
        "ratio_vs_pyarrow_system_pool": round(times[0] / t_arrow_system, 2),
        "pyarrow_read_cpu_s": round(c_arrow, 3), "server_cpu_s": [round(c, 3) for c in cpu],
        "cpu_ratio": round(cpu[0] / c_arrow, 2),
        "server_peak_rss_mb": round(hwm, 1), "server_idle_peak_rss_mb": round(hwm_idle, 1),
        "peak_rss_over_file_size": round(hwm / size_mb, 2),
        "kinds": {c["name"]: c["kind"] for c in ds["columns"]},
    }, indent=1))


if __name__ == "__main__":
    main()
