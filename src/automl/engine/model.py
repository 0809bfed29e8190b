"""FittedModel: the servable artifact (input coercion + weighted fold pipelines), picklable, callback-free."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from automl.engine.calibrate import Calibration
from automl.engine.candidates import compile_fitted
from automl.engine.fastpath import FastModel, compile_verified, synthetic_rows
from automl.engine.kinds import coerce_frame
from automl.engine.shapley import Explanation, explain_members, explain_stacked
from automl.engine.stacking import Stack
from automl.engine.validation import predict_internal


class FittedModel:
    """Averages the weighted predictions of its member pipelines.

    A single candidate's members are its k fold models (equal weights: bagging); the
    ensemble's members are the union of its candidates' fold models, weighted.

    `compile_fast` adds a verified compiled form of the same members (engine/fastpath/, each final
    model compiled by its candidate family) that `predict`/`predict_proba` use when present;
    `predict_raw` always runs the pipelines themselves.

    `calibration` (engine/calibrate.py) maps the members' probabilities to the served ones on every path (the
    fast path is verified against the members before it); `threshold`, for binary, is the least P(positive)
    `predict` labels positive. Both were chosen on out-of-fold predictions; None: the members' argmax.

    `stack` (engine/stacking.py), for a stacked ensemble: boosters whose raw score is added to the members'
    margin before calibration; compiled and verified like the members (`fast_stack`), else on the coerced frame.
    """

    # class defaults: artifacts pickled before the fast path, or before calibration, have none
    fast: FastModel | None = None
    calibration: Calibration | None = None
    threshold: float | None = None
    stack: Stack | None = None
    fast_stack: FastModel | None = None  # the layer's compiled form, beside `fast`

    def __init__(
        self, *, algorithm: str, problem_type: str, classes: np.ndarray | None, kinds: dict[str, str],
        input_schema: list[dict[str, Any]], members: list[tuple[Pipeline, float]],
    ) -> None:
        self.algorithm = algorithm
        self.problem_type = problem_type
        self.classes_ = classes
        self.kinds = dict(kinds)
        self.input_schema = input_schema
        self.feature_names_in_ = np.asarray(list(kinds), dtype=object)
        total = sum(w for _, w in members)
        self.members = [(pipe, w / total) for pipe, w in members]

    @property
    def n_classes(self) -> int:
        return 0 if self.classes_ is None else len(self.classes_)

    @staticmethod
    def _as_frame(df: Any) -> pd.DataFrame:
        if isinstance(df, pd.DataFrame):
            return df
        return pd.DataFrame([df]) if isinstance(df, dict) else pd.DataFrame(df)

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        """Internal form on an already-coerced frame: (n, K) (calibrated) probabilities or regression values."""
        raw = self._members_raw(X)
        return self._calibrated(raw if self.stack is None else self.stack.apply(raw, X))

    def _calibrated(self, raw: np.ndarray) -> np.ndarray:
        return raw if self.calibration is None else self.calibration.apply(raw)

    def _members_raw(self, X: pd.DataFrame) -> np.ndarray:
        """The members' weighted output, before calibration.

        Members that share a fitted preprocessor (a refitted ensemble) transform the input once.
        """
        transformed: dict[int, Any] = {}
        total: Any = 0.0
        for pipe, w in self.members:
            prep = pipe[0]
            if id(prep) not in transformed:
                transformed[id(prep)] = prep.transform(X)
            total = total + w * predict_internal(pipe[-1], transformed[id(prep)], self.n_classes)
        return np.asarray(total)

    def compile_fast(self) -> bool:
        """Compile the members (and a stacking layer) for serving, checked against the pipelines on rows made
        from the input schema. False, and the regular path, when they disagree."""
        self.fast = self.fast_stack = None
        sample = synthetic_rows(self.input_schema)
        self.fast = compile_verified(
            self.kinds, self.members, self.n_classes, regular=self._regular_raw, sample=sample,
            compile_model=compile_fitted,
        )
        if self.fast is not None and self.stack is not None:
            self.fast_stack = self.stack.compile(self.kinds, sample)
        return self.fast is not None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("fast", None)  # derived: rebuilt (and re-verified) by whoever loads the artifact
        state.pop("fast_stack", None)
        return state

    def _regular_raw(self, df: pd.DataFrame) -> np.ndarray:
        """What the fast path is verified against: the members, uncalibrated (both get the same calibration)."""
        return self._members_raw(coerce_frame(df, self.kinds))

    def _raw_from_input(self, df: Any) -> tuple[np.ndarray, pd.Index]:
        df = self._as_frame(df)
        if self.stack is None:
            raw = self.fast.predict_raw(df) if self.fast is not None else self._regular_raw(df)
        elif self.fast is not None and self.fast_stack is not None:
            raw = self.stack.combine(self.fast.predict_raw(df), self.fast_stack.predict_raw(df))
        else:
            X = coerce_frame(df, self.kinds)
            raw = self.stack.apply(self.fast.predict_raw(df) if self.fast is not None else self._members_raw(X), X)
        return self._calibrated(raw), df.index

    def predict(self, df: Any) -> np.ndarray:
        raw, _ = self._raw_from_input(df)
        if self.classes_ is None:
            return raw
        if self.threshold is not None and self.n_classes == 2:
            return self.classes_[(raw[:, 1] >= self.threshold).astype(int)]
        return self.classes_[raw.argmax(axis=1)]

    def predict_proba(self, df: Any) -> pd.DataFrame:
        if self.classes_ is None:
            raise AttributeError("predict_proba is only available for classifiers")
        raw, index = self._raw_from_input(df)
        return pd.DataFrame(raw, columns=list(self.classes_), index=index)

    def explain(self, df: Any, classes: Any = None) -> Explanation:
        """Each input column's exact SHAP contribution per row, base + sum = the regular path's output (the
        probability of the explained class: `classes`, one label per row, or each row's most probable; or the
        prediction). See engine/shapley.py for the spaces and how encoded columns are summed back."""
        X = coerce_frame(self._as_frame(df), self.kinds)
        kwargs = {"columns": list(self.feature_names_in_), "labels": self.classes_,
                  "classes": None if classes is None else list(classes), "calibration": self.calibration}
        if self.stack is not None:
            return explain_stacked(X, self.members, self.stack, **kwargs)
        return explain_members(X, self.members, **kwargs)

    def __repr__(self) -> str:
        return f"FittedModel({self.algorithm!r}, {self.problem_type!r}, members={len(self.members)})"
