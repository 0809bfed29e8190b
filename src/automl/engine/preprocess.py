"""Per-family preprocessing: one ColumnTransformer per candidate, fitted on training folds only.

Styles:
- linear:   median impute + missing indicators + scaling, one-hot (rare levels grouped), target
            encoding for high-cardinality categoricals, TF-IDF used directly (sparse).
- tree:     median impute + indicators, one-hot / target encoding, TF-IDF + SVD; no scaling.
- nan_ok:   as tree, but numeric NaN passed through (HistGradientBoosting, XGBoost handle it).
- lightgbm: numeric passthrough, categoricals as pandas `category` codes (native splits).
- catboost: numeric passthrough, categoricals as strings (CatBoost's ordered target statistics).
- lightgbm_fe: lightgbm plus generated features (features.GeneratedFeatures: arithmetic pairs, out-of-fold
            target encodings of categorical crossings and codes), one more part of the same ColumnTransformer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler, TargetEncoder

from automl.engine.features import GeneratedFeatures

STYLES = ("linear", "tree", "nan_ok", "lightgbm", "catboost", "lightgbm_fe")
HIGH_CARDINALITY = 30  # more distinct levels than this -> target encoding instead of one-hot
MISSING = "__missing__"
DATETIME_PARTS = ("year", "month", "day", "day_of_week", "hour")


@dataclass(frozen=True)
class ColumnPlan:
    numeric: tuple[str, ...]  # numeric and boolean (already 0/1 floats)
    categorical_low: tuple[str, ...]
    categorical_high: tuple[str, ...]
    datetime: tuple[str, ...]
    text: tuple[str, ...]

    @classmethod
    def from_kinds(cls, X: pd.DataFrame, kinds: dict[str, str]) -> ColumnPlan:
        cats = [c for c, k in kinds.items() if k == "categorical"]
        return cls(
            numeric=tuple(c for c, k in kinds.items() if k in ("numeric", "boolean")),
            categorical_low=tuple(c for c in cats if X[c].nunique() <= HIGH_CARDINALITY),
            categorical_high=tuple(c for c in cats if X[c].nunique() > HIGH_CARDINALITY),
            datetime=tuple(c for c, k in kinds.items() if k == "datetime"),
            text=tuple(c for c, k in kinds.items() if k == "text"),
        )


def datetime_part_matrix(X: np.ndarray) -> np.ndarray:
    """DATETIME_PARTS of each datetime64 column of X, as float64 (NaN where NaT); Monday is day 0.

    The one implementation: training's `datetime_parts` and the compiled serving path both call it.
    """
    blocks = []
    for j in range(X.shape[1]):
        a = np.asarray(X[:, j], dtype="datetime64[ns]") if X.dtype.kind != "M" else X[:, j]
        days = a.astype("datetime64[D]")
        months = a.astype("datetime64[M]")
        parts = np.column_stack([
            a.astype("datetime64[Y]").astype(np.int64) + 1970,
            months.astype(np.int64) % 12 + 1,
            (days - months).astype(np.int64) + 1,
            (days.astype(np.int64) + 3) % 7,  # 1970-01-01 was a Thursday
            (a - days).astype("timedelta64[h]").astype(np.int64),
        ]).astype(np.float64)
        parts[np.isnat(a)] = np.nan
        blocks.append(parts)
    return np.hstack(blocks) if blocks else np.empty((len(X), 0))


def _naive_datetimes(values: pd.Series) -> np.ndarray:
    dt = pd.to_datetime(values, errors="coerce")
    return (dt.dt.tz_localize(None) if dt.dt.tz is not None else dt).to_numpy()


def datetime_parts(X: pd.DataFrame) -> pd.DataFrame:
    """The FunctionTransformer of datetime columns: DATETIME_PARTS per column (wall-clock time)."""
    matrix = datetime_part_matrix(np.column_stack([_naive_datetimes(X[c]) for c in X.columns]))
    return pd.DataFrame(matrix, columns=_datetime_names(None, list(X.columns)), index=X.index)


def _datetime_names(transformer: object, names: list[str]) -> list[str]:
    return [f"{c}_{p}" for c in names for p in DATETIME_PARTS]


def fill_text(X: pd.Series | pd.DataFrame) -> np.ndarray:
    values = X.iloc[:, 0] if isinstance(X, pd.DataFrame) else X
    return values.fillna("").astype(str).to_numpy()


class ToCategory(TransformerMixin, BaseEstimator):
    """Ordinal codes -> pandas `category` with fixed categories, so LightGBM splits natively."""

    def fit(self, X: pd.DataFrame, y: object = None) -> ToCategory:
        self.n_levels_ = {c: int(np.nanmax(np.append(X[c].to_numpy(dtype=float), -1))) + 1 for c in X.columns}
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for c, n in self.n_levels_.items():
            codes = np.nan_to_num(X[c].to_numpy(dtype=float), nan=-1).astype(int)
            codes[codes >= n] = -1
            out[c] = pd.Categorical.from_codes(codes, categories=list(range(n)))
        return pd.DataFrame(out, index=X.index)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return self.feature_names_in_


class TextEmbedding(TransformerMixin, BaseEstimator):
    """TF-IDF then TruncatedSVD: a few dense columns that trees can split on."""

    def __init__(self, max_features: int = 2000, n_components: int = 20) -> None:
        self.max_features = max_features
        self.n_components = n_components

    def fit(self, X: pd.DataFrame, y: object = None) -> TextEmbedding:
        self.tfidf_ = TfidfVectorizer(max_features=self.max_features, min_df=2, sublinear_tf=True)
        tf = self.tfidf_.fit_transform(fill_text(X))
        n_components = max(1, min(self.n_components, tf.shape[1] - 1))
        self.svd_ = TruncatedSVD(n_components=n_components, random_state=0).fit(tf)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return self.svd_.transform(self.tfidf_.transform(fill_text(X)))

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        col = self.feature_names_in_[0]
        return np.asarray([f"{col}_svd{i}" for i in range(self.svd_.n_components)], dtype=object)


class ClipToRange(TransformerMixin, BaseEstimator):
    """Clip numeric columns to the training range: linear models must not extrapolate from outliers."""

    def fit(self, X: np.ndarray, y: object = None) -> ClipToRange:
        X = np.asarray(X, dtype=float)
        self.low_ = np.nanmin(X, axis=0) if len(X) else np.zeros(X.shape[1])
        self.high_ = np.nanmax(X, axis=0) if len(X) else np.zeros(X.shape[1])
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return np.clip(np.asarray(X, dtype=float), self.low_, self.high_)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(input_features, dtype=object)


def _text_pipe(style: str, n_rows: int) -> object:
    if style == "linear":
        vec = TfidfVectorizer(max_features=5000, min_df=2, sublinear_tf=True)
        return make_pipeline(FunctionTransformer(fill_text), vec)
    return TextEmbedding(n_components=min(20, max(2, n_rows // 50)))


def _onehot(n_rows: int) -> OneHotEncoder:
    return OneHotEncoder(
        handle_unknown="infrequent_if_exist", min_frequency=max(5, n_rows // 1000), max_categories=HIGH_CARDINALITY,
        sparse_output=False,
    )


def build_preprocessor(
    plan: ColumnPlan, style: str, *, target_type: str, n_rows: int, seed: int = 0
) -> ColumnTransformer:
    """A fresh (unfitted) ColumnTransformer for one candidate family."""
    if style not in STYLES:
        raise ValueError(f"unknown preprocessing style {style!r}")
    generated = style == "lightgbm_fe"
    style = "lightgbm" if generated else style
    scale = style == "linear"
    parts: list[tuple[str, object, object]] = []
    if plan.numeric:
        if style in ("nan_ok", "lightgbm", "catboost"):
            parts.append(("num", "passthrough", list(plan.numeric)))
        else:
            steps: list[object] = [SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)]
            if scale:
                steps += [ClipToRange(), StandardScaler()]
            parts.append(("num", make_pipeline(*steps), list(plan.numeric)))
    if plan.datetime:
        steps = [FunctionTransformer(datetime_parts, feature_names_out=_datetime_names)]
        if style not in ("nan_ok", "lightgbm", "catboost"):
            steps.append(SimpleImputer(strategy="median", keep_empty_features=True))
        parts.append(("dt", make_pipeline(*steps, *([StandardScaler()] if scale else [])), list(plan.datetime)))
    cats_low, cats_high = list(plan.categorical_low), list(plan.categorical_high)
    if style == "lightgbm" and (cats_low or cats_high):
        enc = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1,
            min_frequency=max(3, n_rows // 2000), max_categories=200,
        )
        parts.append(("cat", make_pipeline(enc, ToCategory()), cats_low + cats_high))
    elif style == "catboost" and (cats_low or cats_high):
        parts.append(("cat", SimpleImputer(strategy="constant", fill_value=MISSING), cats_low + cats_high))
    else:
        if cats_low:
            parts.append(("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value=MISSING), _onehot(n_rows)),
                          cats_low))
        if cats_high:
            splitter = KFold if target_type == "continuous" else StratifiedKFold
            te = TargetEncoder(target_type=target_type, cv=splitter(5, shuffle=True, random_state=seed))
            parts.append(("te", make_pipeline(te, *([StandardScaler()] if scale else [])), cats_high))
    for col in plan.text:
        parts.append((f"text_{col}", _text_pipe(style, n_rows), [col]))
    if generated and (plan.numeric or cats_low or cats_high):
        fe = GeneratedFeatures(plan.numeric, (*cats_low, *cats_high), target_type=target_type, seed=seed)
        parts.append(("fe", fe, [*plan.numeric, *cats_low, *cats_high]))
    ct = ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False, sparse_threshold=0.3)
    if style in ("lightgbm", "catboost"):
        ct.set_output(transform="pandas")
    return ct
