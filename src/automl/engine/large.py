"""Data bigger than one Dask worker's memory: LightGBM's Dask estimator on the partitioned Parquet.

`fit_large` never brings the data to the caller. Three passes over the Parquet run on the workers:
1. a scan: row and target counts, each categorical column's most frequent values (its codes), a boolean
   column's levels, numeric columns holding words; and, small enough to come back, the early-stopping rows
   and a sample for the input schema;
2. the fit: `lightgbm.DaskLGBMClassifier` / `DaskLGBMRegressor` on the training rows, each worker on the
   partitions it read (data-parallel trees), early stopping on a set every worker holds whole, and a stop at
   the budget's deadline or on cancellation that every worker takes at the same iteration;
3. the holdout: predictions on the workers; only the targets, the predictions and a few raw rows come back.

Rows are split partition by partition (a seeded random number per row, seeded by the partition's position),
so the split needs no shuffle. The model serves like any other: a `FittedModel` whose member is a scikit-learn
Pipeline of `LargePreprocessor` (coerced frame -> float32 matrix; categories as the codes learned in the
scan, numbers as they are, datetimes as their parts, text dropped with a warning) and the local LightGBM model
(`to_local()`). Before it is returned, the local pipeline must reproduce the cluster's predictions on raw
holdout rows (`summary["large"]["serving_check"]`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from automl.engine.dataprep import DROPPED_KINDS, IMBALANCE_SHARE, MIN_CLASS_ROWS, MIN_ROWS
from automl.engine.errors import EngineError
from automl.engine.evaluate import Holdout, importance, time_predict
from automl.engine.explain import plot_data
from automl.engine.kinds import Kind, boolean_levels, coerce_column, coerce_frame, column_schema
from automl.engine.model import FittedModel
from automl.engine.preprocess import DATETIME_PARTS, datetime_part_matrix
from automl.engine.results import FitResult, ModelResult
from automl.engine.task import Metric, holdout_metrics, leaderboard_key, resolve_metric, resolve_problem_type

log = logging.getLogger(__name__)

LARGE_SHARE = 0.25  # without a setting: data over this share of one worker's memory takes the Dask path
MAX_CATEGORIES = 255  # most frequent values of a categorical column that get a code; the rest read as missing
MAX_CLASSES = 1000
HOLDOUT_FRACTION, HOLDOUT_ROWS = 0.2, 200_000
ES_FRACTION, ES_ROWS = 0.1, 20_000  # the early-stopping set: on every worker, so capped
SAMPLE_ROWS = 1000  # raw holdout rows that come back: timing, importance, the serving check
PATIENCE = 50
STOP_MARGIN = 3  # iterations between a stop being agreed and taken: more than workers can be apart
SERVING_ATOL = 1e-6
LOST_GRACE_S = 60.0  # past the deadline, a fit still running is given up
_ROLE = "__automl_role__"
_HOLDOUT, _ES, _TRAIN, _SAMPLE = 0, 1, 2, 3


def is_large(n_bytes: float, *, threshold_mb: float | None = None, worker_memory_limit: float | None = None) -> bool:
    """Whether data of `n_bytes` in memory goes to `fit_large`: over `threshold_mb` (the AUTOML_DASK_LARGE_MB
    setting) when it is set, else over LARGE_SHARE of the smallest worker's memory limit (the regular path
    holds the frame, its coerced copy and fold copies in one process); never without either."""
    if threshold_mb is not None and threshold_mb > 0:
        return n_bytes > threshold_mb * 1e6
    if worker_memory_limit:
        return n_bytes > LARGE_SHARE * worker_memory_limit
    return False


def worker_memory_limit(client: Any) -> float | None:
    """The smallest memory limit among the cluster's workers (bytes), None when no worker has one."""
    limits = [w.get("memory_limit") or 0 for w in client.scheduler_info()["workers"].values()]
    return float(min(limits)) if limits and min(limits) > 0 else None


