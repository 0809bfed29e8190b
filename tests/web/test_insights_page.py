"""The model page's insights section (issue 16, item 2): its chart containers and script on every model page, the
threshold controls only for binary models, the save button only for those who may deploy, the saved threshold
handed to the script."""
from __future__ import annotations

from html.parser import HTMLParser

import web_seed as seed
from fastapi.testclient import TestClient

from automl.db.models import TrainedModel

CHARTS = ("shap-summary", "partial-dependence", "calibration-curve", "lift-chart")


class HookIds(HTMLParser):
    """The attributes of each element with a data-testid, by that id."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: dict[str, list[tuple[str, dict[str, str | None]]]] = {}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("data-testid"):
            self.found.setdefault(str(found["data-testid"]), []).append((tag, found))

    def testid(self, name: str) -> list[tuple[str, dict[str, str | None]]]:
        return self.found.get(name, [])


def page(client: TestClient, path: str) -> tuple[str, HookIds]:
    resp = client.get(path)
    assert resp.status_code == 200, resp.text[:300]
    return resp.text, HookIds(resp.text)


def test_binary_model_page_has_the_insights_and_the_threshold(client: TestClient) -> None:
    db = client.app.state.db
    _, models = seed.experiment(db, seed.dataset(db))
    with db.session() as s:
        s.get(TrainedModel, models[0]).threshold = 0.35
    html, el = page(client, f"/models/{models[0]}")
    assert '<script src="/static/js/insights.js" defer></script>' in html
    for chart in CHARTS:
        assert el.testid(chart)
    (_, section), = el.testid("insights")
    assert section["data-model-id"] == str(models[0]) and section["data-threshold"] == "0.35"
    (tag, slider), = el.testid("threshold-slider")
    assert tag == "input" and slider["type"] == "range" and (slider["min"], slider["max"]) == ("1", "99")
    assert el.testid("threshold-save") and el.testid("cost-fp") and el.testid("cost-fn")
    assert client.get("/static/js/insights.js").status_code == 200


def test_no_threshold_controls_for_a_regression_model(client: TestClient) -> None:
    db = client.app.state.db
    _, models = seed.experiment(db, seed.dataset(db))
    with db.session() as s:
        s.get(TrainedModel, models[0]).experiment.problem_type = "regression"
    _, el = page(client, f"/models/{models[0]}")
    assert el.testid("lift-chart") and not el.testid("threshold-slider") and not el.testid("threshold-save")
