"""Serving benchmark: single-row latency against the HTTP floor, concurrency, and 1M-row batch scoring.

    uv run python bench/serving.py [--rows 1000000] [--requests 1000] [--concurrency-s 30]

Starts `automl serve` (one embedded worker) on a free port with a scratch data dir, records a LightGBM
pipeline (the engine's LightGBM preprocessing: native categoricals) trained on 20 columns as a model,
deploys it through the API, then measures over keep-alive HTTP connections:
  - GET /healthz p50 (the HTTP floor), the pipeline's in-process single-row predict p50 as served (the
    verified fast path, engine/fastpath/) and through scikit-learn's own transform/predict for reference,
  - single-row POST /api/v1/predict p50 / p99 over N sequential requests,
  - 16 concurrent clients for S seconds (errors, throughput),
  - batch scoring of R rows x 20 columns end to end: upload, job, download.
Prints one JSON object with every figure; docs/benchmarks.md quotes a run.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from lightgbm import LGBMClassifier
from sklearn.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]
N_NUMERIC, CATS = 16, {"c0": 5, "c1": 20, "c2": 50, "c3": 3}


def synth(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, N_NUMERIC)).round(4), columns=[f"x{i}" for i in range(N_NUMERIC)])
    for name, k in CATS.items():
        df[name] = rng.choice([f"{name}_{j}" for j in range(k)], n)
    logit = df.x0 - 0.7 * df.x1 + 0.5 * df.x2 * df.x3 + (df.c0 == "c0_1") * 0.8
    df["label"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    df.loc[::17, "x5"] = np.nan
    return df


def build_model(df: pd.DataFrame) -> Any:
    from automl.engine import FittedModel
    from automl.engine.kinds import coerce_frame, column_schema, fit_kinds
    from automl.engine.preprocess import ColumnPlan, build_preprocessor
    from automl.ingest import column_kinds

    raw = df.drop(columns=["label"])
    kinds = fit_kinds(raw, column_kinds(raw))
    X = coerce_frame(raw, kinds)
    y = (df["label"] == "yes").astype(int).to_numpy()
    pre = build_preprocessor(ColumnPlan.from_kinds(X, kinds), "lightgbm", target_type="binary", n_rows=len(X))
    pipe = Pipeline([("pre", pre), ("model", LGBMClassifier(n_estimators=200, num_leaves=31, learning_rate=0.05,
                                                             verbose=-1, n_jobs=1))])
    pipe.fit(X, y)
    schema = [column_schema(c, X[c], kinds[c], raw=raw[c]) for c in X.columns]
    return FittedModel(algorithm="lightgbm", problem_type="binary", classes=np.array(["no", "yes"], dtype=object),
                       kinds=kinds, input_schema=schema, members=[(pipe, 1.0)])


def record_model(data_dir: Path, model: Any) -> int:
    from automl.config import Settings
    from automl.db import Database
    from automl.db.models import Dataset, Experiment, TrainedModel
    from automl.engine import save_model
    from automl.files import new_key
    from automl.storage import Storage

    settings = Settings(data_dir=data_dir, _env_file=None)  # type: ignore[call-arg]
    key = new_key()
    path = Storage(data_dir).artifact(key)
    sha = save_model(model, path)
    db = Database(settings.db_url)
    with db.session() as s:
        ds = Dataset(name="bench.csv", storage_key=new_key(), source_format="csv", size_bytes=0, sha256="0" * 64,
                     n_rows=0, n_cols=21, profile={"columns": [], "warnings": []})
        exp = Experiment(name="bench", dataset=ds, target_column="label", feature_columns=list(model.kinds),
                         problem_type="binary", metric="roc_auc", time_budget_s=0, status="completed")
        tm = TrainedModel(experiment=exp, candidate_key="lightgbm-bench", algorithm="lightgbm",
                          input_schema=model.input_schema, classes=["no", "yes"], artifact_key=key,
                          artifact_sha256=sha, artifact_size=path.stat().st_size)
        s.add(tm)
        s.flush()
        model_id = tm.id
    db.dispose()
    return model_id


class Client:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
                ) -> tuple[int, bytes]:
        h = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, bytearray)) and not hasattr(body, "read"):
            body, h["Content-Type"] = json.dumps(body).encode(), "application/json"
        self.conn.request(method, path, body=body, headers=h)
        resp = self.conn.getresponse()
        return resp.status, resp.read()


def percentile(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000


def time_calls(fn: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def start_server(data_dir: Path, *, workers: int = 1, env: dict[str, str] | None = None
                 ) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "AUTOML_DATA_DIR": str(data_dir), "AUTOML_LOG_LEVEL": "WARNING", **(env or {})}
    cmd = [str(Path(sys.executable).with_name("automl")), "serve", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if Client(port).request("GET", "/healthz")[0] == 200:
                return proc, port
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("server did not start")


def latency(port: int, model_id: int, model: Any, row: dict[str, Any], n: int) -> dict[str, float]:
    """Interleaved, so the floor, the in-process baseline and the HTTP path see the same machine load."""
    c = Client(port)
    path, body = f"/api/v1/predict/{model_id}", {"data": [row]}
    frame = pd.DataFrame([row])
    fast = model.fast
    assert fast is not None, "the fast path did not verify for the bench model"

    def regular() -> None:  # the same pipelines through scikit-learn (the path before engine/fastpath/)
        model.fast = None
        try:
            model.predict(frame)
        finally:
            model.fast = fast

    for _ in range(50):  # warm every path
        c.request("POST", path, body)
        c.request("GET", "/healthz")
        model.predict(frame)
        regular()
    floor, lat, inproc, inproc_regular = [], [], [], []
    before = server_predict_seconds(c, model_id)
    for _ in range(n):
        floor += time_calls(lambda: c.request("GET", "/healthz"), 1)
        lat += time_calls(lambda: c.request("POST", path, body), 1)
        inproc += time_calls(lambda: model.predict(frame), 1)
        inproc_regular += time_calls(regular, 1)
    after = server_predict_seconds(c, model_id)
    p50 = {name: percentile(v, 0.5) for name, v in (("floor", floor), ("lat", lat), ("inproc", inproc))}
    return {"healthz_p50_ms": p50["floor"], "inprocess_predict_p50_ms": p50["inproc"],
            "inprocess_sklearn_predict_p50_ms": percentile(inproc_regular, 0.5),
            "predict_p50_ms": p50["lat"], "predict_p99_ms": percentile(lat, 0.99),
            "overhead_p50_ms": p50["lat"] - p50["floor"] - p50["inproc"],
            "server_validate_and_predict_mean_ms": (after[0] - before[0]) / max(after[1] - before[1], 1) * 1000}


def server_predict_seconds(c: Client, model_id: int) -> tuple[float, float]:
    """(sum, count) of the server's own validation + predict time, from /metrics."""
    text = c.request("GET", "/metrics")[1].decode()
    values = {}
    for line in text.splitlines():
        for name in ("sum", "count"):
            if line.startswith(f'automl_predict_duration_seconds_{name}{{model_id="{model_id}"}}'):
                values[name] = float(line.rsplit(" ", 1)[1])
    return values.get("sum", 0.0), values.get("count", 0.0)


