import numpy as np
import pandas as pd
import pytest

from automl.engine.ensemble import ensemble_selection
from automl.engine.kinds import coerce_frame
from automl.engine.preprocess import STYLES, ColumnPlan, build_preprocessor
from automl.engine.task import METRICS
from automl.ingest import column_kinds


@pytest.fixture()
def frame(mixed: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, dict[str, str]]:
    kinds = {c: k for c, k in column_kinds(mixed).items() if c != "label"}
    kinds = {c: k for c, k in kinds.items() if k not in ("id", "constant")}
    y = (mixed["label"] == "churn").to_numpy(dtype=int)
    return coerce_frame(mixed, kinds), y, kinds


def test_every_style_fits_and_transforms_unseen_rows(frame: tuple) -> None:
    X, y, kinds = frame
    plan = ColumnPlan.from_kinds(X, kinds)
    assert plan.categorical_high == ("city",) and plan.text == ("review",)
    odd = X.head(3).copy()
    odd["city"] = ["nowhere", None, "city_1"]
    odd["x"] = np.nan
    for style in STYLES:
        ct = build_preprocessor(plan, style, target_type="binary", n_rows=len(X))
        ct.fit(X, y)
        assert ct.transform(odd).shape[0] == 3


def test_target_encoder_is_cross_fitted(frame: tuple) -> None:
    X, y, kinds = frame
    plan = ColumnPlan.from_kinds(X, kinds)
    ct = build_preprocessor(plan, "tree", target_type="binary", n_rows=len(X))
    te = ct.set_params(remainder="drop")
    Z_fit_transform = te.fit_transform(X, y)
    Z_transform = te.transform(X)
    city_col = list(te.get_feature_names_out()).index("city")
    assert not np.allclose(Z_fit_transform[:, city_col], Z_transform[:, city_col])


def test_ensemble_selection_prefers_good_models() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    good = np.column_stack([1 - (y * 0.6 + 0.2), y * 0.6 + 0.2]) + rng.normal(0, 0.1, (500, 2))
    noise = rng.random((500, 2))
    weights, score = ensemble_selection([noise, good], y, METRICS["roc_auc"], iterations=20)
    assert weights[1] >= 0.8 and score > 0.9


def test_ensemble_pool_caps_each_family_and_keeps_the_best_first() -> None:
    from automl.engine.candidates import REGISTRY
    from automl.engine.ensemble import PER_FAMILY, ensemble_pool
    from automl.engine.search import Finished

    def finished(family: str, score: float) -> Finished:
        return Finished(key=f"{family}_{score}", candidate=REGISTRY[family], params={}, cv_score=score,
                        oof=np.zeros(3), pipelines=[], fit_seconds=1.0)

    tuned = [finished("lightgbm", 0.90 - i / 100) for i in range(8)]
    others = [finished("ridge", 0.80), finished("catboost", 0.85)]
    pool = ensemble_pool([*others, *tuned], METRICS["roc_auc"])
    assert [f.cv_score for f in pool] == sorted((f.cv_score for f in pool), reverse=True)
    assert sum(f.candidate.name == "lightgbm" for f in pool) == PER_FAMILY
    assert {f.key for f in others} <= {f.key for f in pool}


def test_the_plain_linear_model_is_named_for_its_task() -> None:
    from automl.engine.candidates import REGISTRY, TaskContext

    linear = REGISTRY["linear"]
    assert linear.algorithm_for(TaskContext("binary", 2, 100, 3)) == "logistic_regression"
    assert linear.algorithm_for(TaskContext("regression", 0, 100, 3)) == "linear_regression"