def _parquet_files(parquet: str, storage_options: dict[str, Any] | None) -> tuple[Any, list[str]]:
    import fsspec

    fs, path = fsspec.core.url_to_fs(parquet, **(storage_options or {}))
    if not fs.isdir(path):
        return fs, [path]
    return fs, [f for f in sorted(fs.find(path)) if f.endswith((".parquet", ".parq", ".pq"))]


def parquet_rows(parquet: str, *, storage_options: dict[str, Any] | None = None) -> int:
    """Rows in the Parquet file or folder, from the footers alone."""
    import pyarrow.parquet as pq

    fs, files = _parquet_files(parquet, storage_options)
    total = 0
    for name in files:
        with fs.open(name, "rb") as fh:
            total += pq.ParquetFile(fh).metadata.num_rows
    return total


def memory_estimate(parquet: str, *, storage_options: dict[str, Any] | None = None,
                    columns: list[str] | None = None) -> float:
    """Bytes the Parquet takes in memory as Arrow (strings decoded): the first row group read, scaled by the
    footers' row count. What `is_large` is given."""
    import pyarrow.parquet as pq

    fs, files = _parquet_files(parquet, storage_options)
    if not files:
        return 0.0
    with fs.open(files[0], "rb") as fh:
        pf = pq.ParquetFile(fh)
        group = pf.read_row_group(0, columns=columns) if pf.metadata.num_row_groups else None
    if group is None or group.num_rows == 0:
        return 0.0
    return float(group.nbytes) * parquet_rows(parquet, storage_options=storage_options) / group.num_rows


class LargePreprocessor(TransformerMixin, BaseEstimator):
    """Coerced frame -> float32 matrix: numeric (and boolean 0/1) columns as they are, each datetime column's
    DATETIME_PARTS, then each categorical column's code in `categories` (-1, read as missing, for anything else).

    Its state comes from the cluster's scan, not from data handed to `fit`; the same object transforms the
    partitions on the workers and the rows served."""

    def __init__(self, numeric: list[str], datetime: list[str], categories: dict[str, list[str]]) -> None:
        self.numeric = numeric
        self.datetime = datetime
        self.categories = categories

    def fit(self, X: Any = None, y: Any = None) -> LargePreprocessor:
        """Nothing is learned from `X`: the state is the scan's (a ColumnTransformer calls this with its rows)."""
        self.feature_names_in_ = np.asarray([*self.numeric, *self.datetime, *self.categories], dtype=object)
        self.lookup_ = {c: pd.Index(v, dtype=object) for c, v in self.categories.items()}
        self.n_features_out_ = len(self.numeric) + len(DATETIME_PARTS) * len(self.datetime) + len(self.categories)
        return self

    @property
    def categorical_indices(self) -> list[int]:
        start = len(self.numeric) + len(DATETIME_PARTS) * len(self.datetime)
        return list(range(start, start + len(self.categories)))

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(X), self.n_features_out_), dtype=np.float32)
        j = 0
        for c in self.numeric:
            out[:, j] = X[c].to_numpy(dtype=np.float64, na_value=np.nan)
            j += 1
        if self.datetime:
            matrix = np.column_stack([X[c].to_numpy(dtype="datetime64[ns]") for c in self.datetime])
            width = len(DATETIME_PARTS) * len(self.datetime)
            out[:, j:j + width] = datetime_part_matrix(matrix)
            j += width
        for c, index in self.lookup_.items():
            out[:, j] = index.get_indexer(X[c])
            j += 1
        return out  # unknown and missing categories are -1, which LightGBM reads as missing

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        parts = [f"{c}_{p}" for c in self.datetime for p in DATETIME_PARTS]
        return np.asarray([*self.numeric, *parts, *self.categories], dtype=object)


