"""Time budget and memory at scale (a script, not a test).

For each size, a child process builds a synthetic 20-column frame (12 numeric, one with 10 % missing;
5 categoricals with 5 to 250 levels; a yes/no column; a date column; a binary target with signal),
runs `AutoML(time_budget_s=B).fit(df, target="churn")` and reports the wall time of `fit` against the
budget, the child's peak RSS (`ru_maxrss`, the frame included), the rank-1 model and its holdout
metric. Prints a table and rewrites the section between `<!-- scale:start -->` and
`<!-- scale:end -->` in docs/benchmarks.md.

    uv run python bench/size.py                                  # 500 .. 1M rows, 60 s / 300 s
    uv run python bench/size.py --sizes 5000,200000 --budget 30 --no-docs
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
START, END = "<!-- scale:start -->", "<!-- scale:end -->"
SIZES = (500, 5_000, 50_000, 200_000, 1_000_000)
BIG = 1_000_000  # from this size on the default budget is --big-budget
TARGET = "churn"
CAT_LEVELS = {"plan": 5, "region": 12, "channel": 40, "city": 100, "product": 250}


def synthetic(n_rows: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """20 columns: 12 numeric (one 10 % missing), 5 categoricals, a yes/no flag, a date and the target.

    Also returns the true probability of "yes" per row (the oracle's AUC bounds what any model can reach).
    The data-generating effects come from their own seed, so every size samples the same distribution.
    """
    rng = np.random.default_rng(seed)
    effect = {name: np.random.default_rng(seed + 1 + i).normal(0, 0.6, levels)
              for i, (name, levels) in enumerate(CAT_LEVELS.items())}
    cols: dict[str, object] = {}
    cols["age"] = rng.integers(18, 90, n_rows).astype("int64")
    cols["income"] = np.round(rng.lognormal(10.5, 0.6, n_rows), 2)
    cols["tenure_months"] = rng.integers(0, 120, n_rows).astype("int64")
    cols["monthly_spend"] = np.round(rng.gamma(2.0, 30.0, n_rows), 2)
    cols["n_calls"] = rng.poisson(2.0, n_rows).astype("int64")
    cols["balance"] = np.round(rng.normal(1000, 800, n_rows), 2)
    cols["score"] = np.round(rng.beta(2, 5, n_rows) * 850, 0)
    for i in range(4):
        cols[f"x{i}"] = rng.normal(size=n_rows)
    credit = rng.normal(650, 80, n_rows)
    credit[rng.random(n_rows) < 0.10] = np.nan  # the numeric column with 10 % missing
    cols["credit"] = credit
    cats = {}
    for name, levels in CAT_LEVELS.items():
        p = np.random.default_rng(seed + 10 + levels).dirichlet(np.full(levels, 0.8))  # uneven, like real data
        codes = rng.choice(levels, n_rows, p=p)
        cats[name] = codes
        cols[name] = np.array([f"{name}_{k}" for k in range(levels)], dtype=object)[codes]
    cols["paperless"] = np.where(rng.random(n_rows) < 0.6, "yes", "no")
    start = np.datetime64("2018-01-01")
    cols["signup"] = (start + rng.integers(0, 6 * 365, n_rows).astype("timedelta64[D]")).astype("datetime64[ns]")
    logit = (
        -1.0 + 0.8 * cols["x0"] - 0.5 * cols["x1"] + 0.4 * np.sin(2 * cols["x2"])
        - 0.015 * cols["tenure_months"] + 0.006 * (cols["monthly_spend"] - 60) + 0.25 * (cols["n_calls"] > 3)
        + 0.3 * (cols["paperless"] == "yes") + 0.004 * np.nan_to_num(650 - credit, nan=20.0)
        + sum(effect[name][codes] for name, codes in cats.items())
        + 0.4 * cols["x3"] * (cols["age"] > 50)
    )
    p_yes = 1 / (1 + np.exp(-logit))
    cols[TARGET] = np.where(rng.random(n_rows) < p_yes, "yes", "no")
    return pd.DataFrame(cols), p_yes


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def current_rss_mb() -> float:
    with open("/proc/self/status") as f:
        line = next((x for x in f if x.startswith("VmRSS")), "VmRSS: 0 kB")
    return int(line.split()[1]) / 1024


def child(n_rows: int, budget: float, *, verbose: bool = False) -> dict[str, object]:
    from sklearn.metrics import roc_auc_score

    from automl.engine import AutoML
    from automl.ingest import column_kinds

    df, p_yes = synthetic(n_rows)
    oracle = roc_auc_score(df[TARGET] == "yes", p_yes)
    del p_yes
    kinds = column_kinds(df)  # the dataset profile's kinds (the platform profiles at upload, outside the fit)
    data_mb = rss_mb()
    start = time.monotonic()

    def progress(stage: str, fraction: float, message: str) -> None:
        if verbose:
            print(f"{time.monotonic() - start:7.1f}s {current_rss_mb():6.0f} MiB {stage}: {message}", file=sys.stderr,
                  flush=True)

    result = AutoML(time_budget_s=budget, n_jobs=2, seed=0, on_progress=progress).fit(df, target=TARGET, kinds=kinds)
    wall = time.monotonic() - start
    best = result.best
    return {
        "rows": n_rows, "columns": df.shape[1], "budget": budget, "wall": round(wall, 1),
        "ratio": round(wall / budget, 3), "rss_data_mb": round(data_mb), "peak_rss_mb": round(rss_mb()),
        "best": best.key, "metric": result.metric, "holdout": round(best.metrics[result.metric], 4),
        "oracle": round(oracle, 4),
        "cv": best.cv_score, "n_models": len(result.leaderboard), "n_folds": result.summary["n_folds"],
        "refit": best.params.get("refit", ""), "weights": best.params.get("weights", {}),
        "models": [m.key for m in result.leaderboard],
    }


def run_child(n_rows: int, budget: float, *, verbose: bool = False) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--child", str(n_rows), "--budget", str(budget), *(["-v"] if verbose else [])]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "default"})
    if verbose:
        print(proc.stderr, file=sys.stderr)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-5:]
        return {"rows": n_rows, "budget": budget, "error": " | ".join(tail) or f"exit {proc.returncode}"}
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["child_s"] = round(time.monotonic() - start, 1)
    warnings = sorted({line.strip() for line in proc.stderr.splitlines() if "Warning" in line})
    row["warnings"] = warnings[:5]
    return row


def table(rows: list[dict[str, object]]) -> str:
    head = ("| rows | budget s | fit wall s | ratio | peak RSS MiB | RSS after data MiB | folds | rank 1 | holdout "
            "metric | oracle AUC | models |\n|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['rows']:,} | {r['budget']:g} | failed: {r['error']} | | | | | | | | |")
            continue
        lines.append(
            f"| {r['rows']:,} | {r['budget']:g} | {r['wall']} | {r['ratio']:.2f} | {r['peak_rss_mb']:,} | "
            f"{r['rss_data_mb']:,} | {r['n_folds']} | {r['best']} | {r['metric']} {r['holdout']} | {r['oracle']} | "
            f"{r['n_models']} |"
        )
    return "\n".join(lines)


def write_docs(text: str) -> None:
    doc = DOCS.read_text()
    start, end = doc.index(START) + len(START), doc.index(END)
    DOCS.write_text(doc[:start] + "\n" + text + "\n" + doc[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES), help="comma-separated row counts")
    parser.add_argument("--budget", type=float, default=60.0, help=f"seconds per fit below {BIG:,} rows")
    parser.add_argument("--big-budget", type=float, default=300.0, help=f"seconds per fit from {BIG:,} rows")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each child's progress and RSS")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.budget, verbose=args.verbose)))
        return
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        budget = args.big_budget if size >= BIG else args.budget
        row = run_child(size, budget, verbose=args.verbose)
        rows.append(row)
        print(json.dumps(row), flush=True)
    text = table(rows)
    print(text)
    if not args.no_docs:
        load = os.getloadavg()[0]
        note = (f"Measured {time.strftime('%Y-%m-%d %H:%M')} with `uv run python bench/size.py --sizes {args.sizes} "
                f"--budget {args.budget:g} --big-budget {args.big_budget:g}`; n_jobs=2 on the 2-core machine "
                f"(load average {load:.1f} at the end). `ratio` = wall time of `fit` / "
                "budget (goal ≤ 1.10); peak RSS is the child process's `ru_maxrss`, the generated frame included "
                "(goal ≤ 8 GiB = 8,192 MiB); the metric is the rank-1 model's on the engine's own 20 % holdout; "
                "`oracle AUC` is that of the true probabilities on all rows, the ceiling for any model.")
        write_docs(note + "\n\n" + text)


if __name__ == "__main__":
    main()