def concurrency(port: int, model_id: int, row: dict[str, Any], seconds: float, clients: int = 16) -> dict[str, Any]:
    errors: list[Any] = []
    counts = [0] * clients
    stop = time.time() + seconds

    def run(i: int) -> None:
        c = Client(port)
        while time.time() < stop:
            try:
                code, _ = c.request("POST", f"/api/v1/predict/{model_id}", {"data": [row]})
            except OSError as exc:
                errors.append(repr(exc))
                c = Client(port)
                continue
            counts[i] += 1
            if code != 200:
                errors.append(code)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return {"clients": clients, "seconds": seconds, "requests": sum(counts), "errors": len(errors),
            "requests_per_s": sum(counts) / seconds}


def multipart_upload(port: int, path: str, file: Path) -> tuple[int, bytes]:
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file.name}\"\r\n"
            "Content-Type: text/csv\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = len(head) + file.stat().st_size + len(tail)

    def body() -> Any:
        yield head
        with open(file, "rb") as f:
            while block := f.read(1 << 20):
                yield block
        yield tail

    c = Client(port)
    c.conn.putrequest("POST", path)
    c.conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    c.conn.putheader("Content-Length", str(size))
    c.conn.endheaders()
    for chunk in body():
        c.conn.send(chunk)
    resp = c.conn.getresponse()
    return resp.status, resp.read()