def cluster_coerce(df: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """`coerce_frame` for a partition, with string columns of categorical kind kept as they are: coercion makes
    each value `str(value)`, which a string already is (the serving check compares both paths)."""
    out = {}
    for name, kind in kinds.items():
        values = df[name]
        if kind == "categorical" and (pd.api.types.is_string_dtype(values.dtype) and values.dtype != object):
            out[name] = values
        else:
            out[name] = coerce_column(values, kind)
    return pd.DataFrame(out, index=df.index)


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


@dataclass
class _Spec:
    target: str
    kinds: dict[str, str]
    problem_type: str
    metric: Metric
    classes: np.ndarray | None
    prep: LargePreprocessor
    transformer: ColumnTransformer  # the serving pipeline's first step: `prep` on its columns
    warnings: list[str] = field(default_factory=list)


def _encode(y: pd.Series, classes: np.ndarray | None) -> np.ndarray:
    if classes is None:
        return pd.to_numeric(y, errors="coerce").to_numpy(dtype=np.float64)
    return pd.Index(classes).get_indexer(y.to_numpy()).astype(np.int32)


def _matrix(df: pd.DataFrame, spec: _Spec) -> np.ndarray:
    return spec.transformer.transform(cluster_coerce(df, spec.kinds))


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


def _transformer(prep: LargePreprocessor, kinds: dict[str, str], rows: pd.DataFrame) -> ColumnTransformer:
    """`prep` as a fitted ColumnTransformer, the first step every served pipeline has (the fast path compiles
    it, delegating to `prep`); fitted on a few rows only for their column names: `prep`'s state is the scan's."""
    columns = [str(c) for c in prep.feature_names_in_]
    rows = rows.head(100) if len(rows) else pd.DataFrame({c: [None] for c in kinds})
    ct = ColumnTransformer([("large", prep, columns)], remainder="drop", sparse_threshold=0.0)
    return ct.fit(coerce_frame(rows, kinds))


def _plan(ddf: Any, scan: dict[str, Any], *, target: str, kinds: dict[str, str], problem_type: str,
          metric: str, rows: pd.DataFrame) -> _Spec:
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
    return _Spec(target=target, kinds=used, problem_type=ptype, metric=metric_obj, classes=classes, prep=prep,
                 transformer=_transformer(prep, used, rows), warnings=warnings)


def _input_schema(spec: _Spec, sample: pd.DataFrame, scan: dict[str, Any]) -> list[dict[str, Any]]:
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


# ---------------------------------------------------------------- pass 2: the fit

class _Stopper:
    """A LightGBM callback run on every worker: early stopping on the early-stopping set (every worker holds
    all of it and the same trees, so all decide alike) and a stop the client asks for (deadline, cancel).

    The client writes "stop" to a Dask Variable; the first worker to read it turns it, under a Dask Lock,
    into an iteration STOP_MARGIN ahead, which every worker reads before reaching it: LightGBM's Dask
    training hangs when one worker leaves the boosting loop earlier than the others."""

    def __init__(self, X: np.ndarray, y: np.ndarray, *, n_classes: int, name: str, patience: int,
                 min_delta: float) -> None:
        self.X, self.y, self.n_classes, self.name = X, y, n_classes, name
        self.patience, self.min_delta = patience, min_delta
        self.order = 20  # after LightGBM's own callbacks

    def _loss(self, raw: np.ndarray) -> float:
        if self.n_classes == 0:
            return float(np.mean((self.y - raw) ** 2))
        if self.n_classes == 2:
            p = np.clip(1.0 / (1.0 + np.exp(-raw)), 1e-15, 1 - 1e-15)
            return float(-np.mean(np.where(self.y == 1, np.log(p), np.log(1 - p))))
        z = raw - raw.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-np.mean(logp[np.arange(len(self.y)), self.y]))

    def _agreed_stop(self, iteration: int) -> int | None:
        from distributed import Lock, Variable

        var = Variable(self.name)
        value = var.get(timeout=30)
        if value == "stop":
            with Lock(self.name):
                value = var.get(timeout=30)
                if value == "stop":
                    value = iteration + STOP_MARGIN
                    var.set(value)
        return value if isinstance(value, int) else None

    def __call__(self, env: Any) -> None:
        import lightgbm as lgb

        i = env.iteration
        if i == env.begin_iteration:
            self.raw, self.best, self.best_iter = None, np.inf, 0
        step = env.model.predict(self.X, start_iteration=i, num_iteration=1, raw_score=True)
        self.raw = step if self.raw is None else self.raw + step
        loss = self._loss(self.raw)
        if loss < self.best - self.min_delta:
            self.best, self.best_iter = loss, i
        stop_at = self._agreed_stop(i)
        if i - self.best_iter >= self.patience or (stop_at is not None and i >= stop_at):
            raise lgb.callback.EarlyStopException(self.best_iter, [("es", "loss", self.best, False)])


