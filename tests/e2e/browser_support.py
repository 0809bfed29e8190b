"""Shared bits of the browser tests: where screenshots go and what the page must not do."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

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
