"""Batch scoring: upload, a job through the real queue, download; formulas neutralised; nothing orphaned."""
from __future__ import annotations

import io

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from serving_support import add_model, fitted, run_queued_jobs, table

from automl.config import Settings
from automl.db import Database
from automl.db.models import BatchPrediction, Job
from automl.ingest import read_table


@pytest.fixture(scope="module")
def classifier():
    return fitted("binary")


def upload(client: TestClient, model_id: int, name: str, content: bytes):
    return client.post(f"/api/v1/predict/{model_id}/batch", files={"file": (name, content)})


def leftover_files(settings: Settings) -> list[str]:
    return sorted(p.name for d in ("predictions", "uploads") for p in (settings.data_dir / d).glob("*"))


def test_batch_csv_end_to_end(client, settings, classifier):
    mid = add_model(settings, classifier, deployed_batch=True)
    df = table(300, seed=5).drop(columns=["label", "amount"])
    df.loc[0, "note"] = "@SUM(A1:A2)"
    df.loc[1, "note"] = "-1.5"
    df.loc[2, "note"] = "+cmd|' /C calc'!A0"
    df.loc[3, "x0"] = -1.5
    r = upload(client, mid, "to score.csv", df.to_csv(index=False).encode())
    assert r.status_code == 202, r.text
    batch = r.json()
    assert batch["status"] == "queued"
    assert client.get(f"/api/batch-predictions/{batch['id']}/download").status_code == 409

    run_queued_jobs(settings)
    status = client.get(f"/api/batch-predictions/{batch['id']}").json()
    assert status["status"] == "completed", status
    assert status["n_rows"] == 300 and status["model_id"] == mid and status["error"] is None

    r = client.get(f"/api/batch-predictions/{batch['id']}/download")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "score-predictions.csv" in r.headers["content-disposition"]
    out = pd.read_csv(io.BytesIO(r.content), keep_default_na=False, dtype=str)
    assert list(out.columns) == [*df.columns, "prediction", "proba_no", "proba_yes"]
    assert len(out) == 300
    assert not out["note"].str.startswith(("=", "+", "@")).any()
    assert out.loc[0, "note"] == "'@SUM(A1:A2)" and out.loc[2, "note"].startswith("'+")
    assert out.loc[1, "note"] == "-1.5" and float(out.loc[3, "x0"]) == -1.5  # numbers stay numbers
    assert list(out["prediction"]) == list(classifier.predict(df))
    proba = classifier.predict_proba(df)
    assert out["proba_yes"].astype(float).to_numpy() == pytest.approx(proba["yes"].to_numpy())
    # the input is gone once scored; only the output stays until the batch is deleted
    left = leftover_files(settings)
    assert len(left) == 1 and ".input" not in left[0]
    assert client.get(f"/api/models/{mid}").json()["n_predictions"] == 300
    listed = client.get(f"/api/models/{mid}/batch-predictions").json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == batch["id"]
    assert client.delete(f"/api/batch-predictions/{batch['id']}").status_code == 204
    assert leftover_files(settings) == []


def test_batch_parquet_and_excel(client, settings, classifier):
    mid = add_model(settings, classifier, deployed_batch=True)
    df = table(50, seed=7).drop(columns=["label", "amount"])
    pq_buf, xl_buf = io.BytesIO(), io.BytesIO()
    df.to_parquet(pq_buf, index=False)
    df.to_excel(xl_buf, index=False)
    ids = [upload(client, mid, "a.parquet", pq_buf.getvalue()).json()["id"],
           upload(client, mid, "b.xlsx", xl_buf.getvalue()).json()["id"]]
    run_queued_jobs(settings)
    for batch_id in ids:
        status = client.get(f"/api/batch-predictions/{batch_id}").json()
        assert status["status"] == "completed", status
        out = pd.read_csv(io.BytesIO(client.get(f"/api/batch-predictions/{batch_id}/download").content))
        assert list(out["prediction"]) == list(classifier.predict(df))


def test_regression_batch_has_no_proba_columns(client, settings):
    reg = fitted("regression")
    mid = add_model(settings, reg, deployed_batch=True)
    df = table(20).drop(columns=["label", "amount"])
    batch_id = upload(client, mid, "r.csv", df.to_csv(index=False).encode()).json()["id"]
    run_queued_jobs(settings)
    out = pd.read_csv(io.BytesIO(client.get(f"/api/batch-predictions/{batch_id}/download").content))
    assert [c for c in out.columns if c.startswith("proba_")] == []
    assert out["prediction"].to_numpy() == pytest.approx(reg.predict(df))


def test_text_in_a_numeric_column_is_predicted_as_missing(client, settings, classifier):
    mid = add_model(settings, classifier, deployed_batch=True)
    df = table(30).drop(columns=["label", "amount"])
    df["x1"] = df["x1"].astype(object)
    df.loc[25, "x1"] = "n/a"
    batch_id = upload(client, mid, "t.csv", df.to_csv(index=False).encode()).json()["id"]
    run_queued_jobs(settings)
    status = client.get(f"/api/batch-predictions/{batch_id}").json()
    assert status["status"] == "completed" and status["n_rows"] == 30, status


def test_403_when_not_deployed_for_batch_and_nothing_left_behind(client, settings, classifier):
    mid = add_model(settings, classifier, deployed_api=True)
    r = upload(client, mid, "a.csv", b"x0,x1,x2,x3,city\n1,2,3,4,north\n")
    assert r.status_code == 403
    assert upload(client, 98765, "a.csv", b"x0\n1\n").status_code == 404
    assert leftover_files(settings) == []