class _Watch:
    """A client thread that asks the workers to stop at the deadline or when `should_stop()` turns true."""

    def __init__(self, client: Any, name: str, *, deadline: float, should_stop: Callable[[], bool]) -> None:
        from distributed import Variable

        self.var = Variable(name, client=client)
        self.var.set(None)
        self.deadline, self.should_stop = deadline, should_stop
        self.asked, self.cancelled = False, False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fit-large-watch", daemon=True)

    def _run(self) -> None:
        while not self._done.wait(0.25):
            cancelled = self.should_stop()
            if cancelled or time.monotonic() > self.deadline:
                self.cancelled = cancelled
                self.asked = True
                self.var.set("stop")
                return

    def __enter__(self) -> _Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=5)


def _lgb_params(spec: _Spec, n_train: int, seed: int) -> dict[str, Any]:
    return {
        "n_estimators": 5000, "learning_rate": 0.1, "num_leaves": 63 if n_train > 100_000 else 31,
        "min_child_samples": 20, "colsample_bytree": 0.9, "subsample": 1.0, "verbose": -1,
        "random_state": seed, "deterministic": True, "tree_learner": "data",
        "time_out": 10,  # minutes a worker waits on the others' sockets before failing
    }


def _run_guarded(client: Any, fit: Callable[[], Any], *, give_up_at: float) -> None:
    """Run `fit` in a thread, watching the cluster: LightGBM's Dask training cannot lose a worker (the others
    wait on the network until its time_out), so a lost worker, or a fit still running at `give_up_at`, is an
    EngineError here instead of a hang."""
    workers = set(client.scheduler_info()["workers"])
    outcome: dict[str, BaseException] = {}

    def target() -> None:
        try:
            fit()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="fit-large-lightgbm", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.5)
        if not thread.is_alive():
            break
        lost = workers - set(client.scheduler_info()["workers"])
        if lost:
            raise EngineError(f"Dask worker(s) {', '.join(sorted(lost))} left during LightGBM training "
                              "(see their logs: memory limit?); LightGBM's Dask training cannot go on without them.")
        if time.monotonic() > give_up_at:
            raise EngineError("LightGBM's Dask training did not stop at the deadline; given up.")
    if "error" in outcome:
        raise outcome["error"]


def _fit_lightgbm(client: Any, train: Any, spec: _Spec, es: tuple[np.ndarray, np.ndarray], *, params: dict[str, Any],
                  deadline: float, should_stop: Callable[[], bool]) -> tuple[Any, dict[str, Any]]:
    import lightgbm as lgb

    n_classes = 0 if spec.classes is None else len(spec.classes)
    X = train.map_partitions(_matrix, spec, meta=np.empty((0, spec.prep.n_features_out_), np.float32))
    y = train[spec.target].map_partitions(_encode, spec.classes,
                                          meta=np.empty((0,), np.int32 if n_classes else np.float64))
    cls = lgb.DaskLGBMClassifier if n_classes else lgb.DaskLGBMRegressor
    est = cls(client=client, **params)
    name = f"automl-large-{uuid.uuid4().hex}"
    min_delta = 1e-4 if n_classes else 1e-4 * float(np.var(es[1]))
    stopper = _Stopper(es[0], es[1], n_classes=n_classes, name=name, patience=PATIENCE, min_delta=min_delta)
    start = time.monotonic()
    with _Watch(client, name, deadline=deadline, should_stop=should_stop) as watch:
        _run_guarded(client, lambda: est.fit(X, y, callbacks=[stopper],
                                             categorical_feature=spec.prep.categorical_indices),
                     give_up_at=deadline + LOST_GRACE_S)
    local = est.to_local()
    info = {"fit_seconds": round(time.monotonic() - start, 3), "trees": int(local.booster_.current_iteration()),
            "best_iteration": int(local.best_iteration_ or local.booster_.current_iteration()),
            "stopped_by": "cancel" if watch.cancelled else ("deadline" if watch.asked else "early stopping"),
            "cancelled": watch.cancelled}
    return local, info


