"""Shared bits of the browser tests: where screenshots go and what the page must not do."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
LOCAL = re.compile(r"^(https?://127\.0\.0\.1[:/]|data:|blob:|about:)")


@dataclass
class Watch:
    """What the browser did that it should not have: console errors and requests leaving 127.0.0.1."""

    console: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert not self.console, self.console[:5]
        assert not self.outside, self.outside[:5]


def train_and_deploy(server: str, df: pd.DataFrame, *, name: str, target: str, budget_s: float = 5) -> dict[str, Any]:
    """Upload `df`, train it through the server's worker, deploy the best model for the API; the experiment."""
    with httpx.Client(base_url=server, timeout=60) as http:
        up = http.post("/api/datasets/upload", files={"file": (f"{name}.csv", df.to_csv(index=False).encode())})
        assert up.status_code == 201, up.text
        r = http.post("/api/experiments", json={"name": name, "dataset_id": up.json()["id"],
                                                "target_column": target, "time_budget_s": budget_s})
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 180
        while (exp := http.get(f"/api/experiments/{r.json()['id']}").json())["status"] not in ("completed", "failed"):
            assert time.monotonic() < deadline, exp["status"]
            time.sleep(1)
        assert exp["status"] == "completed", exp.get("error")
        best = exp["summary"]["best_model_id"]
        assert http.post(f"/api/models/{best}/deploy", json={"api": True}).status_code == 200
    return exp
