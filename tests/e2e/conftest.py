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
from contextlib import contextmanager
from pathlib import Path

import pytest
from browser_support import CHROMIUM, LOCAL, SHOTS, Watch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(tmp: Path, **env_extra: str) -> Iterator[tuple[str, Path]]:
    """`automl serve --workers 1` in its own data dir, like a user starts it; the whole group stops afterwards.
    Yields the base URL and the log (stdout and stderr: where `serve` prints the first-admin link)."""
    port = free_port()
    env = {**os.environ, "AUTOML_DATA_DIR": str(tmp / "data"), "AUTOML_LOG_LEVEL": "WARNING", **env_extra}
    env.pop("AUTOML_DATABASE_URL", None)
    cli = Path(sys.executable).parent / "automl"
    log_path = tmp / "serve.log"
    log = open(log_path, "wb")  # noqa: SIM115 (closed below, after the process)
    proc = subprocess.Popen([str(cli), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, base, log_path)
        yield base, log_path
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()
        print("--- serve.log (tail) ---\n" + log_path.read_text(errors="replace")[-3000:])


def wait_healthy(proc: subprocess.Popen[bytes], base: str, log_path: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            pytest.fail("server exited: " + log_path.read_text(errors="replace")[-2000:])
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail("server did not answer /healthz within 120 s")
        time.sleep(0.3)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Accounts off: the loopback default."""
    with running_server(tmp_path_factory.mktemp("server")) as (base, _):
        yield base


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """Accounts on, no user yet: the log holds the first-admin setup link."""
    with running_server(tmp_path_factory.mktemp("auth-server"), AUTOML_AUTH="on") as started:
        yield started


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed  # the page fixture screenshots a failure before closing the browser
    return report


FAILED = pytest.StashKey[bool]()


# The browser reports what the Content-Security-Policy blocked as a console error (Chromium does too, in words
# that vary by version): any of them fails the test through Watch.assert_clean().
REPORT_CSP = """document.addEventListener("securitypolicyviolation", (e) => console.error(
  `CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} in ${e.sourceFile}:${e.lineNumber}`));"""


@contextmanager
def open_page(request: pytest.FixtureRequest) -> Iterator[tuple[object, Watch]]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    watch = Watch()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.add_init_script(REPORT_CSP)
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


@pytest.fixture
def browser_page(server: str, request: pytest.FixtureRequest) -> Iterator[tuple[object, Watch]]:
    with open_page(request) as opened:
        yield opened


@pytest.fixture
def auth_page(auth_server: tuple[str, Path], request: pytest.FixtureRequest) -> Iterator[tuple[object, Watch]]:
    with open_page(request) as opened:
        yield opened