# ---------------------------------------------------------------- pass 3: the holdout

def _raw_pred(est: Any, A: np.ndarray, n_classes: int) -> np.ndarray:
    if n_classes == 0:
        return np.asarray(est.predict(A), dtype=np.float64)
    proba = np.asarray(est.predict_proba(A), dtype=np.float64)
    out = np.zeros((len(A), n_classes))
    out[:, np.asarray(est.classes_, dtype=int)] = proba
    return out


def _score_part(df: pd.DataFrame, est: Any, spec: _Spec) -> pd.DataFrame:
    """A holdout partition's targets and predictions (the cluster's), one column per class."""
    df = df[df[spec.target].notna()]
    n_classes = 0 if spec.classes is None else len(spec.classes)
    pred = _raw_pred(est, _matrix(df, spec), n_classes) if len(df) else np.zeros((0, max(n_classes, 1)))
    pred = pred.reshape(len(df), -1)
    cols = {f"p{k}": pred[:, k] for k in range(pred.shape[1])}
    return pd.DataFrame({"y": _encode(df[spec.target], spec.classes).astype(np.float64), **cols}, index=df.index)


def _holdout(ddf: Any, est: Any, spec: _Spec) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
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

@dataclass
class _Clock:
    start: float
    total: float

    def fraction(self) -> float:
        return min(1.0, (time.monotonic() - self.start) / self.total)


