"""What counts as large data, and how its rows become LightGBM's matrix (`engine/large.py` trains on it).

`is_large` and `memory_estimate` decide from the Parquet's footers and one row group; `LargePreprocessor`
is the first step of every served large-data pipeline and the transform of every partition on the workers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from automl.engine.kinds import coerce_column
from automl.engine.preprocess import DATETIME_PARTS, datetime_part_matrix

LARGE_SHARE = 0.25  # without a setting: data over this share of one worker's memory takes the Dask path


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

    def __init__(self, numeric: list[str], datetime: list[str], categories: dict[str, list[str]],
                 missing_code: float = -1.0) -> None:
        self.numeric = numeric
        self.datetime = datetime
        self.categories = categories
        self.missing_code = missing_code  # -1 for LightGBM; NaN for XGBoost, which refuses negative categories

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
            codes = index.get_indexer(X[c]).astype(np.float32)
            codes[codes < 0] = self.missing_code
            out[:, j] = codes
            j += 1
        return out  # unknown and missing categories are `missing_code`, which the booster reads as missing

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
