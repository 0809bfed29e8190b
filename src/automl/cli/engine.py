"""Engine commands for the CLI (wired into Typer by the CLI module): train and predict on local files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from automl.engine import AutoML, EngineError, FitResult, artifact_hmac, load_model, save_model, signing_key
from automl.ingest import column_kinds, read_table
from automl.ingest.jsonable import jsonable

console = Console()
LEADERBOARD = "leaderboard.json"


def local_key() -> bytes:
    """This installation's artifact key (AUTOML_SECRET_KEY, else `secret.key` in AUTOML_DATA_DIR): a model file
    is predicted with only when it was signed with it, so a file swapped in the folder is never unpickled."""
    from automl.config import get_settings

    settings = get_settings()
    secret = settings.secret_key
    return signing_key(settings.data_dir, secret.get_secret_value() if secret else None)


def read_frame(path: Path) -> pd.DataFrame:
    """The file read as the upload reads it (ingest's reader: the same columns, types and missing values).
    BadInput / UnsupportedMedia for a file the upload would refuse."""
    return read_table(path, path.name).to_pandas()


def _leaderboard_table(result: FitResult) -> Table:
    table = Table(title=f"{result.problem_type} - {result.metric} ({result.metric_direction})")
    figure = "out-of-fold" if result.summary.get("evaluation") == "out_of_fold" else "holdout"
    for col in ("rank", "model", "algorithm", f"CV {result.metric}", f"{figure} {result.metric}", "fit s", "ms/row"):
        table.add_column(col, justify="right" if col not in ("model", "algorithm") else "left")
    for rank, m in enumerate(result.leaderboard, 1):
        holdout = m.metrics.get(result.metric)
        table.add_row(
            str(rank), m.key, m.algorithm, f"{m.cv_score:.4f}", "-" if holdout is None else f"{holdout:.4f}",
            f"{m.fit_seconds:.1f}", f"{m.predict_ms_per_row:.3f}",
        )
    return table


def train_command(file: Path, target: str, time_budget: float, out: Path) -> None:
    """Train on `file`, print the leaderboard and save every model plus leaderboard.json into `out`."""
    table = read_table(Path(file), Path(file).name)
    df, kinds = table.to_pandas(), column_kinds(table)  # the columns and kinds the upload would show
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with Progress(
        TextColumn("[bold]{task.fields[stage]}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(), TextColumn("{task.description}"), console=console,
    ) as progress:
        task = progress.add_task("", total=1.0, stage="preparing")

        def on_progress(stage: str, fraction: float, message: str) -> None:
            progress.update(task, completed=fraction, stage=stage, description=message)

        result = AutoML(time_budget_s=time_budget, on_progress=on_progress).fit(df, target, kinds=kinds)
    console.print(_leaderboard_table(result))
    entries, key = [], local_key()
    for rank, m in enumerate(result.leaderboard, 1):
        path = out / f"{m.key}.joblib"
        sha = save_model(m.model, path)
        mac = artifact_hmac(key, sha)
        path.with_name(path.name + ".sha256").write_text(sha + "\n")
        path.with_name(path.name + ".hmac").write_text(mac + "\n")
        entries.append({
            "rank": rank, "key": m.key, "algorithm": m.algorithm, "file": path.name, "sha256": sha, "hmac": mac,
            "cv_score": m.cv_score, "metrics": m.metrics, "params": m.params, "fit_seconds": m.fit_seconds,
            "predict_ms_per_row": m.predict_ms_per_row, "feature_importance": m.feature_importance,
        })
    doc = {
        "target": target, "problem_type": result.problem_type, "metric": result.metric,
        "metric_direction": result.metric_direction, "classes": result.classes, "summary": result.summary,
        "models": entries,
    }
    (out / LEADERBOARD).write_text(json.dumps(jsonable(doc), indent=2))
    console.print(f"Saved {len(entries)} model(s) to {out}; best: [bold]{result.best.key}[/bold]")


def _recorded(model_path: Path, field: str) -> str | None:
    """The model's recorded `sha256` or `hmac`: its sidecar file, else its entry in leaderboard.json."""
    sidecar = model_path.with_name(f"{model_path.name}.{field}")
    if sidecar.exists():
        return sidecar.read_text().strip()
    board = model_path.parent / LEADERBOARD
    if board.exists():
        for entry in json.loads(board.read_text())["models"]:
            if entry["file"] == model_path.name:
                return entry.get(field)
    return None


def _recorded_sha256(model_path: Path) -> str:
    sha = _recorded(model_path, "sha256")
    if sha is None:
        raise EngineError(f"No recorded sha256 for {model_path} (expected {model_path.name}.sha256 or {LEADERBOARD}).")
    return sha


def predict_command(model_path: Path, file: Path, out: Path) -> None:
    """Score `file` with a saved model (its sha256 and its HMAC under this installation's key verified before it is
    unpickled); write `prediction` and `proba_<class>` columns."""
    from automl.serving.csvsafe import neutralise_frame

    model_path = Path(model_path)
    model = load_model(model_path, _recorded_sha256(model_path), key=local_key(),
                       signature=_recorded(model_path, "hmac"))
    df = read_frame(Path(file))
    result = pd.DataFrame({"prediction": model.predict(df)}, index=df.index)
    if model.classes_ is not None:
        proba = model.predict_proba(df)
        result = result.join(proba.rename(columns=lambda c: f"proba_{c}"))
    neutralise_frame(result).to_csv(out, index=False)  # no spreadsheet formulas in labels
    console.print(f"Wrote {len(result)} prediction(s) to {out}")