def fit_large(
    client: Any, parquet: str, *, target: str, features: list[str], kinds: dict[str, str], problem_type: str,
    metric: str, time_budget_s: float, seed: int = 0, storage_options: dict[str, Any] | None = None,
    should_stop: Callable[[], bool] | None = None, on_progress: Callable[[str, float, str], None] | None = None,
    on_model: Callable[[ModelResult], None] | None = None,
) -> FitResult:
    """Train LightGBM on the cluster of `client` from the Parquet at `parquet` (a file or folder, local or an
    fsspec URL with `storage_options`); the same FitResult as `AutoML.fit`, with one model."""
    import dask.dataframe as dd

    import dask

    clock = _Clock(time.monotonic(), float(time_budget_s))
    should_stop = should_stop or (lambda: False)

    def progress(stage: str, message: str) -> None:
        if on_progress is not None:
            on_progress(stage, clock.fraction(), message)

    feats = [c for c in features if c != target]
    given = {c: kinds.get(c, "categorical") for c in feats}
    dropped = {c: k for c, k in given.items() if k in DROPPED_KINDS}
    use = {c: k for c, k in given.items() if k not in DROPPED_KINDS}
    progress("preparing", "Scanning the data on the cluster")
    with dask.config.set({"dataframe.convert-string": False}):
        ddf = dd.read_parquet(parquet, columns=[*use, target], storage_options=storage_options,
                              split_row_groups=True)
        n_parts = ddf.npartitions
        n_rows = max(parquet_rows(parquet, storage_options=storage_options), 1)
        holdout_share = min(HOLDOUT_FRACTION, HOLDOUT_ROWS / n_rows)
        es_share = min(ES_FRACTION, ES_ROWS / n_rows)
        sample_share = min(holdout_share, SAMPLE_ROWS / n_rows)
        shares = {"holdout": holdout_share, "es": es_share, "sample": sample_share}
        roles = ddf.map_partitions(_roles, seed=seed, **shares)
        roles = roles[roles[target].notnull()]
        scan = _scan(ddf, target=target, kinds=use, regression=problem_type == "regression", shares=shares,
                     seed=seed)
        n_rows, n_target, es_raw = int(scan["rows"]), int(scan["count"]), scan.pop("es")
        if n_target < MIN_ROWS:
            raise EngineError(f"Only {n_target} rows have a target value; at least {MIN_ROWS} are needed.")
        spec = _plan(ddf, scan, target=target, kinds=use, problem_type=problem_type, metric=metric, rows=es_raw)
        scan_s = time.monotonic() - clock.start
        es = (_matrix(es_raw, spec), _encode(es_raw[target], spec.classes))
        if should_stop():
            raise EngineError("Training was stopped before any model finished.")
        # the holdout pass reads the data once more (the scan's time includes the workers' first imports)
        reserve = min(max(0.5 * scan_s + 1.0, 0.1 * clock.total), 0.3 * clock.total)
        deadline = clock.start + clock.total - reserve
        progress("searching", f"LightGBM on {n_parts} partitions across {len(client.scheduler_info()['workers'])} "
                              "Dask workers")
        train = roles[roles[_ROLE] == _TRAIN]
        params = _lgb_params(spec, n_rows, seed)
        est, info = _fit_lightgbm(client, train, spec, es, params=params, deadline=deadline, should_stop=should_stop)
        if info["cancelled"] and info["trees"] == 0:
            raise EngineError("Training was stopped before any model finished.")
        progress("finalizing", "Scoring the holdout on the cluster")
        scored, sample_raw, sample_scored = _holdout(roles, est, spec)
    schema = _input_schema(spec, sample_raw[list(spec.kinds)].reset_index(drop=True), scan)
    result = _result(est, spec, scored, sample_raw, sample_scored, es=es, params=params, info=info,
                     clock=clock, seed=seed, input_schema=schema)
    if on_model is not None:
        on_model(result)
    summary = {
        "rows": n_rows, "rows_dropped_missing_target": n_rows - n_target,
        "n_train": n_target - len(scored) - len(es[1]),
        "n_test": len(scored), "n_early_stopping": len(es[1]), "n_folds": 0, "column_kinds": dict(spec.kinds),
        "dropped_columns": dropped, "n_models": 1, "warnings": spec.warnings + _class_warnings(scan, spec),
        "elapsed_s": round(time.monotonic() - clock.start, 2), "stopped_early": bool(info["cancelled"]),
        "large": {"engine": "lightgbm.dask", "partitions": n_parts, "scan_s": round(scan_s, 2), **info,
                  "serving_check": result.params.pop("_serving_check")},
    }
    progress("finalizing", f"Done: {result.key}")
    return FitResult(
        problem_type=spec.problem_type, metric=spec.metric.name, metric_direction=spec.metric.direction,
        leaderboard=sorted([result], key=lambda r: leaderboard_key(spec.metric.name, r.cv_score,
                                                                   r.predict_ms_per_row)),
        best=result, summary=summary, classes=None if spec.classes is None else spec.classes.tolist(),
    )


def _class_warnings(scan: dict[str, Any], spec: _Spec) -> list[str]:
    if spec.classes is None:
        return []
    shares = scan["target"] / scan["target"].sum()
    return [f"Class imbalance: the rarest class is {shares.min():.1%} of rows."] if shares.min() < IMBALANCE_SHARE \
        else []


def _result(est: Any, spec: _Spec, scored: pd.DataFrame, sample_raw: pd.DataFrame, sample_scored: pd.DataFrame, *,
            es: tuple[np.ndarray, np.ndarray], params: dict[str, Any], info: dict[str, Any], clock: _Clock,
            seed: int, input_schema: list[dict[str, Any]]) -> ModelResult:
    n_classes = 0 if spec.classes is None else len(spec.classes)
    features = list(spec.kinds)
    raw = sample_raw[features].reset_index(drop=True)
    model = FittedModel(
        algorithm="lightgbm", problem_type=spec.problem_type, classes=spec.classes, kinds=spec.kinds,
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
        key="lightgbm_dask", algorithm="lightgbm", params={**shown, "n_estimators": info["best_iteration"],
                                                         "_serving_check": {"rows": len(raw), "max_abs_diff": diff}},
        cv_score=round(float(cv), 6), metrics=holdout_metrics(spec.problem_type, y, pred),
        fit_seconds=info["fit_seconds"], predict_ms_per_row=ms, feature_importance=feats,
        plots=plot_data(spec.problem_type, y, pred, spec.classes), is_ensemble=False, model=model,
    )
