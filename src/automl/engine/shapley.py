"""Per-row explanations in the uploaded columns: exact SHAP values of every member, summed back from the encoded
columns to the column each came from, in the units the model serves, weighted as the members are.

Spaces. Regression: "prediction", base + sum(values) is the prediction. Classifiers: "probability", base +
sum(values) is the served probability of the explained class. Forests are exact TreeSHAP in probability already;
margin models (boosters, logistic) are exact in log-odds / softmax margins and mapped to probability so that the
sum stays exact:
- binary: each margin contribution m_j is scaled by (sigmoid(b + s) - sigmoid(b)) / s, s = sum(m), b the base
  margin (sigmoid'(b) when |s| is tiny); the base is sigmoid(b).
- multiclass: the path integral of the explained class's softmax gradient along the straight line from the base
  margins b to b + S (S the summed contributions per class): v_j = integral_0^1 grad p_c(b + tS) . m_j dt, by
  16-point Gauss-Legendre, then the quadrature's remainder (p_c(b + S) - p_c(b) - sum(v)) spread over the
  columns in proportion to |v_j|, so the sum is exact; the base is softmax(b)_c. With two classes and one margin
  this is the binary rule.
A bag of fold models and an ensemble are weighted sums of their members' explanations (the weights sum to 1).
A calibrated model (engine/calibrate.py) serves q = g(p), p the members' probability of the explained class and g
the calibration as a map of that one probability on the row (the other classes keeping their shares): the base
becomes g(base) and each contribution is scaled by (q - g(base)) / (p - base), the binary rule above with g for
sigmoid, so the sum stays exact.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, softmax
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler, TargetEncoder

from automl.engine.calibrate import Calibration
from automl.engine.errors import EngineError
from automl.engine.fastpath.transforms import encoder_widths
from automl.engine.largeprep import LargePreprocessor
from automl.engine.preprocess import DATETIME_PARTS, ClipToRange, ToCategory, datetime_parts
from automl.engine.shapley_families import RawShap, raw_shap
from automl.engine.stacking import EPS, Stack, to_margin
from automl.engine.validation import predict_internal

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(16)
_T, _W = (_NODES + 1.0) / 2.0, _WEIGHTS / 2.0  # on [0, 1]
_TINY = 1e-12
_maps: weakref.WeakKeyDictionary[ColumnTransformer, np.ndarray] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Explanation:
    """base + values.sum(axis=1) is the model's output per row (see the module's docstring for `space`)."""

    columns: list[str]
    base: np.ndarray  # (n,)
    values: np.ndarray  # (n, len(columns))
    space: str  # "prediction" or "probability"
    explained: np.ndarray | None  # the class label explained per row; None for regression


# ---- encoded columns -> the input column each came from, read off the fitted ColumnTransformer ----

def _step_owners(step: Any, owners: np.ndarray) -> np.ndarray:
    """The source column of each output column of one fitted step, given its inputs' sources."""
    if isinstance(step, str) and step == "passthrough":
        return owners
    if isinstance(step, StandardScaler | ClipToRange | ToCategory):
        return owners
    if isinstance(step, FunctionTransformer) and step.func is None:
        return owners
    if isinstance(step, FunctionTransformer) and step.func is datetime_parts:
        return np.repeat(owners, len(DATETIME_PARTS))
    if isinstance(step, SimpleImputer):
        kept = owners
        if not step.keep_empty_features and step.strategy != "constant":  # all-missing columns are dropped
            kept = owners[~pd.isna(step.statistics_)]
        indicator = [] if step.indicator_ is None else list(owners[step.indicator_.features_])
        return np.asarray([*kept, *indicator], dtype=object)
    if isinstance(step, OneHotEncoder | OrdinalEncoder | TargetEncoder):
        return np.repeat(owners, encoder_widths(step))
    if isinstance(step, LargePreprocessor):  # numbers, then DATETIME_PARTS per datetime, then one code each
        source = dict(zip(step.feature_names_in_, owners, strict=True))
        dates = np.repeat([source[c] for c in step.datetime], len(DATETIME_PARTS))
        return np.asarray([*(source[c] for c in step.numeric), *dates, *(source[c] for c in step.categories)],
                          dtype=object)
    raise EngineError(f"cannot attribute the outputs of {type(step).__name__} to its input columns")