def model_only_seconds(model: Any, src: Path, chunk: int = 100_000) -> float:
    """The baseline: the same rows through the pipeline's predict_proba in this process, one thread, no I/O."""
    frame = pacsv.read_csv(src).to_pandas()
    t0 = time.perf_counter()
    for start in range(0, len(frame), chunk):
        model.predict_proba(frame.iloc[start:start + chunk])
    return time.perf_counter() - t0


def batch(port: int, model_id: int, model: Any, rows: int, workdir: Path) -> dict[str, Any]:
    src = workdir / "score.csv"
    df = synth(rows, seed=2).drop(columns=["label"])
    df.loc[::1000, "c3"] = "=HYPERLINK(\"x\")"  # formula cells to neutralise
    pacsv.write_csv(pa.Table.from_pandas(df, preserve_index=False), src)
    del df
    t0 = time.perf_counter()
    code, body = multipart_upload(port, f"/api/v1/predict/{model_id}/batch", src)
    assert code == 202, body
    t_upload = time.perf_counter() - t0
    batch_id = json.loads(body)["id"]
    c = Client(port)
    while True:
        status = json.loads(c.request("GET", f"/api/batch-predictions/{batch_id}")[1])
        if status["status"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.1)
    t_job = time.perf_counter() - t0
    assert status["status"] == "completed", status
    out = workdir / "scored.csv"
    c.conn.request("GET", f"/api/batch-predictions/{batch_id}/download")
    resp = c.conn.getresponse()
    lines = 0
    with open(out, "wb") as f:
        while block := resp.read(1 << 20):
            lines += block.count(b"\n")
            f.write(block)
    took = time.perf_counter() - t0
    head = out.open().readline().strip().split(",")
    model_s = model_only_seconds(model, src)
    return {"rows": rows, "columns": len(CATS) + N_NUMERIC, "input_mb": round(src.stat().st_size / 2**20, 1),
            "upload_s": round(t_upload, 2), "upload_and_job_s": round(t_job, 2), "end_to_end_s": round(took, 2),
            "rows_per_s": round(rows / took), "output_rows": lines - 1, "output_tail_columns": head[-3:],
            "model_only_predict_s": round(model_s, 2), "model_only_rows_per_s": round(rows / model_s)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--concurrency-s", type=float, default=30)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    data_dir = work / "data"
    df = synth(20_000)
    model = build_model(df)
    model.compile_fast()  # what load_model does for the server: the in-process baseline predicts the same way
    row = json.loads(df.drop(columns=["label"]).head(1).to_json(orient="records"))[0]
    proc, port = start_server(data_dir)
    try:
        model_id = record_model(data_dir, model)
        code, _ = Client(port).request("POST", f"/api/models/{model_id}/deploy", {"api": True, "batch": True})
        assert code == 200
        result: dict[str, Any] = {"machine": f"{os.cpu_count()} cores", "model": "LightGBM pipeline, 20 columns"}
        result["latency"] = latency(port, model_id, model, row, args.requests)
        result["concurrency"] = concurrency(port, model_id, row, args.concurrency_s)
        result["batch"] = batch(port, model_id, model, args.rows, work)
        print(json.dumps(result, indent=2))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)


if __name__ == "__main__":
    main()
