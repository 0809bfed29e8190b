"""The server-rendered pages: contract test ids, live fragments, and user text escaped everywhere."""
from __future__ import annotations

from html import unescape
from html.parser import HTMLParser

import pytest
import web_seed as seed
from fastapi.testclient import TestClient


class Elements(HTMLParser):
    """Every start tag as (tag, attrs); enough to find the contract's data-testid hooks."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def testid(self, name: str) -> list[tuple[str, dict[str, str | None]]]:
        return [(t, a) for t, a in self.tags if a.get("data-testid") == name]

    def named(self, name: str) -> list[tuple[str, dict[str, str | None]]]:
        return [(t, a) for t, a in self.tags if a.get("name") == name]


def page(client: TestClient, path: str) -> tuple[str, Elements]:
    resp = client.get(path)
    assert resp.status_code == 200, resp.text[:300]
    assert resp.headers["content-type"].startswith("text/html")
    return resp.text, Elements(resp.text)


@pytest.fixture
def db(client: TestClient):
    return client.app.state.db


def test_home_has_upload_form_and_lists(client: TestClient, db) -> None:
    ds = seed.dataset(db)
    exp, models = seed.experiment(db, ds)
    html, el = page(client, "/")
    (tag, attrs), = el.testid("upload-input")
    assert tag == "input" and attrs["type"] == "file"
    assert el.testid("upload-submit")
    assert f'href="/datasets/{ds}"' in html and f'href="/experiments/{exp}"' in html
    assert ">completed<" in html


def test_dataset_page_profile_and_experiment_form(client: TestClient, db) -> None:
    ds = seed.dataset(db)
    html, el = page(client, f"/datasets/{ds}")
    assert el.testid("dataset-profile")[0][0] == "table"
    (tag, _), = el.testid("target-select")
    assert tag == "select"
    options = [a["value"] for t, a in el.tags if t == "option" and "data-hint" in a]
    assert options == ["x0", "city", "label"]
    assert el.testid("time-budget-input")[0][1]["type"] == "number"
    (_, start), = el.testid("start-experiment")
    assert start["type"] == "submit"
    assert "disabled" in start and "data-needs-js" in start  # enabled by dataset.js once its handler is bound
    assert 'value="label" data-hint="binary"' in html  # the last usable column is preselected
    assert f"/api/datasets/{ds}/preview" in html


def test_user_text_is_escaped_everywhere(client: TestClient, db) -> None:
    ds = seed.dataset(db, hostile=True)
    exp, models = seed.experiment(db, ds, hostile=True)
    for path in ("/", f"/datasets/{ds}", f"/experiments/{exp}", f"/experiments/{exp}/live", f"/models/{models[0]}"):
        html = client.get(path).text
        assert seed.XSS_COLUMN not in html, path
        assert "<img src=x" not in html, path
        assert "<b>ss<i>" not in html, path
    html, el = page(client, f"/datasets/{ds}")
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html
    assert [a["value"] for t, a in el.tags if t == "option" and "data-hint" in a][1] == seed.XSS_COLUMN
    html, el = page(client, f"/models/{models[0]}")
    (tag, attrs), = el.named(seed.XSS_COLUMN)  # the form field is named after the hostile column, escaped
    assert tag == "select"
    assert "\\u003cscript\\u003e" in html  # the JSON for the charts cannot close its <script> element


def test_experiment_page_leaderboard_and_live_fragment(client: TestClient, db) -> None:
    ds = seed.dataset(db)
    exp, models = seed.experiment(db, ds, status="running", n_models=2)
    html, el = page(client, f"/experiments/{exp}")
    (_, status), = el.testid("experiment-status")
    assert ">running<" in html
    assert el.testid("leaderboard")[0][0] == "table"
    rows = el.testid("leaderboard-row")
    assert [r[1]["data-model-id"] for r in rows] == [str(m) for m in models]  # best CV score first
    assert len(el.testid("deploy-button")) == 2
    first_link = next(a for t, a in el.tags if t == "a" and (a.get("href") or "").startswith("/models/"))
    assert first_link["href"] == f"/models/{models[0]}"
    live = next(a for t, a in el.tags if a.get("id") == "experiment-live")
    assert "every 1s" in live["hx-trigger"]

    with db.session() as s:
        from automl.db.models import Experiment

        s.get(Experiment, exp).status = "completed"
    html, el = page(client, f"/experiments/{exp}/live")
    live = next(a for t, a in el.tags if a.get("id") == "experiment-live")
    assert "every" not in live["hx-trigger"]  # polling stops once the run is over
    assert all("disabled" not in a for _, a in el.testid("deploy-button"))  # htmx fetched it: the script runs
    assert ">completed<" in html


def test_model_page_form_batch_and_examples(client: TestClient, db) -> None:
    ds = seed.dataset(db)
    _, models = seed.experiment(db, ds)
    seed.batch(db, models[0], status="completed", name="old.csv")
    newest = seed.batch(db, models[0], status="queued", name="new.csv")
    html, el = page(client, f"/models/{models[0]}")
    assert el.testid("predict-form")[0][0] == "form"
    assert el.named("x0")[0][0] == "input" and el.named("city")[0][0] == "select"
    assert [a["value"] for t, a in el.tags if t == "option"][:3] == ["", "north", "south"]
    assert el.testid("predict-submit") and el.testid("prediction-result")
    assert el.testid("batch-input")[0][1]["type"] == "file" and el.testid("batch-submit")
    assert not el.testid("batch-download")  # the newest job is still queued
    assert f"/api/v1/predict/{models[0]}" in html and "import requests" in html
    batches = client.get(f"/models/{models[0]}/batches").text
    assert f'data-batch-id="{newest}"' in batches and "every 1s" in batches

    with db.session() as s:
        from automl.db.models import BatchPrediction

        s.get(BatchPrediction, newest).status = "completed"
    el = Elements(client.get(f"/models/{models[0]}/batches").text)
    (_, link), = el.testid("batch-download")
    assert link["href"] == f"/api/batch-predictions/{newest}/download"


def test_prediction_form_prefills_a_missing_sample_as_an_empty_field(client: TestClient, db) -> None:
    from automl.db.models import TrainedModel

    ds = seed.dataset(db, x0_missing=True)  # x0 has no value in the data: its profile has no sample
    _, models = seed.experiment(db, ds)
    with db.session() as s:  # categories as an older engine wrote them, missing turned into the text "nan";
        model = s.get(TrainedModel, models[0])  # and a boolean input that the dataset's profile does not know
        schema = [dict(c) for c in model.input_schema]
        schema[1]["categories"] = ["nan", "north", "None", "south"]
        schema.append({"name": "flag", "kind": "boolean", "dtype": "bool", "categories": None, "required": True})
        model.input_schema = schema
    html, el = page(client, f"/models/{models[0]}")
    (tag, x0), = el.named("x0")
    assert tag == "input" and x0["value"] == ""
    options = [(a["value"], "selected" in a) for t, a in el.tags if t == "option"]
    assert options == [("", False), ("north", True), ("south", False),  # city: no "nan" or "None" offered
                       ("", True), ("true", False), ("false", False)]  # flag: no known value, so "(missing)"
    form = html[html.index('data-testid="predict-form"'):html.index('data-testid="predict-submit"')]
    examples = unescape(html[html.index('data-testid="code-curl"'):])
    for marker in ("nan", "None", "null"):
        assert f'value="{marker}"' not in form and f">{marker}<" not in form
    assert '"x0": null' in examples and "'x0': None" in examples  # JSON in curl, Python in the Python tab
    assert "nan" not in examples.lower()


def test_missing_things_get_a_404_page(client: TestClient) -> None:
    for path in ("/datasets/999", "/experiments/999", "/models/999"):
        resp = client.get(path)
        assert resp.status_code == 404 and "Not found" in resp.text
    assert client.get("/experiments/999/live").status_code == 404


def test_assets_are_served_locally(client: TestClient) -> None:
    plotly = client.get("/assets/plotly.min.js")
    assert plotly.status_code == 200 and "plotly" in plotly.text[:500].lower()
    assert client.get("/favicon.ico").status_code == 200
    html = client.get("/").text
    for asset in ("/static/vendor/bootstrap.min.css", "/static/vendor/bootstrap.bundle.min.js",
                  "/static/vendor/htmx.min.js", "/static/js/app.js"):
        assert asset in html and client.get(asset).status_code == 200
    assert "http://" not in html.replace(str(client.base_url), "") and "https://" not in html


CONTRACT_TESTIDS = (
    "upload-input", "upload-submit", "dataset-profile", "target-select", "time-budget-input", "start-experiment",
    "experiment-status", "leaderboard", "leaderboard-row", "deploy-button", "predict-form", "predict-submit",
    "prediction-result", "batch-input", "batch-submit", "batch-download",
)


def test_every_contract_testid_is_in_a_template() -> None:
    from automl.web.templating import TEMPLATES_DIR

    text = "".join(p.read_text() for p in TEMPLATES_DIR.rglob("*.html"))
    assert [t for t in CONTRACT_TESTIDS if f'data-testid="{t}"' not in text] == []


def test_every_page_route_is_documented() -> None:
    import re
    from pathlib import Path

    from automl.web.pages import open_router, router

    doc = (Path(__file__).parents[2] / "docs" / "ui.md").read_text()
    paths = {re.sub(r"\{\w+\}", "{id}", r.path) for r in [*router.routes, *open_router.routes]}
    assert sorted(p for p in paths if f"`{p}" not in doc) == []
