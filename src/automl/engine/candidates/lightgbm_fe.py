"""LightGBM on the uploaded columns plus generated ones (preprocess style "lightgbm_fe", engine/features.py):
arithmetic pairs and out-of-fold target encodings, fitted inside each fold. It competes as one more candidate,
so the generated features are kept only where cross-validation prefers this family."""

from __future__ import annotations

from automl.engine.candidates.base import Params, TaskContext, register
from automl.engine.candidates.lightgbm import LightGBM


@register
class LightGBMFeatures(LightGBM):
    name = "lightgbm_fe"
    algorithm = "LightGBM + generated features"
    style = "lightgbm_fe"
    cost = 1.3  # the generator's fit (a mutual-information sample, target encoding) and wider matrices

    def portfolio(self, ctx: TaskContext) -> list[Params]:
        # LightGBM's first configuration, with fewer columns per tree: the generated ones overlap each other
        first = {**super().portfolio(ctx)[0], "colsample_bytree": 0.7}
        return [first]
