"""Data bigger than one Dask worker's memory: LightGBM's Dask estimator on the partitioned Parquet.

`fit_large` never brings the data to the caller. Three passes over the Parquet run on the workers:
1. a scan: row and target counts, each categorical column's most frequent values (its codes), a boolean column's
   levels, numeric columns holding words; and, small enough to come back, the early-stopping rows and a sample;
2. the fit: `lightgbm.DaskLGBMClassifier` / `DaskLGBMRegressor` on the training rows, each worker on the partitions
   it read, early stopping on a set every worker holds whole, and a stop at the deadline or on cancellation that
   every worker takes at the same iteration;
3. the holdout: predictions on the workers; only the targets, the predictions and a few raw rows come back.
Rows are split partition by partition (a random number per row, seeded by the partition's position): no shuffle.
The model serves like any other: a `FittedModel` whose member is a Pipeline of `LargePreprocessor` (categories as
the scan's codes, numbers as they are, datetimes as their parts, text dropped with a warning) and the local
LightGBM model, checked to reproduce the cluster's predictions on raw holdout rows. `largeprep.py`: sizing and the
preprocessor; `largefit.py`: the families (LightGBM, XGBoost); `largestop.py`: the agreed stop, the lost-worker guard.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from automl.engine.dataprep import DROPPED_KINDS, MIN_CLASS_ROWS, MIN_ROWS
from automl.engine.errors import EngineError
from automl.engine.evaluate import Holdout, importance, time_predict
from automl.engine.explain import plot_data
from automl.engine.kinds import Kind, boolean_levels, coerce_column, coerce_frame, column_schema
from automl.engine.largefit import (
    FAMILIES,
    BudgetClock,
    Spec,
    check_algorithms,
    class_warnings,
    encode,
    matrix,
    transformer,
)
from automl.engine.largeprep import LargePreprocessor, parquet_rows
from automl.engine.model import FittedModel
from automl.engine.results import FitResult, ModelResult
from automl.engine.task import Metric, holdout_metrics, leaderboard_key, resolve_metric, resolve_problem_type

log = logging.getLogger(__name__)

MAX_CATEGORIES = 255  # most frequent values of a categorical column that get a code; the rest read as missing
MAX_CLASSES = 1000
HOLDOUT_FRACTION, HOLDOUT_ROWS = 0.2, 200_000
ES_FRACTION, ES_ROWS = 0.1, 20_000  # the early-stopping set: on every worker, so capped
SAMPLE_ROWS = 1000  # raw holdout rows that come back: timing, importance, the serving check
SERVING_ATOL = 1e-6
_ROLE = "__automl_role__"
_HOLDOUT, _ES, _TRAIN, _SAMPLE = 0, 1, 2, 3


def _roles(df: pd.DataFrame, *, seed: int, holdout: float, es: float, sample: float,
           partition_info: dict[str, Any] | None = None) -> pd.DataFrame:
    """Each row's role from a random number seeded by (seed, partition number): no shuffle, reproducible.

    Every pass reads the same columns, so Dask numbers (and, projecting, fuses) the partitions alike in each:
    the scan's early-stopping rows are the fit's and never its training rows."""
    number = partition_info["number"] if partition_info else 0
    u = np.random.default_rng([seed, number]).random(len(df))
    role = np.where(u < holdout, _HOLDOUT, np.where(u < holdout + es, _ES, _TRAIN)).astype(np.int8)
    role[u < sample] = _SAMPLE  # the sample is part of the holdout
    return df.assign(**{_ROLE: role})


# ---------------------------------------------------------------- pass 1: the scan

def _category_keys(values: pd.Series, kind: str) -> pd.Series:
    """A categorical column's values as coerced (strings are kept: `str` of a string is itself)."""
    if pd.api.types.is_string_dtype(values.dtype) and values.dtype != object:
        return values
    return coerce_column(values, kind)