def test_bad_uploads_are_4xx_without_orphans(client, settings, classifier):
    mid = add_model(settings, classifier, deployed_batch=True)
    r = upload(client, mid, "a.csv", b"x0,x1,city\n1,2,north\n")
    assert r.status_code == 422 and "x2" in r.json()["detail"] and "x3" in r.json()["detail"]
    xl_buf = io.BytesIO()
    pd.DataFrame({"x0": [1.0], "city": ["north"]}).to_excel(xl_buf, index=False)
    r = upload(client, mid, "a.xlsx", xl_buf.getvalue())  # a workbook's header is checked up front too
    assert r.status_code == 422 and "x1" in r.json()["detail"]
    r = upload(client, mid, "a.parquet", b"PAR1 not really")
    assert r.status_code == 422 and "Parquet" in r.json()["detail"]
    assert upload(client, mid, "a.exe", b"MZ").status_code == 415
    assert upload(client, mid, "empty.csv", b"").status_code in (400, 422)
    r = client.post(f"/api/v1/predict/{mid}/batch", data={"nofile": "x"})
    assert r.status_code in (400, 415)
    assert leftover_files(settings) == []
    db = Database(settings.db_url)
    with db.session() as s:
        assert s.query(BatchPrediction).count() == 0 and s.query(Job).count() == 0
    db.dispose()
    assert client.get("/api/batch-predictions/5555").status_code == 404


def test_unreadable_file_fails_the_job_with_a_message(client, settings, classifier):
    mid = add_model(settings, classifier, deployed_batch=True)
    content = b"x0,x1,x2,x3,city\n1,2,3,4,north\n" + b"\"unterminated,1,2,3,4\n" * 3
    batch_id = upload(client, mid, "bad.csv", content).json()["id"]
    run_queued_jobs(settings)
    status = client.get(f"/api/batch-predictions/{batch_id}").json()
    assert status["status"] == "failed" and status["error"], status
    assert client.get(f"/api/batch-predictions/{batch_id}/download").status_code == 409
    assert leftover_files(settings) == []


def test_other_encodings_and_null_markers_are_read_as_ingest_reads_them(client, settings, classifier):
    mid = add_model(settings, classifier, deployed_batch=True)
    df = table(30, seed=9).drop(columns=["label", "amount"])
    df["note"] = "café"
    df["x2"] = df["x2"].astype(object)
    df.loc[4, "x2"] = "NA"
    batch_id = upload(client, mid, "latin.csv", df.to_csv(index=False).encode("latin-1")).json()["id"]
    run_queued_jobs(settings)
    status = client.get(f"/api/batch-predictions/{batch_id}").json()
    assert status["status"] == "completed" and status["n_rows"] == 30, status
    out = pd.read_csv(io.BytesIO(client.get(f"/api/batch-predictions/{batch_id}/download").content))
    assert out.loc[0, "note"] == "café"
    df["x2"] = pd.to_numeric(df["x2"], errors="coerce")
    assert list(out["prediction"]) == list(classifier.predict(df))


def test_a_file_scores_as_the_same_rows_sent_to_predict(client, settings, tmp_path):
    """Training upload and batch scoring read a file alike: ';' delimiter, decimal commas, thousand separators
    and 'NA' markers give the predictions of the same rows sent as JSON numbers."""
    reg = fitted("regression")
    mid = add_model(settings, reg, deployed_api=True, deployed_batch=True)
    df = table(40, seed=11).drop(columns=["label", "amount"])
    df["x2"] = df["x2"] * 1000  # thousands, written 1.234,5678
    df.loc[3, "city"] = None
    df.loc[5, "x1"] = None

    def european(v: float) -> str:
        return "NA" if pd.isna(v) else f"{v:,.4f}".replace(",", " ").replace(".", ",").replace(" ", ".")

    lines = [";".join(df.columns)]
    for row in df.itertuples(index=False):
        cells = [european(v) if isinstance(v, float) else ("NA" if v is None else v) for v in row]
        lines.append(";".join(cells))
    content = ("\n".join(lines) + "\n").encode()
    assert b"NA;" in content and any("." in c and "," in c for c in content.decode().split(";"))

    rows = [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in df.to_dict(orient="records")]
    r = client.post(f"/api/v1/predict/{mid}", json={"data": rows})
    assert r.status_code == 200, r.text
    expected = r.json()["predictions"]

    batch_id = upload(client, mid, "european.csv", content).json()["id"]
    run_queued_jobs(settings)
    status = client.get(f"/api/batch-predictions/{batch_id}").json()
    assert status["status"] == "completed" and status["n_rows"] == 40, status
    out = pd.read_csv(io.BytesIO(client.get(f"/api/batch-predictions/{batch_id}/download").content))
    assert out["prediction"].to_numpy() == pytest.approx(expected)
    assert out["x2"].to_numpy() == pytest.approx(df["x2"].to_numpy(), nan_ok=True)

    path = tmp_path / "european.csv"  # and the training upload reads the same numbers from the file
    path.write_bytes(content)
    uploaded = read_table(path, "european.csv").to_pandas()
    assert uploaded["x2"].to_numpy() == pytest.approx(df["x2"].to_numpy(), nan_ok=True)
    assert uploaded["city"].isna().sum() == 1
