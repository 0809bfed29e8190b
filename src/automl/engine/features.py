"""Generated features for LightGBM, fitted on the training fold only (it is a ColumnTransformer part).

From the numeric and categorical columns it is given, `GeneratedFeatures` adds:
- arithmetic pairs (by default a-b and a/b; a+b and a*b on request) among the numeric columns that share the
  most mutual information with the target (flags and uninformative columns left out), scored on a capped row
  sample of the training fold;
- out-of-fold target encodings (sklearn's TargetEncoder, which cross-fits in `fit_transform`) of the crossings
  of the most informative categorical pairs, of high-cardinality categoricals and of integer-valued numeric
  columns with many repeated values (codes, ids of repeated entities), which trees split on poorly.
Every output is a float column; the number of outputs is capped, and the cost is linear in rows. The defaults
(three numeric columns, differences and ratios, two crossings) were chosen on five of bench/features.py's
tables: more generated columns cost LightGBM more in noise than they gave. What the
fitted transformer adds depends on the training fold's rows and targets only: a validation row's encoding is
the training fold's statistics of its value (unseen values: the training mean).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_selection import mutual_info_classif, mutual_info_regression
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import TargetEncoder

MISSING = "__missing__"
_SEP = "\x1f"  # joins the two values of a crossing: not a character uploads put in categories
_TINY = 1e-12
RELATIVE = 0.05  # a column is informative with at least this share of the best column's mutual information


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(b) > _TINY, a / np.where(np.abs(b) > _TINY, b, 1.0), np.nan)


_APPLY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": _safe_div,
}


def _as_keys(values: pd.Series) -> np.ndarray:
    """A categorical or code column as strings, missing values as one level."""
    return values.astype(object).where(values.notna(), MISSING).astype(str).to_numpy(dtype=object)


def _informative(scores: dict[str, float], limit: int) -> list[str]:
    """The `limit` best-scored columns, best first (ties: input order), of those scoring at least RELATIVE of the
    best: a generated column's explanation is split equally between its sources (shapley.source_map), so a
    column that tells nothing about the target must not be paired with one that does and take half its credit."""
    best = max(scores.values(), default=0.0)
    ranked = sorted(scores, key=lambda c: -scores[c])
    return [c for c in ranked if scores[c] > 0 and scores[c] >= RELATIVE * best][:limit]


class GeneratedFeatures(TransformerMixin, BaseEstimator):
    """Arithmetic pairs and target encodings of crossings and codes (see the module's docstring)."""

    def __init__(
        self, numeric: Sequence[str] = (), categorical: Sequence[str] = (), *, target_type: str = "continuous",
        ops: Sequence[str] = ("-", "/"), max_numeric: int = 3, max_crossings: int = 2, max_codes: int = 4,
        max_columns: int = 40, sample_rows: int = 5000, seed: int = 0,
    ) -> None:
        self.numeric = numeric
        self.categorical = categorical
        self.target_type = target_type
        self.ops = ops
        self.max_numeric = max_numeric
        self.max_crossings = max_crossings
        self.max_codes = max_codes
        self.max_columns = max_columns
        self.sample_rows = sample_rows
        self.seed = seed

    # ---- choosing what to generate, on the training fold ----

    def _scores(self, X: pd.DataFrame, y: np.ndarray, columns: list[str], *, discrete: bool) -> dict[str, float]:
        """Mutual information of each non-constant column with the target, on at most `sample_rows` rows."""
        columns = [c for c in columns if X[c].nunique(dropna=False) > 1]
        if not columns or len(X) < 10:
            return {}
        rng = np.random.default_rng(self.seed)
        rows = np.sort(rng.choice(len(X), min(len(X), self.sample_rows), replace=False))
        sample = X.iloc[rows][columns]
        if discrete:
            M = np.column_stack([pd.factorize(_as_keys(sample[c]))[0] for c in columns])
        else:
            M = sample.to_numpy(dtype=float)
            M = np.where(np.isnan(M), np.nanmedian(M, axis=0), M)
        score = mutual_info_regression if self.target_type == "continuous" else mutual_info_classif
        mi = score(M, y[rows], discrete_features=discrete, random_state=self.seed)
        return dict(zip(columns, (float(v) for v in mi), strict=True))

    def _codes(self, X: pd.DataFrame) -> list[str]:
        """Integer-valued numeric columns with many levels, each repeated: trees split such codes poorly."""
        out = []
        for c in self.numeric:
            v = X[c].to_numpy(dtype=float)
            v = v[~np.isnan(v)]
            levels = len(np.unique(v))
            if len(v) and np.all(v == np.round(v)) and 30 < levels <= len(X) // 5:
                out.append(c)
        return out[: self.max_codes]

    def _plan(self, X: pd.DataFrame, y: np.ndarray) -> None:
        if set(self.ops) - set(_APPLY):
            raise ValueError(f"unknown operations {sorted(set(self.ops) - set(_APPLY))}; known: {list(_APPLY)}")
        cats = list(self.categorical)
        cat_scores = self._scores(X, y, cats, discrete=True)
        top_cats = _informative(cat_scores, 4)
        crossings = list(combinations(top_cats, 2))[: self.max_crossings]
        high = [c for c in _informative(cat_scores, len(cats)) if X[c].nunique() > 30][: self.max_codes]
        keys = [(a, b) for a, b in crossings] + [(c,) for c in high] + [(c,) for c in self._codes(X)]
        width = len(np.unique(y)) if self.target_type == "multiclass" else 1
        self.keys_ = keys[: max(0, self.max_columns // 2) // width]
        # flags stay out: a ratio to a 0/1 column is a masked copy of the other, whose credit the flag would share
        numeric = [c for c in self.numeric if X[c].nunique() > 2]
        top_numeric = _informative(self._scores(X, y, numeric, discrete=False), self.max_numeric)
        room = self.max_columns - width * len(self.keys_)
        self.pairs_ = [(a, op, b) for a, b in combinations(top_numeric, 2) for op in self.ops][: max(0, room)]

    # ---- fitting and transforming ----

    def _key_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for i, key in enumerate(self.keys_):
            parts = [_as_keys(X[c]) for c in key]
            out[f"k{i}"] = parts[0] if len(parts) == 1 else parts[0] + _SEP + parts[1]
        return pd.DataFrame(out, index=X.index)

    def _arithmetic(self, X: pd.DataFrame) -> np.ndarray:
        cols = [_APPLY[op](X[a].to_numpy(dtype=float), X[b].to_numpy(dtype=float)) for a, op, b in self.pairs_]
        return np.column_stack(cols) if cols else np.empty((len(X), 0))

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> pd.DataFrame | None:
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self._plan(X, np.asarray(y))
        self.encoder_ = None
        if not self.keys_:
            return None
        splitter = KFold if self.target_type == "continuous" else StratifiedKFold
        self.encoder_ = TargetEncoder(target_type=self.target_type,
                                      cv=splitter(5, shuffle=True, random_state=self.seed))
        return self._key_frame(X)

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> GeneratedFeatures:
        keys = self._fit(X, y)
        if keys is not None and self.encoder_ is not None:
            self.encoder_.fit(keys, y)
        self._name_outputs()
        return self

    def fit_transform(self, X: pd.DataFrame, y: np.ndarray | None = None, **params: object) -> np.ndarray:
        """The training fold's own rows get out-of-fold encodings: a row's value never encodes its own target."""
        if y is None:
            raise ValueError("GeneratedFeatures needs the target to fit")
        keys = self._fit(X, y)
        encoded = np.empty((len(X), 0))
        if keys is not None and self.encoder_ is not None:
            encoded = np.asarray(self.encoder_.fit_transform(keys, y), dtype=float)
        self._name_outputs()
        return np.hstack([self._arithmetic(X), encoded])

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        encoded = np.empty((len(X), 0))
        if self.encoder_ is not None:
            encoded = np.asarray(self.encoder_.transform(self._key_frame(X)), dtype=float)
        return np.hstack([self._arithmetic(X), encoded])

    # ---- names and sources of the outputs ----

    def _name_outputs(self) -> None:
        names = [f"fe:{a}{op}{b}" for a, op, b in self.pairs_]
        sources: list[tuple[str, ...]] = [(a, b) for a, _, b in self.pairs_]
        per_key = [""] if self.encoder_ is None or self.encoder_.target_type_ != "multiclass" else [
            f"[{c}]" for c in self.encoder_.classes_]
        for key in self.keys_:
            for suffix in per_key:
                names.append(f"fe:te({'&'.join(key)}){suffix}")
                sources.append(tuple(key))
        self.names_, self.sources_ = names, sources

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(self.names_, dtype=object)

    def output_sources(self, input_owners: Sequence[str]) -> list[tuple[str, ...]]:
        """The input columns each output is computed from (given the input column each input comes from), for
        attributing explanations: a pair's contribution is split between its two sources."""
        owner = dict(zip(self.feature_names_in_, input_owners, strict=True))
        return [tuple(owner[c] for c in source) for source in self.sources_]
