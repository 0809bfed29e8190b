"""The honest leaderboard in a real browser: the form's holdout choice reaches the experiment, the CV column
shows mean ± sd, one row carries the simplest-within-1-SE badge, the accuracy-latency chart has a point per
model and a Pareto front, and an experiment without a holdout says its figures are out-of-fold."""
from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest
from browser_support import SHOTS
from sklearn.datasets import load_breast_cancer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def tid(page, name: str):
    return page.locator(f"[data-testid='{name}']")


def get_json(url: str) -> dict | list:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def start_from_form(page, server: str, dataset_url: str, *, holdout: str, budget: int) -> int:
    page.goto(dataset_url)
    tid(page, "target-select").select_option(value="target")
    tid(page, "holdout-select").select_option(value=holdout)
    tid(page, "time-budget-input").fill(str(budget))
    tid(page, "start-experiment").click()
    page.wait_for_url(re.compile(r"/experiments/\d+$"), timeout=30_000)
    exp_id = int(page.url.rsplit("/", 1)[1])
    page.wait_for_function(
        "() => document.querySelector(\"[data-testid='experiment-status']\").textContent.trim() === 'completed'",
        timeout=120_000)
    tid(page, "pareto-chart").locator("svg").wait_for(timeout=10_000)
    return exp_id


def front_ids(board: list[dict]) -> set[int]:
    """Best CV first: a model is on the front when it is cheaper to serve than every better one."""
    kept: list[dict] = []
    for row in board:
        if not kept or row["predict_ms_per_row"] < kept[-1]["predict_ms_per_row"]:
            kept.append(row)
    return {row["model_id"] for row in kept}


def test_holdout_choice_badge_and_pareto_chart(browser_page, server: str, tmp_path: Path) -> None:
    page, watch = browser_page
    path = tmp_path / "breast_cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(path, index=False)
    page.goto(server + "/")
    tid(page, "upload-input").set_input_files(str(path))
    tid(page, "upload-submit").click()
    tid(page, "dataset-profile").wait_for(timeout=30_000)
    dataset_url = page.url

    exp_id = start_from_form(page, server, dataset_url, holdout="0.3", budget=10)
    exp = get_json(f"{server}/api/experiments/{exp_id}")
    assert (exp["summary"]["holdout_choice"], exp["summary"]["holdout"], exp["summary"]["evaluation"]) == (
        0.3, 0.3, "holdout")
    board = exp["leaderboard"]
    assert len(board) >= 2
    assert tid(page, "evaluation-note").inner_text().strip() == "holdout: 30 % of the rows"

    rows = tid(page, "leaderboard-row")
    assert rows.count() == len(board)
    cv_cells = tid(page, "cv-score")
    assert all("±" in cv_cells.nth(i).inner_text() for i in range(len(board)))
    badge = tid(page, "simplest-badge")
    assert badge.count() == 1
    simplest = next(r["model_id"] for r in board if r["simplest"])
    badge_row = page.locator("[data-testid='leaderboard-row']", has=badge)
    assert badge_row.get_attribute("data-model-id") == str(simplest)

    chart = tid(page, "pareto-chart").locator("svg")
    points = chart.locator("[data-testid='pareto-point']")
    assert points.count() == len(board)  # a point per model
    assert {points.nth(i).get_attribute("data-model-id") for i in range(points.count())} == {
        str(r["model_id"]) for r in board}
    on_front = {int(points.nth(i).get_attribute("data-model-id")) for i in range(points.count())
                if points.nth(i).get_attribute("data-front") == "true"}
    assert on_front == front_ids(board)
    line = chart.locator("[data-testid='pareto-front']").get_attribute("points").split()
    assert len(line) == len(on_front) >= 1
    page.screenshot(path=str(SHOTS / "leaderboard-pareto.png"), full_page=True)

    exp_id = start_from_form(page, server, dataset_url, holdout="none", budget=6)
    exp = get_json(f"{server}/api/experiments/{exp_id}")
    assert (exp["summary"]["holdout_choice"], exp["summary"]["evaluation"]) == ("none", "out_of_fold")
    assert "out-of-fold (no holdout)" in tid(page, "evaluation-note").inner_text()
    assert "Out-of-fold roc_auc" in tid(page, "leaderboard").locator("thead").text_content()
    assert tid(page, "simplest-badge").count() == 1
    watch.assert_clean()
