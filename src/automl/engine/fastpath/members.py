"""The compiled members of a FittedModel: compiled transformers shared between members, final models
called on the transformed matrix through their family's compiled form where it has one."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from automl.engine.fastpath.transforms import Array, CompiledTransformer
from automl.engine.kinds import coerce_arrays

SMALL_BATCH = 2_000  # below this, one thread per model: thread start-up costs more than it saves

FastPredict = Callable[[Any, int], np.ndarray | None]
"""A fitted model compiled by its family: (transformed matrix, threads) -> what the model's own
`predict_proba` (classifiers: columns in `classes_` order) or `predict` (regressors) gives, or None
where this batch keeps the model's own call (sparse input, too many rows for the compiled form)."""

CompileModel = Callable[[Any], FastPredict | None]  # a fitted final model -> its compiled form, or None


class CompiledMember:
    """A member's final model on the transformed matrix; returns what `predict_internal` returns."""

    def __init__(self, est: Any, n_classes: int, compile_model: CompileModel) -> None:
        self.est = est
        self.n_classes = n_classes
        self.fast = compile_model(est)
        self.classes = None if n_classes == 0 else np.asarray(est.classes_, dtype=int)

    def __call__(self, A: Array, threads: int) -> np.ndarray:
        raw = None if self.fast is None else self.fast(A, threads)
        if raw is None:
            raw = self.est.predict(A) if self.n_classes == 0 else self.est.predict_proba(A)
        if self.n_classes == 0:
            return np.asarray(raw, dtype=np.float64)
        out = np.zeros((raw.shape[0], self.n_classes))
        out[:, self.classes] = raw  # a fold may have missed a class
        return out


class FastModel:
    """Raw input rows -> the FittedModel's internal predictions, through the compiled members."""

    def __init__(
        self, kinds: dict[str, str], members: Sequence[tuple[Pipeline, float]], n_classes: int, *,
        compile_model: CompileModel,
    ) -> None:
        self.kinds = dict(kinds)
        compiled: dict[int, CompiledTransformer] = {}
        self.members: list[tuple[CompiledTransformer, CompiledMember, float]] = []
        for pipe, weight in members:
            prep = pipe[0]
            if id(prep) not in compiled:
                compiled[id(prep)] = CompiledTransformer(prep)
            self.members.append((compiled[id(prep)], CompiledMember(pipe[-1], n_classes, compile_model), weight))

    def predict_raw(self, df: pd.DataFrame) -> np.ndarray:
        cols = coerce_arrays(df, self.kinds)
        threads = 1 if len(df) < SMALL_BATCH else (os.cpu_count() or 1)
        transformed: dict[int, Array] = {}
        total: Any = 0.0
        for prep, member, weight in self.members:
            if id(prep) not in transformed:
                transformed[id(prep)] = prep(cols)
            total = total + weight * member(transformed[id(prep)], threads)
        return np.asarray(total)