def _part_stats(df: pd.DataFrame, number: int, *, target: str, kinds: dict[str, str], regression: bool,
                shares: dict[str, float], seed: int) -> dict[str, Any]:
    """One partition's share of the scan: small counts, and its early-stopping rows."""
    out: dict[str, Any] = {"rows": len(df), "count": int(df[target].notna().sum())}
    if not regression:
        out["target"] = df[target].value_counts(dropna=True)
    for name, kind in kinds.items():
        col = df[name]
        if kind == "categorical":
            out[f"cat:{name}"] = _category_keys(col, kind).dropna().value_counts()
        elif kind == "boolean" and not pd.api.types.is_numeric_dtype(col.dtype) \
                and not pd.api.types.is_bool_dtype(col.dtype):
            out[f"bool:{name}"] = set(col.dropna().astype(object).unique().tolist())
        elif kind == "numeric" and not pd.api.types.is_numeric_dtype(col.dtype):
            out[f"words:{name}"] = int((coerce_column(col, "numeric").isna() & col.notna()).sum())
    roles = _roles(df, seed=seed, partition_info={"number": number}, **shares)  # as fit_large's, then filtered
    out["es"] = roles[(roles[_ROLE] == _ES) & roles[target].notna()].drop(columns=[_ROLE])
    return out


