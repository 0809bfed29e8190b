"""Stacking benchmark (a script, not a test): what the second layer (engine/stacking.py) brings on tables in no
choice of the engine (bench/portfolio.py's HELD_OUT; the layer's settings were set by hand, on none of them).

Each table gets a 75/25 split (seed 0) and two fits at the same budget: stacking on (the default) and off (same
run). In the on-fit the layer is always built and scored, whatever its check says, so that the check itself is
measured: rank 1 of that fit is the model the check would have served. Printed per table: whether the
held-out-fold check adopted the layer, its CV score beside the ensemble's, the test score of the stacked and the
plain ensemble (the same members: only the layer differs), rank 1's test score of each fit as a ratio
on / off (> 1: stacking better), and the batch scoring speed of both (fast path, 100k rows). Rewrites
the section between `<!-- stacking:start -->` and `<!-- stacking:end -->` in docs/benchmarks.md.

    uv run python bench/stacking.py --budget 30
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import pandas as pd
from portfolio import HELD_OUT, load_table, tables
from quality import encode, score, write_section
from sklearn.model_selection import train_test_split

import automl.engine.automl as engine_automl
from automl.engine import AutoML, detect_problem_type
from automl.engine.stacking import StackCheck
from automl.engine.task import DEFAULT_METRIC
from automl.ingest import column_kinds

START, END = "<!-- stacking:start -->", "<!-- stacking:end -->"


BATCH_ROWS = 100_000


def rows_per_s(model: Any, X: pd.DataFrame) -> float:
    """Batch scoring speed through the fast path, as a deployment serves: the test rows repeated to BATCH_ROWS."""
    model.compile_fast()
    batch = pd.concat([X] * (BATCH_ROWS // len(X) + 1), ignore_index=True).iloc[:BATCH_ROWS]
    predict(model, batch.head(100))
    start = time.perf_counter()
    predict(model, batch)
    return BATCH_ROWS / (time.perf_counter() - start)


def predict(model: Any, X: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(X).to_numpy() if model.classes_ is not None else model.predict(X)


def _built_whatever_the_check_says(verdicts: list[StackCheck]) -> None:
    def adopt(*args: Any) -> StackCheck:
        verdict = real(*args)
        verdicts.append(verdict)
        return StackCheck(True, verdict.cv_score, verdict.base_cv_score, verdict.folds_better, verdict.n_folds)

    real = engine_automl.check
    engine_automl.check = adopt  # type: ignore[assignment]


def run(name: str, target: str, budget: float) -> dict[str, Any]:
    df = load_table(name).dropna(subset=[target])
    ptype = detect_problem_type(df[target])
    metric = DEFAULT_METRIC[ptype]
    train, test = train_test_split(df, test_size=0.25, random_state=0,
                                   stratify=df[target] if ptype != "regression" else None)
    y = encode(test[target], ptype, np.unique(train[target]) if ptype != "regression" else None)
    X = test.drop(columns=[target])
    row: dict[str, Any] = {"table": f"{name}:{target}", "rows": len(df), "metric": metric}
    real = engine_automl.check
    for on in (True, False):
        verdicts: list[StackCheck] = []
        if on:
            _built_whatever_the_check_says(verdicts)
        start = time.monotonic()
        try:
            result = AutoML(time_budget_s=budget, metric=metric, seed=0, stacking=on).fit(
                train, target, kinds=column_kinds(train))
        finally:
            engine_automl.check = real  # type: ignore[assignment]
        wall = time.monotonic() - start
        key = "on" if on else "off"
        served = result.leaderboard
        if on:
            row["stacking"] = verdicts[0].card() if verdicts else result.summary["stacking"]
            by_key = {m.key: m for m in served}
            for k in ("stack", "ensemble"):
                row[k] = score(metric, y, predict(by_key[k].model, X)) if k in by_key else None
                row[f"{k}_rows_s"] = rows_per_s(by_key[k].model, X) if k in by_key else None
            served = [m for m in served if m.key != "stack" or row["stacking"].get("adopted")]
        row[key], row[f"{key}_wall"] = score(metric, y, predict(served[0].model, X)), wall
    print(row, flush=True)
    return row


def _ratio(metric: str, new: float, old: float) -> float:
    return old / new if metric in ("log_loss", "rmse") else new / old


def _speed(r: dict[str, Any]) -> str:
    if r.get("stack_rows_s") is None or r.get("ensemble_rows_s") is None:
        return "-"
    return f"{r['stack_rows_s']:,.0f} / {r['ensemble_rows_s']:,.0f} ({r['stack_rows_s'] / r['ensemble_rows_s']:.2f})"


def table(rows: list[dict[str, Any]], budget: float) -> str:
    lines = [f"`bench/stacking.py --budget {budget:g}`: tables in no choice of the engine, 75/25 split, two fits",
             "per table (stacking on, off; same run). CV: the layer's OOF score beside the ensemble's, and the",
             "folds it was better on. Test: the on-fit's stacked and plain ensembles (same members), and rank 1 of",
             "each fit as a ratio on / off (> 1: stacking better); batch scoring speed of both through the fast path",
             f"({BATCH_ROWS:,} rows).", "",
             "| table | rows | metric | adopted | CV stack / ensemble | folds better | test stack | "
             "test ensemble | rank 1 on / off | wall/budget | batch rows/s stack / ensemble |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    adopted = 0
    for r in rows:
        s = r["stacking"]
        adopted += bool(s.get("adopted"))
        cv = (f"{s['cv_score']:.4f} / {s['ensemble_cv_score']:.4f}" if "cv_score" in s
              else f"skipped: {s.get('skipped')}")
        stack = "-" if r["stack"] is None else f"{r['stack']:.4f}"
        ens = "-" if r["ensemble"] is None else f"{r['ensemble']:.4f}"
        lines.append(f"| {r['table']} | {r['rows']:,} | {r['metric']} | {'yes' if s.get('adopted') else 'no'} "
                     f"| {cv} | {s.get('folds_better', '-')} | {stack} | {ens} "
                     f"| {_ratio(r['metric'], r['on'], r['off']):.4f} | {r['on_wall'] / budget:.2f} "
                     f"| {_speed(r)} |")
    lines += ["", f"Adopted on {adopted} of {len(rows)}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=30.0)
    parser.add_argument("--tables", default=HELD_OUT, help="name:target,... (default: portfolio.HELD_OUT)")
    args = parser.parse_args()
    rows = [run(name, target, args.budget) for name, target in tables(args.tables)]
    write_section(table(rows, args.budget), start=START, end=END, heading="Stacking (bench/stacking.py)")


if __name__ == "__main__":
    main()
