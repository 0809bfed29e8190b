"""A real `automl serve` on a free port and Debian's Chromium driven by Playwright (skipped when absent)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import CHROMIUM, LOCAL, SHOTS, Watch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`automl serve --workers 1` in its own data dir, like a user starts it; the whole group stops afterwards."""
    tmp = tmp_path_factory.mktemp("server")
    port = free_port()
    env = {**os.environ, "AUTOML_DATA_DIR": str(tmp / "data"), "AUTOML_LOG_LEVEL": "WARNING"}
    env.pop("AUTOML_DATABASE_URL", None)
    cli = Path(sys.executable).parent / "automl"
    log = open(tmp / "serve.log", "wb")  # noqa: SIM115 (closed below, after the process)
    proc = subprocess.Popen([str(cli), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail("server exited: " + (tmp / "serve.log").read_text(errors="replace")[-2000:])
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("server did not answer /healthz within 120 s")
            time.sleep(0.3)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()
        print("--- serve.log (tail) ---\n" + (tmp / "serve.log").read_text(errors="replace")[-3000:])


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed  # the page fixture screenshots a failure before closing the browser
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture
def browser_page(server: str, request: pytest.FixtureRequest) -> Iterator[tuple[object, Watch]]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    watch = Watch()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.on("console", lambda m: watch.console.append(f"{m.text} {m.location}") if m.type == "error" else None)
        page.on("pageerror", lambda e: watch.console.append(str(e)))
        page.on("request", lambda r: None if LOCAL.match(r.url) else watch.outside.append(r.url))
        try:
            yield page, watch
            if request.node.stash.get(FAILED, False):
                page.screenshot(path=str(SHOTS / f"failure-{request.node.name}.png"), full_page=True)
                print("failed at", page.url, "console:", watch.console[:5])
        finally:
            browser.close()