def _merge_stats(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, x in a.items():
        y = b[key]
        if isinstance(x, pd.Series):
            merged = x.add(y, fill_value=0)
            out[key] = merged.iloc[:MAX_CLASSES + 1] if key == "target" and len(merged) > MAX_CLASSES else merged
        elif isinstance(x, set):
            out[key] = x | y
        elif isinstance(x, pd.DataFrame):
            out[key] = pd.concat([x, y]) if len(y) else x
        else:
            out[key] = x + y
    return out


def _scan(ddf: Any, *, target: str, kinds: dict[str, str], regression: bool, shares: dict[str, float],
          seed: int) -> dict[str, Any]:
    """One pass, partition by partition, merged pairwise on the workers (no shuffle): the figures the plan
    needs and the early-stopping rows; a categorical column's counts come back as its MAX_CATEGORIES + 1
    most frequent values."""
    import dask

    stats = [dask.delayed(_part_stats)(part, i, target=target, kinds=kinds, regression=regression, shares=shares,
                                       seed=seed) for i, part in enumerate(ddf.to_delayed())]
    while len(stats) > 1:
        stats = [dask.delayed(_merge_stats)(stats[i], stats[i + 1]) if i + 1 < len(stats) else stats[i]
                 for i in range(0, len(stats), 2)]
    (out,) = dask.compute(stats[0])
    for key in list(out):
        if key.startswith("cat:"):
            counts = out[key].astype("int64").sort_index(kind="stable").sort_values(ascending=False, kind="stable")
            out[key] = counts.iloc[:MAX_CATEGORIES + 1]
        elif key.startswith("bool:"):
            out[key] = pd.Series(sorted(out[key], key=str), dtype=object)
    if "target" in out:
        out["target"] = out["target"].astype("int64")
    return out


def _target(counts: pd.Series | None, requested: str, metric: str, dtype: Any) -> tuple[str, Metric, np.ndarray | None]:
    if counts is None:  # regression asked for: only the dtype is checked
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            raise EngineError("Regression needs a numeric target column.")
        return "regression", resolve_metric(metric, "regression"), None
    if counts.empty:
        raise EngineError("The target has no values.")
    distinct = pd.Series(counts.index, dtype=counts.index.dtype)
    many = len(distinct) > MAX_CLASSES
    ptype = resolve_problem_type(requested, distinct if not many else distinct.iloc[:MAX_CLASSES + 1])
    if ptype == "regression":
        return ptype, resolve_metric(metric, ptype), None
    if many:
        raise EngineError(f"The target has more than {MAX_CLASSES} classes; too many for classification.")
    rare = [str(c) for c, n in counts.items() if n < MIN_CLASS_ROWS]
    if rare:
        raise EngineError(f"Target class(es) {', '.join(rare[:5])} have fewer than {MIN_CLASS_ROWS} rows.")
    try:
        classes = np.unique(distinct.to_numpy())
    except TypeError:
        raise EngineError("The target mixes types; convert it to one type first.") from None
    return ptype, resolve_metric(metric, ptype), classes


def _plan(ddf: Any, scan: dict[str, Any], *, target: str, kinds: dict[str, str], problem_type: str,
          metric: str, rows: pd.DataFrame) -> Spec:
    ptype, metric_obj, classes = _target(scan.get("target"), problem_type, metric, ddf[target].dtype)
    warnings: list[str] = []
    used: dict[str, str] = {}
    for name, kind in kinds.items():
        if kind == "text":
            warnings.append(f"Column {name!r} is text: the large-data path does not use text columns yet.")
        elif kind == "boolean" and f"bool:{name}" in scan:
            used[name] = Kind("boolean", boolean_levels(name, pd.Series(scan[f"bool:{name}"].to_numpy())))
        else:
            used[name] = kind
    categories = {}
    for name, kind in used.items():
        if kind == "categorical":
            counts = scan[f"cat:{name}"]
            if len(counts) > MAX_CATEGORIES:
                warnings.append(f"Column {name!r} has more than {MAX_CATEGORIES} values; the {MAX_CATEGORIES} most "
                                "frequent are used, the others read as missing.")
            categories[name] = [str(v) for v in counts.index[:MAX_CATEGORIES]]
    if not used:
        raise EngineError("No usable feature columns for the large-data path.")
    prep = LargePreprocessor(
        numeric=[c for c, k in used.items() if k in ("numeric", "boolean")],
        datetime=[c for c, k in used.items() if k == "datetime"], categories=categories,
    ).fit()
    return Spec(target=target, kinds=used, problem_type=ptype, metric=metric_obj, classes=classes, prep=prep,
                 transformer=transformer(prep, used, rows), warnings=warnings)


def _input_schema(spec: Spec, sample: pd.DataFrame, scan: dict[str, Any]) -> list[dict[str, Any]]:
    """As the regular path writes it (kinds.column_schema on the sample), with the categories and the
    words-as-missing flag from the whole data."""
    coerced = coerce_frame(sample, spec.kinds)
    schema = []
    for name, kind in spec.kinds.items():
        entry = column_schema(name, coerced[name], kind, raw=sample[name])
        if kind == "categorical":
            entry["categories"] = spec.prep.categories[name][:50]
        if kind == "numeric":
            entry["words_as_missing"] = bool(scan.get(f"words:{name}", 0))
        schema.append(entry)
    return schema


# ---------------------------------------------------------------- pass 3: the holdout

def _raw_pred(est: Any, A: np.ndarray, n_classes: int) -> np.ndarray:
    if n_classes == 0:
        return np.asarray(est.predict(A), dtype=np.float64)
    proba = np.asarray(est.predict_proba(A), dtype=np.float64)
    out = np.zeros((len(A), n_classes))
    out[:, np.asarray(est.classes_, dtype=int)] = proba
    return out


def _score_part(df: pd.DataFrame, est: Any, spec: Spec) -> pd.DataFrame:
    """A holdout partition's targets and predictions (the cluster's), one column per class."""
    df = df[df[spec.target].notna()]
    n_classes = 0 if spec.classes is None else len(spec.classes)
    pred = _raw_pred(est, matrix(df, spec), n_classes) if len(df) else np.zeros((0, max(n_classes, 1)))
    pred = pred.reshape(len(df), -1)
    cols = {f"p{k}": pred[:, k] for k in range(pred.shape[1])}
    return pd.DataFrame({"y": encode(df[spec.target], spec.classes).astype(np.float64), **cols}, index=df.index)


def _holdout(ddf: Any, est: Any, spec: Spec) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(targets + predictions of every holdout row, the raw sample rows, their predictions): all small."""
    import dask

    n_out = 1 if spec.classes is None else len(spec.classes)
    meta = pd.DataFrame({"y": np.zeros(0), **{f"p{k}": np.zeros(0) for k in range(n_out)}})
    held = ddf[ddf[_ROLE].isin([_HOLDOUT, _SAMPLE])]
    sample = ddf[(ddf[_ROLE] == _SAMPLE) & ddf[spec.target].notnull()]
    scored = held.map_partitions(_score_part, est, spec, meta=meta)
    sample_scored = sample.map_partitions(_score_part, est, spec, meta=meta)
    scored, raw, sample_scored = dask.compute(scored, sample.drop(columns=[_ROLE]), sample_scored)
    return scored, raw, sample_scored


# ---------------------------------------------------------------- fit_large

def fit_large(
    client: Any, parquet: str, *, target: str, features: list[str], kinds: dict[str, str], problem_type: str,
    metric: str, time_budget_s: float, seed: int = 0, storage_options: dict[str, Any] | None = None,
    should_stop: Callable[[], bool] | None = None, on_progress: Callable[[str, float, str], None] | None = None,
    on_model: Callable[[ModelResult], None] | None = None, algorithms: tuple[str, ...] = ("lightgbm",),
) -> FitResult:
    """Train on the cluster of `client` from the Parquet at `parquet` (a file or folder, local or an fsspec URL with
    `storage_options`); the same FitResult as `AutoML.fit`, one model per algorithm in `algorithms` ("lightgbm",
    "xgboost"; in that order, the training time split between them), ranked like its leaderboard."""
    check_algorithms(algorithms)
    import dask
    import dask.dataframe as dd

    clock = BudgetClock(time.monotonic(), float(time_budget_s))
    should_stop = should_stop or (lambda: False)

    def progress(stage: str, message: str) -> None:
        if on_progress is not None:
            on_progress(stage, clock.fraction(), message)

    given = {c: kinds.get(c, "categorical") for c in features if c != target}
    dropped, use = ({c: k for c, k in given.items() if (k in DROPPED_KINDS) == d} for d in (True, False))
    progress("preparing", "Scanning the data on the cluster")
    with dask.config.set({"dataframe.convert-string": False}):
        ddf = dd.read_parquet(parquet, columns=[*use, target], storage_options=storage_options, split_row_groups=True)
        n_parts = ddf.npartitions
        n_rows = max(parquet_rows(parquet, storage_options=storage_options), 1)
        shares = _shares(n_rows)
        roles = ddf.map_partitions(_roles, seed=seed, **shares)
        roles = roles[roles[target].notnull()]
        scan = _scan(ddf, target=target, kinds=use, regression=problem_type == "regression", shares=shares, seed=seed)
        n_rows, n_target, es_raw = int(scan["rows"]), int(scan["count"]), scan.pop("es")
        if n_target < MIN_ROWS:
            raise EngineError(f"Only {n_target} rows have a target value; at least {MIN_ROWS} are needed.")
        spec = _plan(ddf, scan, target=target, kinds=use, problem_type=problem_type, metric=metric, rows=es_raw)
        scan_s = time.monotonic() - clock.start
        es = (matrix(es_raw, spec), encode(es_raw[target], spec.classes))
        _raise_if_stopped(should_stop)
        # each model's holdout pass reads the data once more (the scan's time includes the first imports)
        reserve = min(max(0.5 * scan_s + 1.0, 0.1 * clock.total), 0.3 * clock.total)
        results, figures, cancelled, scored = _train(
            client, roles, spec, es_raw, scan, algorithms=algorithms, target=target, n_rows=n_rows, n_parts=n_parts,
            seed=seed, clock=clock, reserve=reserve, should_stop=should_stop, progress=progress, on_model=on_model,
        )
    if not results:
        raise EngineError("Training was stopped before any model finished.")
    leaderboard = sorted(results, key=lambda r: leaderboard_key(spec.metric.name, r.cv_score, r.predict_ms_per_row))
    summary = {
        "rows": n_rows, "rows_dropped_missing_target": n_rows - n_target,
        "n_train": n_target - len(scored) - len(es[1]),
        "n_test": len(scored), "n_early_stopping": len(es[1]), "n_folds": 0, "column_kinds": dict(spec.kinds),
        "dropped_columns": dropped, "n_models": len(results), "warnings": spec.warnings + class_warnings(scan, spec),
        "elapsed_s": round(time.monotonic() - clock.start, 2), "stopped_early": cancelled,
        "large": {"partitions": n_parts, "scan_s": round(scan_s, 2), "models": figures},
    }
    progress("finalizing", f"Done: best model {leaderboard[0].key}")
    return FitResult(problem_type=spec.problem_type, metric=spec.metric.name, metric_direction=spec.metric.direction,
                     leaderboard=leaderboard, best=leaderboard[0], summary=summary,
                     classes=None if spec.classes is None else spec.classes.tolist())


def _raise_if_stopped(should_stop: Callable[[], bool]) -> None:
    if should_stop():
        raise EngineError("Training was stopped before any model finished.")


def _shares(n_rows: int) -> dict[str, float]:
    """The holdout's, the early-stopping set's and the raw sample's shares of the rows."""
    holdout = min(HOLDOUT_FRACTION, HOLDOUT_ROWS / n_rows)
    return {"holdout": holdout, "es": min(ES_FRACTION, ES_ROWS / n_rows), "sample": min(holdout, SAMPLE_ROWS / n_rows)}


def _train(
    client: Any, roles: Any, spec: Spec, es_raw: pd.DataFrame, scan: dict[str, Any], *, algorithms: tuple[str, ...],
    target: str, n_rows: int, n_parts: int, seed: int, clock: BudgetClock, reserve: float,
    should_stop: Callable[[], bool], progress: Callable[[str, str], None],
    on_model: Callable[[ModelResult], None] | None,
) -> tuple[list[ModelResult], dict[str, dict[str, Any]], bool, pd.DataFrame]:
    """Each family in turn on the training rows, scored on the holdout; the time split between them."""
    end = clock.start + clock.total
    results: list[ModelResult] = []
    scored = pd.DataFrame()
    figures: dict[str, dict[str, Any]] = {}
    cancelled = False
    for i, algorithm in enumerate(algorithms):
        left = len(algorithms) - i
        if cancelled or should_stop() or time.monotonic() > end - reserve * left:
            break
        family = FAMILIES[algorithm]
        fspec = family.spec(spec, es_raw)
        fes = (matrix(es_raw, fspec), encode(es_raw[target], fspec.classes))
        deadline = time.monotonic() + (end - reserve * left - time.monotonic()) / left
        progress("searching", f"{family.engine} on {n_parts} partitions across "
                              f"{len(client.scheduler_info()['workers'])} Dask workers")
        params = family.params(fspec, n_rows, seed)
        est, info = family.fit(client, roles[roles[_ROLE] == _TRAIN], fspec, fes, params=params,
                               deadline=deadline, should_stop=should_stop)
        cancelled = bool(info["cancelled"])
        if cancelled and info["trees"] == 0:
            break
        progress("finalizing", f"Scoring the holdout on the cluster ({algorithm})")
        scored, sample_raw, sample_scored = _holdout(roles, est, fspec)
        schema = _input_schema(fspec, sample_raw[list(fspec.kinds)].reset_index(drop=True), scan)
        result = _result(est, fspec, scored, sample_raw, sample_scored, es=fes, params=params, info=info,
                         clock=clock, seed=seed, input_schema=schema, algorithm=algorithm)
        check = result.params.pop("_serving_check")
        figures[result.key] = {"engine": family.engine, **info, "serving_check": check}
        results.append(result)
        if on_model is not None:
            on_model(result)
    return results, figures, cancelled, scored


def _result(est: Any, spec: Spec, scored: pd.DataFrame, sample_raw: pd.DataFrame, sample_scored: pd.DataFrame, *,
            es: tuple[np.ndarray, np.ndarray], params: dict[str, Any], info: dict[str, Any], clock: BudgetClock,
            seed: int, input_schema: list[dict[str, Any]], algorithm: str) -> ModelResult:
    n_classes = 0 if spec.classes is None else len(spec.classes)
    features = list(spec.kinds)
    raw = sample_raw[features].reset_index(drop=True)
    model = FittedModel(
        algorithm=algorithm, problem_type=spec.problem_type, classes=spec.classes, kinds=spec.kinds,
        input_schema=input_schema, members=[(Pipeline([("prep", spec.transformer), ("model", est)]), 1.0)],
    )
    pred_cols = [c for c in scored.columns if c.startswith("p")]
    cluster = sample_scored[pred_cols].to_numpy()
    local = model.predict_raw(coerce_frame(raw, spec.kinds)).reshape(len(raw), -1)
    diff = float(np.max(np.abs(local - cluster))) if len(raw) else 0.0
    if diff > SERVING_ATOL:
        raise EngineError(f"The served model disagrees with the cluster's predictions (max difference {diff:.3g}).")
    y = scored["y"].to_numpy()
    y = y if n_classes == 0 else y.astype(int)
    pred = scored[pred_cols].to_numpy()
    pred = pred[:, 0] if n_classes == 0 else pred
    y_sample = sample_scored["y"].to_numpy()
    holdout = Holdout(X=coerce_frame(raw, spec.kinds), X_raw=raw, y=y_sample if n_classes == 0 else
                      y_sample.astype(int), metric=spec.metric, problem_type=spec.problem_type, classes=spec.classes,
                      seed=seed)
    ms = time_predict(model, holdout)
    left = clock.start + clock.total - time.monotonic()
    feats = importance(model, holdout, seconds=max(0.5 * left, 0.5), ms_per_row=ms, required=True)
    es_pred = _raw_pred(est, es[0], n_classes)
    cv = spec.metric(es[1], es_pred)
    shown = {k: v for k, v in params.items() if k not in ("verbose", "deterministic", "tree_learner")}
    return ModelResult(
        key=f"{algorithm}_dask", algorithm=algorithm, params={**shown, "n_estimators": info["best_iteration"],
                                                         "_serving_check": {"rows": len(raw), "max_abs_diff": diff}},
        cv_score=round(float(cv), 6), metrics=holdout_metrics(spec.problem_type, y, pred),
        fit_seconds=info["fit_seconds"], predict_ms_per_row=ms, feature_importance=feats,
        plots=plot_data(spec.problem_type, y, pred, spec.classes), is_ensemble=False, model=model,
    )