def _part_owners(trans: Any, columns: list[str], width: int) -> list[tuple[str, ...]]:
    """The source columns of each output of one part: one each, or several for a part that says so itself
    (`output_sources`, e.g. features.GeneratedFeatures: a pair of columns' sum comes from both)."""
    if hasattr(trans, "output_sources"):
        return trans.output_sources(columns)
    if len(columns) == 1:  # every output of a one-column part (TF-IDF, its SVD, ...) is that column's
        return [(columns[0],)] * width
    owners = np.asarray(columns, dtype=object)
    for step in ([s for _, s in trans.steps] if isinstance(trans, Pipeline) else [trans]):
        owners = _step_owners(step, owners)
    return [(o,) for o in owners]


def source_map(ct: ColumnTransformer, columns: Sequence[str]) -> np.ndarray:
    """(encoded columns, input columns) matrix: which input columns each encoded column comes from, its row
    split equally between them (rows sum to 1, so the contributions still sum to the prediction)."""
    if not isinstance(ct, ColumnTransformer):
        raise EngineError(f"cannot attribute the outputs of {type(ct).__name__} to the input columns")
    if ct in _maps:
        return _maps[ct]
    index = {c: i for i, c in enumerate(columns)}
    width = max((s.stop for s in ct.output_indices_.values()), default=0)
    out = np.zeros((width, len(columns)))
    for name, trans, cols in ct.transformers_:
        part = ct.output_indices_[name]
        if part.stop == part.start:
            continue
        owners = _part_owners(trans, list(cols), part.stop - part.start)
        if len(owners) != part.stop - part.start:
            raise EngineError(f"the outputs of {name!r} do not match its fitted encoders")
        for row, sources in zip(range(part.start, part.stop), owners, strict=True):
            for source in sources:
                out[row, index[source]] += 1.0 / len(sources)
    _maps[ct] = out
    return out


# ---- a member's SHAP values -> the explained class's probability ----

