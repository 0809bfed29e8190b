"""FittedModel: the servable artifact (input coercion + weighted fold pipelines), picklable, callback-free."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from automl.engine.kinds import coerce_frame
from automl.engine.validation import predict_internal


class FittedModel:
    """Averages the weighted predictions of its member pipelines.

    A single candidate's members are its k fold models (equal weights: bagging); the
    ensemble's members are the union of its candidates' fold models, weighted.
    """

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

    def _frame(self, df: Any) -> pd.DataFrame:
        if not isinstance(df, pd.DataFrame):
            df = pd.DataFrame([df]) if isinstance(df, dict) else pd.DataFrame(df)
        return coerce_frame(df, self.kinds)

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        """Internal form on an already-coerced frame: (n, K) probabilities or regression values.

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

    def predict(self, df: Any) -> np.ndarray:
        raw = self.predict_raw(self._frame(df))
        if self.classes_ is None:
            return raw
        return self.classes_[raw.argmax(axis=1)]

    def predict_proba(self, df: Any) -> pd.DataFrame:
        if self.classes_ is None:
            raise AttributeError("predict_proba is only available for classifiers")
        frame = self._frame(df)
        return pd.DataFrame(self.predict_raw(frame), columns=list(self.classes_), index=frame.index)

    def __repr__(self) -> str:
        return f"FittedModel({self.algorithm!r}, {self.problem_type!r}, members={len(self.members)})"
