"""bench/ingest.py end to end on a smaller file (slow: starts a real server)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.slow
def test_ingest_benchmark_runs_and_reports_its_figures() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "ingest.py"), "--rows", "50000"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
    figures = json.loads(out.stdout)
    assert figures["rows"] == 50000 and figures["cols"] == 20
    assert figures["ratio_vs_pyarrow"] > 0 and figures["server_peak_rss_mb"] > figures["file_mb"]
    assert figures["kinds"]["d0"] == "datetime" and figures["kinds"]["c5"] == "boolean"