def _binary(base: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class 1's probability from its log-odds contributions m (n, columns) and base log-odds (n,)."""
    s = m.sum(axis=1)
    p0, p1 = expit(base), expit(base + s)
    small = np.abs(s) < _TINY
    factor = np.where(small, p0 * (1.0 - p0), (p1 - p0) / np.where(small, 1.0, s))
    return p0, m * factor[:, None]


def _softmax_path(base: np.ndarray, m: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class c's softmax probability from margin contributions m (n, K, columns), base margins (n, K)."""
    rows = np.arange(len(base))
    total = m.sum(axis=2)
    p = softmax(base[:, None, :] + _T[None, :, None] * total[:, None, :], axis=2)  # (n, nodes, K)
    onehot = np.eye(base.shape[1])[c]
    grad = p[rows, :, c][:, :, None] * (onehot[:, None, :] - p)  # d p_c / d z_k along the path
    v = np.einsum("nk,nkf->nf", (_W[None, :, None] * grad).sum(axis=1), m)
    start, end = softmax(base, axis=1)[rows, c], softmax(base + total, axis=1)[rows, c]
    weight = np.abs(v)
    spread = weight.sum(axis=1)
    v = v + ((end - start - v.sum(axis=1)) / np.where(spread > 0, spread, 1.0))[:, None] * weight
    return start, v


def _in_class(raw: RawShap, values: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One classifier member's base and values for the class at `positions` (-1: a class it never saw, whose
    probability it gives as 0) of its own `classes_`; values is (n, outputs, input columns)."""
    n = len(positions)
    base, out = np.zeros(n), np.zeros((n, values.shape[2]))
    seen = positions >= 0
    pos, b, v = positions[seen], raw.base[seen], values[seen]
    if not raw.margin:
        rows = np.arange(len(pos))
        base[seen], out[seen] = b[rows, pos], v[rows, pos]
    elif raw.base.shape[1] == 1:  # class 1's log-odds
        p_base, p_values = _binary(b[:, 0], v[:, 0])
        sign = np.where(pos == 1, 1.0, -1.0)
        base[seen] = np.where(pos == 1, p_base, 1.0 - p_base)
        out[seen] = p_values * sign[:, None]
    else:
        base[seen], out[seen] = _softmax_path(b, v, pos)
    return base, out


def _calibrated(base: np.ndarray, values: np.ndarray, proba: np.ndarray, target: np.ndarray,
                calibration: Calibration) -> tuple[np.ndarray, np.ndarray]:
    """The explanation of the members' probabilities `proba` (n, K) of class `target`, in calibrated units."""
    rows = np.arange(len(base))
    s = values.sum(axis=1)
    start = calibration.explained(proba, target, base)
    end = calibration.apply(proba)[rows, target]
    small = np.abs(s) < _TINY
    values = values * np.where(small, 1.0, (end - start) / np.where(small, 1.0, s))[:, None]
    return end - values.sum(axis=1), values  # the base is g(base) but for rounding: the sum is exact


# ---- the model ----

def _explained(labels: np.ndarray, classes: Sequence[Any]) -> np.ndarray:
    exact = {c: i for i, c in enumerate(labels.tolist())}
    text = {str(c): i for i, c in enumerate(labels.tolist())}
    out = []
    for c in classes:
        i = exact.get(c, text.get(str(c)))
        if i is None:
            raise EngineError(f"{c!r} is not one of the model's classes")
        out.append(i)
    return np.asarray(out, dtype=np.intp)


def _member_parts(X: pd.DataFrame, members: Sequence[tuple[Pipeline, float]], columns: list[str],
                  n_classes: int) -> tuple[list[tuple[float, RawShap, np.ndarray, np.ndarray]], np.ndarray]:
    """Each member's weight, SHAP values mapped to the input columns (n, outputs, columns) and the position of
    each class in its own `classes_` (-1: never seen); and the members' weighted output (n, K)."""
    transformed: dict[int, Any] = {}
    for pipe, _ in members:
        transformed.setdefault(id(pipe[0]), pipe[0].transform(X))
    parts, proba = [], np.zeros((len(X), n_classes))
    for pipe, weight in members:
        Xt = transformed[id(pipe[0])]
        raw = raw_shap(pipe[-1], Xt)
        mapping = source_map(pipe[0], columns)
        mapped = np.stack([np.asarray(v @ mapping) for v in raw.values], axis=1)
        own = np.full(n_classes, -1, dtype=np.intp)
        if n_classes:
            own[np.asarray(pipe[-1].classes_, dtype=int)] = np.arange(len(pipe[-1].classes_))
            proba = proba + weight * predict_internal(pipe[-1], Xt, n_classes)
        parts.append((weight, raw, mapped, own))
    return parts, proba


def _in_target(parts: list[tuple[float, RawShap, np.ndarray, np.ndarray]], target: np.ndarray | None,
               n: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The weighted members' base and values for class `target` per row (None: regression)."""
    base, values = np.zeros(n), np.zeros((n, width))
    for weight, raw, mapped, own in parts:
        b, v = (raw.base[:, 0], mapped[:, 0]) if target is None else _in_class(raw, mapped, own[target])
        base, values = base + weight * b, values + weight * v
    return base, values


def _targets(served: np.ndarray, labels: np.ndarray, classes: Sequence[Any] | None) -> np.ndarray:
    if classes is None:
        return served.argmax(axis=1)  # the most probable as served
    if len(classes) != len(served):
        raise EngineError(f"{len(classes)} classes given for {len(served)} rows")
    return _explained(labels, classes)


def explain_members(
    X: pd.DataFrame, members: Sequence[tuple[Pipeline, float]], *, columns: list[str], labels: np.ndarray | None,
    classes: Sequence[Any] | None = None, calibration: Calibration | None = None,
) -> Explanation:
    """Explain the weighted `members` on the coerced frame `X` (see `FittedModel.explain`), in the units of
    `calibration`'s output when given."""
    n_classes = 0 if labels is None else len(labels)
    parts, proba = _member_parts(X, members, columns, n_classes)
    target = None
    if labels is not None:
        target = _targets(proba if calibration is None else calibration.apply(proba), labels, classes)
    base, values = _in_target(parts, target, len(X), len(columns))
    if calibration is not None and target is not None:
        base, values = _calibrated(base, values, proba, target, calibration)
    return Explanation(columns=list(columns), base=base, values=values,
                       space="prediction" if labels is None else "probability",
                       explained=None if labels is None or target is None else labels[target])


def _rescaled(base: np.ndarray, values: np.ndarray, end: np.ndarray, link: Any, slope: Any,
              ) -> tuple[np.ndarray, np.ndarray]:
    """Contributions summing to `end` - base moved to link(end) - link(base) (the rescale rule; link's slope
    at the base where they are tiny), with the base link(base)."""
    s = values.sum(axis=1)
    small = np.abs(s) < _TINY
    factor = np.where(small, slope(base), (link(end) - link(base)) / np.where(small, 1.0, s))
    return link(base), values * factor[:, None]


def _logit(p: np.ndarray) -> np.ndarray:
    return to_margin(np.column_stack([1.0 - p, p]), 2)


def explain_stacked(
    X: pd.DataFrame, members: Sequence[tuple[Pipeline, float]], stack: Stack, *, columns: list[str],
    labels: np.ndarray | None, classes: Sequence[Any] | None = None, calibration: Calibration | None = None,
) -> Explanation:
    """A stacked ensemble (engine/stacking.py): the ensemble's contributions moved into the layer's margins by
    the rescale rule (so they sum to the ensemble's log-odds, log-probabilities or value), plus the layer's
    boosters' own exact margin contributions, then the margin rules above: exact in the served units."""
    n, width, n_classes = len(X), len(columns), 0 if labels is None else len(labels)
    parts, proba = _member_parts(X, members, columns, n_classes)
    layer = [_member_parts(X, [(p, 1.0 / len(stack.pipelines))], columns, 0)[0][0] for p in stack.pipelines]
    layer_base = sum(w * raw.base for w, raw, _, _ in layer)  # (n, outputs)
    layer_values = sum(w * mapped for w, _, mapped, _ in layer)  # (n, outputs, columns)
    if labels is None:
        base, values = _in_target(parts, None, n, width)
        return Explanation(columns=list(columns), base=base + layer_base[:, 0], values=values + layer_values[:, 0],
                           space="prediction", explained=None)
    stacked = stack.apply(proba, X)
    target = _targets(stacked if calibration is None else calibration.apply(stacked), labels, classes)
    if n_classes == 2:
        b, v = _in_target(parts, np.ones(n, dtype=np.intp), n, width)
        b, v = _rescaled(b, v, proba[:, 1], _logit, lambda p: 1.0 / np.clip(p * (1.0 - p), EPS, None))
        p_base, p_values = _binary(b + layer_base[:, 0], v + layer_values[:, 0])
        sign = np.where(target == 1, 1.0, -1.0)
        base, values = np.where(target == 1, p_base, 1.0 - p_base), p_values * sign[:, None]
    else:
        margins, contributions = np.zeros((n, n_classes)), np.zeros((n, n_classes, width))
        for c in range(n_classes):
            b, v = _in_target(parts, np.full(n, c, dtype=np.intp), n, width)
            margins[:, c], contributions[:, c] = _rescaled(
                b, v, proba[:, c], lambda p: np.log(np.clip(p, EPS, 1.0)), lambda p: 1.0 / np.clip(p, EPS, None))
        base, values = _softmax_path(margins + layer_base, contributions + layer_values, target)
    if calibration is not None:
        base, values = _calibrated(base, values, stacked, target, calibration)
    return Explanation(columns=list(columns), base=base, values=values, space="probability",
                       explained=labels[target])
