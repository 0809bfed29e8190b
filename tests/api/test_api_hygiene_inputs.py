"""Issue 13, row 11 (the parts of the API): strict booleans, infinite numbers refused, an id-like target
refused unless asked for, and no server paths in error messages."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from serving_support import add_model, fitted, rows

from automl.api.errors import without_paths
from automl.config import Settings

HEADERS = {"Content-Type": "application/json"}


@pytest.fixture
def served(client: TestClient, settings: Settings) -> int:
    mid = add_model(settings, fitted())
    assert client.post(f"/api/models/{mid}/deploy", json={"api": True}).status_code == 200
    return mid


@pytest.mark.parametrize("flag", ["no", "false", 0, 1, None, [], {}])
def test_return_probabilities_is_strictly_boolean(client: TestClient, served: int, flag: object) -> None:
    r = client.post(f"/api/v1/predict/{served}", json={"data": rows(1), "return_probabilities": flag})
    assert r.status_code == 422, r.text
    assert "return_probabilities" in r.text


def test_return_probabilities_true_and_false_still_work(client: TestClient, served: int) -> None:
    on = client.post(f"/api/v1/predict/{served}", json={"data": rows(1), "return_probabilities": True}).json()
    off = client.post(f"/api/v1/predict/{served}", json={"data": rows(1), "return_probabilities": False}).json()
    assert "probabilities" in on and "probabilities" not in off


@pytest.mark.parametrize(("path", "body"), [
    ("/api/models/{mid}/deploy", {"api": "no"}), ("/api/models/{mid}/deploy", {"batch": 1}),
    ("/api/models/{mid}/undeploy", {"api": "false"}), ("/api/users/1", {"disabled": "yes"}),
])
def test_booleans_in_bodies_are_strict(client: TestClient, served: int, path: str, body: dict[str, object]) -> None:
    r = client.request("PATCH" if "users" in path else "POST", path.format(mid=served), json=body)
    assert r.status_code == 422, r.text
    assert client.get(f"/api/models/{served}").json()["deployed_api"] is True  # "no" did not undeploy, nor deploy


@pytest.mark.parametrize("value", ['"inf"', '"-Infinity"', '" +INF "', '"1e999"', '"Infinity"'])
def test_infinite_numbers_are_refused_naming_the_column(client: TestClient, served: int, value: str) -> None:
    row = '{"x0": %s, "x1": 0.5, "x2": 0.1, "x3": 1, "city": "north"}'
    r = client.post(f"/api/v1/predict/{served}", content='{"data": [' + row.replace("%s", value) + "]}",
                    headers=HEADERS)
    assert r.status_code == 422, r.text
    problems = r.json()["detail"]
    assert problems[0]["column"] == "x0" and "expected a number" in problems[0]["msg"]


def test_numbers_too_big_for_a_float_are_422(client: TestClient, served: int) -> None:
    for number in ("1e999", "-1e400"):
        body = '{"data": [{"x0": ' + number + ', "x1": 0.5, "x2": 0.1, "x3": 1, "city": "north"}]}'
        assert client.post(f"/api/v1/predict/{served}", content=body, headers=HEADERS).status_code == 422


@pytest.mark.parametrize("value", [None, "NaN", "nan", "", "1e3", " 2.5 "])
def test_missing_and_finite_numbers_still_score(client: TestClient, served: int, value: object) -> None:
    row = {**rows(1)[0], "x0": value}
    r = client.post(f"/api/v1/predict/{served}", json={"data": [row]})
    assert r.status_code == 200, r.text


def _upload_with_an_id(client: TestClient) -> int:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"row_id": np.arange(1000, 1200), "x": rng.normal(size=200), "y": rng.normal(size=200)})
    r = client.post("/api/datasets/upload", files={"file": ("ids.csv", df.to_csv(index=False).encode(), "text/csv")})
    assert r.status_code == 201, r.text
    kinds = {c["name"]: c["kind"] for c in r.json()["columns"]}
    assert kinds["row_id"] == "id", kinds
    return int(r.json()["id"])


def test_an_id_target_is_refused_unless_the_request_overrides_it(client: TestClient) -> None:
    ds = _upload_with_an_id(client)
    r = client.post("/api/experiments", json={"dataset_id": ds, "target_column": "row_id", "time_budget_s": 5})
    assert r.status_code == 422 and "allow_id_target" in r.json()["detail"], r.text
    r = client.post("/api/experiments", json={"dataset_id": ds, "target_column": "row_id", "time_budget_s": 5,
                                              "allow_id_target": "yes"})
    assert r.status_code == 422, r.text  # strictly boolean too
    r = client.post("/api/experiments", json={"dataset_id": ds, "target_column": "row_id", "time_budget_s": 5,
                                              "allow_id_target": True})
    assert r.status_code == 202, r.text
    summary = client.get(f"/api/experiments/{r.json()['id']}").json()["summary"]
    assert any("row_id" in w and "id" in w for w in summary["warnings"]), summary
    r = client.post("/api/experiments", json={"dataset_id": ds, "target_column": "y", "time_budget_s": 5})
    assert r.status_code == 202, r.text  # an ordinary target: no change


def test_a_dataset_whose_file_is_gone_is_a_clear_409_without_the_path(client: TestClient, settings: Settings) -> None:
    ds = _upload_with_an_id(client)
    for f in settings.datasets_dir.rglob("*"):
        if f.is_file():
            f.write_bytes(b"not parquet") if f.name.startswith("a") else f.unlink()
    r = client.post("/api/experiments", json={"dataset_id": ds, "target_column": "y", "time_budget_s": 5})
    assert r.status_code == 409, r.text
    assert str(settings.data_dir.resolve()) not in r.text and "/" not in r.json()["detail"]


def test_server_paths_are_cut_to_their_file_name(settings: Settings) -> None:
    data = str(settings.data_dir.resolve())
    text = f"could not open '{data}/datasets/ab/abc.parquet': no such file; see /api/datasets/upload"
    assert without_paths(text, str(settings.data_dir)) == \
        "could not open 'abc.parquet': no such file; see /api/datasets/upload"
    assert without_paths({"msg": [f"{data}/x.csv"]}, data) == {"msg": ["x.csv"]}
    assert without_paths("/rooted/thing and /tmpfoo stay", data) == "/rooted/thing and /tmpfoo stay"


def test_no_server_path_reaches_a_client_through_an_error(client: TestClient, settings: Settings) -> None:
    """A domain error carrying a path (as a reader's message would) is cut at the one place errors leave."""
    from automl.errors import BadInput

    @client.app.get("/api/__boom")  # type: ignore[attr-defined]
    def boom() -> None:
        raise BadInput(f"cannot read {settings.data_dir.resolve()}/uploads/tmp123.part: damaged")

    r = client.get("/api/__boom")
    assert r.status_code == 400 and r.json()["detail"] == "cannot read tmp123.part: damaged"
    assert io.StringIO(r.text).read().count("/") == 0
