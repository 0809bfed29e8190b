"""Model insights (issue 16, item 2): partial dependence, calibration, lift/gain, the threshold table, on fitted
models of each problem type; every figure checked against a direct computation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from automl.engine import EngineError, FittedModel
from automl.engine import insights as ins

KINDS = {"x": "numeric", "noise": "numeric", "city": "categorical"}


def _pre(numeric: list[str], categorical: list[str]) -> ColumnTransformer:
    parts = [("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric)]
    if categorical:
        parts.append(("cat", OneHotEncoder(handle_unknown="ignore"), categorical))
    return ColumnTransformer(parts)


def _frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x": rng.normal(size=n), "noise": rng.normal(size=n),
                      "city": rng.choice(["north", "south", "east"], n)})
    logit = 2 * X["x"] + (X["city"] == "south") * 1.5
    y = np.where(logit + rng.logistic(size=n) > 0, "yes", "no")
    return X, y


def _model(problem_type: str, classes: np.ndarray | None, kinds: dict[str, str], pipe) -> FittedModel:
    return FittedModel(algorithm="t", problem_type=problem_type, classes=classes, kinds=kinds,
                       input_schema=[{"name": c, "kind": k} for c, k in kinds.items()], members=[(pipe, 1.0)])


@pytest.fixture(scope="module")
def binary() -> FittedModel:
    X, y = _frame(800, 0)
    pipe = make_pipeline(_pre(["x", "noise"], ["city"]), LogisticRegression()).fit(X, (y == "yes").astype(int))
    return _model("binary", np.array(["no", "yes"], dtype=object), KINDS, pipe)


@pytest.fixture(scope="module")
def holdout() -> tuple[pd.DataFrame, np.ndarray]:
    return _frame(600, 1)


def test_binary_insights_shapes_and_sources(binary, holdout) -> None:
    X, y = holdout
    out = ins.compute_insights(binary, X, y, importance=[{"feature": "x"}, {"feature": "city"}])
    assert out["n_rows"] == 600 and out["outputs"] == ["yes"] and out["positive_class"] == "yes"
    assert [p["feature"] for p in out["partial_dependence"]] == ["x", "city", "noise"]  # ranked ones, then the rest
    assert out["thresholds"] is not None and out["lift"] is not None and out["calibration"] is not None


def test_partial_dependence_follows_the_model(binary, holdout) -> None:
    X, _ = holdout
    pd_x, pd_city = ins.partial_dependence(binary, X, features=["x", "city"])
    assert pd_x["kind"] == "numeric" and 2 < len(pd_x["grid"]) <= ins.PD_GRID
    assert pd_x["grid"] == sorted(pd_x["grid"]) and pd_x["grid"][0] == pytest.approx(X["x"].min(), abs=1e-6)
    curve = np.array(pd_x["average"]["yes"])
    assert np.all(np.diff(curve) > 0)  # a positive coefficient: P(yes) rises with x
    # the average over the sampled rows with x set to the grid value, computed directly
    sample = X.sample(ins.PD_ROWS, random_state=0).reset_index(drop=True)
    at = sample.assign(x=pd_x["grid"][3])
    assert curve[3] == pytest.approx(binary.predict_proba(at)["yes"].mean(), abs=1e-6)
    assert pd_city["kind"] == "categorical" and set(pd_city["grid"]) == {"north", "south", "east"}
    by_city = dict(zip(pd_city["grid"], pd_city["average"]["yes"], strict=True))
    assert by_city["south"] > by_city["north"] + 0.1


def test_calibration_bins_count_every_row(binary, holdout) -> None:
    X, y = holdout
    p = binary.predict_proba(X)["yes"].to_numpy()
    cal = ins.calibration(binary, binary.predict_proba(X).to_numpy(), (y == "yes").astype(int))
    assert sum(b["count"] for b in cal["bins"]) == len(X)
    for b in cal["bins"]:
        assert b["lower"] <= b["predicted"] <= b["upper"]
        inside = (p >= b["lower"]) & ((p < b["upper"]) | (b["upper"] == 1.0))
        assert b["observed"] == pytest.approx((y[inside] == "yes").mean(), abs=1e-6)
    assert cal["brier"] == pytest.approx(skm.brier_score_loss(y == "yes", p), abs=1e-6)


def test_threshold_table_matches_sklearn(binary, holdout) -> None:
    X, y = holdout
    p = binary.predict_proba(X)["yes"].to_numpy()
    table = ins.threshold_table(p, (y == "yes").astype(int))
    assert table["threshold"][0] == 0.01 and table["threshold"][-1] == 0.99 and len(table["threshold"]) == 99
    for t in (0.1, 0.3, 0.5, 0.8):
        i = table["threshold"].index(t)
        pred = p >= t
        tn, fp, fn, tp = skm.confusion_matrix(y == "yes", pred).ravel()
        assert (table["tp"][i], table["fp"][i], table["fn"][i], table["tn"][i]) == (tp, fp, fn, tn)
        assert table["precision"][i] == pytest.approx(skm.precision_score(y == "yes", pred), abs=1e-6)
        assert table["recall"][i] == pytest.approx(skm.recall_score(y == "yes", pred), abs=1e-6)
        assert table["f1"][i] == pytest.approx(skm.f1_score(y == "yes", pred), abs=1e-6)
        assert table["accuracy"][i] == pytest.approx(skm.accuracy_score(y == "yes", pred), abs=1e-6)
        assert table["positive_rate"][i] == pytest.approx(pred.mean(), abs=1e-6)
    assert np.all(np.diff(table["recall"]) <= 0)


def test_precision_is_null_where_nothing_is_predicted_positive() -> None:
    table = ins.threshold_table(np.array([0.2, 0.3, 0.4]), np.array([0, 1, 1]))
    assert table["precision"][-1] is None and table["tp"][-1] == 0 and table["f1"][-1] == 0.0
    assert table["precision"][0] == pytest.approx(2 / 3)


def test_lift_and_gain_binary(binary, holdout) -> None:
    X, y = holdout
    p = binary.predict_proba(X)["yes"].to_numpy()
    out = ins.lift(p, (y == "yes").astype(int), binary=True)
    first, last = out["steps"][0], out["steps"][-1]
    assert len(out["steps"]) == ins.LIFT_STEPS and last["share"] == 1.0
    assert last["gain"] == pytest.approx(1.0) and last["lift"] == pytest.approx(1.0)
    top = np.argsort(-p)[:first["rows"]]
    assert first["gain"] == pytest.approx((y[top] == "yes").sum() / (y == "yes").sum(), abs=1e-6)
    assert first["lift"] > 1.5  # a good model's top 5 % is mostly positives
    assert all(a["gain"] <= b["gain"] for a, b in zip(out["steps"], out["steps"][1:], strict=False))


def test_multiclass_calibrates_the_top_class(iris: pd.DataFrame) -> None:
    cols = [c for c in iris.columns if c != "target"]
    kinds = dict.fromkeys(cols, "numeric")
    classes = np.array(sorted(iris["target"].unique()), dtype=object)
    codes = pd.Index(classes).get_indexer(iris["target"])
    pipe = make_pipeline(_pre(cols, []), LogisticRegression(max_iter=500)).fit(iris[cols], codes)
    model = _model("multiclass", classes, kinds, pipe)
    out = ins.compute_insights(model, iris[cols], iris["target"], importance=[])
    assert out["outputs"] == list(classes) and out["positive_class"] is None
    assert out["thresholds"] is None and out["lift"] is None
    assert out["calibration"]["on"] == "top class"
    assert sum(b["count"] for b in out["calibration"]["bins"]) == 150
    pd0 = out["partial_dependence"][0]
    assert set(pd0["average"]) == set(classes)
    sums = np.sum([pd0["average"][c] for c in classes], axis=0)
    assert np.allclose(sums, 1.0, atol=1e-6)  # averaged probabilities still sum to 1


def test_regression_lift_by_predicted_value(diabetes: pd.DataFrame) -> None:
    cols = [c for c in diabetes.columns if c != "target"]
    pipe = make_pipeline(_pre(cols, []), Ridge()).fit(diabetes[cols], diabetes["target"])
    model = _model("regression", None, dict.fromkeys(cols, "numeric"), pipe)
    out = ins.compute_insights(model, diabetes[cols], diabetes["target"], importance=[{"feature": "bmi"}])
    assert out["calibration"] is None and out["thresholds"] is None and out["outputs"] == ["prediction"]
    assert out["partial_dependence"][0]["feature"] == "bmi"
    steps = out["lift"]["steps"]
    assert out["lift"]["overall_mean"] == pytest.approx(diabetes["target"].mean(), abs=1e-4)
    assert steps[0]["actual_mean"] > steps[-1]["actual_mean"]  # the highest predictions have the highest targets
    assert steps[-1]["gain"] == pytest.approx(1.0)


def test_rows_without_a_known_target_are_left_out(binary, holdout) -> None:
    X, y = holdout
    y = y.astype(object)
    y[:10], y[10:15] = None, "maybe"
    out = ins.compute_insights(binary, X, y, importance=[])
    assert out["n_rows"] == 585
    with pytest.raises(EngineError, match="no evaluation row"):
        ins.compute_insights(binary, X.iloc[:3], [None, None, "maybe"], importance=[])


def test_shap_summary_ranks_columns_by_mean_absolute_contribution(binary, holdout) -> None:
    X, _ = holdout
    out = ins.shap_summary(binary, X)
    assert out is not None and out["explained"] == "P(yes)" and out["n_rows"] == ins.SHAP_ROWS
    cols = {c["feature"]: c for c in out["columns"]}
    assert set(cols) == set(KINDS) and out["columns"][0]["feature"] == "x"  # the strongest effect
    assert [c["mean_abs"] for c in out["columns"]] == sorted((c["mean_abs"] for c in out["columns"]), reverse=True)
    assert all(len(c["points"]) == ins.SHAP_POINTS for c in out["columns"])
    # the points are (value, contribution) of one sampled row: for x, contributions rise with its value
    xs, contrib = np.array(cols["x"]["points"], dtype=float).T
    assert np.corrcoef(xs, contrib)[0, 1] > 0.95
    assert {v for v, _ in cols["city"]["points"]} <= {"north", "south", "east"}
    # the summary is of the model's own explanations: its mean |value| per column, over the same rows
    rows = X.sample(ins.SHAP_ROWS, random_state=0).reset_index(drop=True)
    exp = binary.explain(rows, classes=["yes"] * len(rows))
    j = exp.columns.index("noise")
    assert cols["noise"]["mean_abs"] == pytest.approx(np.abs(exp.values[:, j]).mean(), abs=1e-6)
    assert cols["noise"]["mean_abs"] < cols["x"]["mean_abs"] / 5


def test_shap_summary_for_regression(diabetes: pd.DataFrame) -> None:
    cols = [c for c in diabetes.columns if c != "target"]
    pipe = make_pipeline(_pre(cols, []), Ridge()).fit(diabetes[cols], diabetes["target"])
    model = _model("regression", None, dict.fromkeys(cols, "numeric"), pipe)
    out = ins.compute_insights(model, diabetes[cols], diabetes["target"], importance=[])["shap"]
    assert out["explained"] == "prediction" and out["space"] == "prediction" and out["n_rows"] == len(diabetes)
    assert out["base"] == pytest.approx(float(model.predict(diabetes[cols]).mean()), rel=0.05)


def test_numeric_classes_name_their_outputs_as_text(breast_cancer: pd.DataFrame) -> None:
    cols = list(breast_cancer.columns[:5])
    pipe = make_pipeline(_pre(cols, []), LogisticRegression(max_iter=500)).fit(breast_cancer[cols],
                                                                                breast_cancer["target"])
    model = _model("binary", np.array([0, 1]), dict.fromkeys(cols, "numeric"), pipe)
    out = ins.compute_insights(model, breast_cancer[cols], breast_cancer["target"].to_numpy(), importance=[])
    assert out["outputs"] == ["1"] and out["positive_class"] == 1 and type(out["positive_class"]) is int
    assert list(out["partial_dependence"][0]["average"]) == ["1"]
    # targets read back as text (a CSV column of 0/1 read as strings) still match the classes
    as_text = ins.compute_insights(model, breast_cancer[cols], breast_cancer["target"].astype(str), importance=[])
    assert as_text["n_rows"] == len(breast_cancer) and as_text["thresholds"] == out["thresholds"]
