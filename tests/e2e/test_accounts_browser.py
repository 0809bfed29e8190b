"""Accounts in a real browser (AUTOML_AUTH=on): the first admin through the setup link `serve` prints, a model
trained as that admin, a viewer created on /admin, sign-out, the viewer signing in (sent back where they were
going) and seeing no deploy controls, then signing out. Every page is checked for CSP violations (the
fixture turns each into a console error) and for requests leaving 127.0.0.1."""
from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser_support import SHOTS

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ADMIN, ADMIN_PW = "ada", "correct horse battery staple"
VIEWER, VIEWER_PW = "vic", "another long passphrase"


def tid(page, name: str):
    return page.locator(f"[data-testid='{name}']")


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def setup_link(log: Path, timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = re.search(r"(https?://\S+/setup\?token=\S+)", log.read_text(errors="replace"))
        if found:
            return found.group(1).rstrip(".,)")
        time.sleep(0.2)
    pytest.fail("`automl serve` printed no /setup?token= link:\n" + log.read_text(errors="replace")[-2000:])


def small_table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(240, 2))
    df = pd.DataFrame({"x1": x[:, 0].round(3), "x2": x[:, 1].round(3), "colour": rng.choice(["red", "blue"], 240)})
    df["label"] = np.where(x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.3, size=240) > 0, "yes", "no")
    path = tmp_path / "accounts.csv"
    df.to_csv(path, index=False)
    return path


def open_user_menu(page) -> None:
    tid(page, "user-menu").locator(".dropdown-toggle").click()


def sign_out(page, base: str) -> None:
    open_user_menu(page)
    tid(page, "sign-out").click()
    page.wait_for_url(re.compile(re.escape(base) + r"/login"), timeout=10_000)


def sign_in(page, username: str, password: str) -> None:
    page.locator("input[name='username']").fill(username)
    page.locator("input[name='password']").fill(password)
    tid(page, "login-submit").click()


def first_admin(page, base: str, log: Path) -> None:
    page.goto(setup_link(log))
    shot(page, "acc-1-setup")
    page.locator("input[name='username']").fill(ADMIN)
    page.locator("input[name='password']").fill(ADMIN_PW)
    page.locator("input[name='confirm']").fill(ADMIN_PW)
    tid(page, "setup-submit").click()
    page.wait_for_url(base + "/", timeout=15_000)
    menu = tid(page, "user-menu").inner_text()
    assert ADMIN in menu and "admin" in menu, menu


def train_a_model(page, tmp_path: Path) -> tuple[str, str]:
    """Upload, train for 5 s and wait: the admin's uploads and POSTs carry the CSRF token or fail here."""
    tid(page, "upload-input").set_input_files(str(small_table(tmp_path)))
    tid(page, "upload-submit").click()
    tid(page, "dataset-profile").wait_for(timeout=30_000)
    tid(page, "target-select").select_option(value="label")
    tid(page, "time-budget-input").fill("5")
    tid(page, "start-experiment").click()
    tid(page, "experiment-status").wait_for(timeout=30_000)
    page.wait_for_function(
        "() => /completed/.test(document.querySelector(\"[data-testid='experiment-status']\").innerText)",
        timeout=180_000)
    tid(page, "deploy-button").first.click()  # the admin may deploy (a POST with the CSRF token)
    page.wait_for_function("() => document.querySelector(\"[data-testid='deploy-button']\").innerText === 'Undeploy'",
                           timeout=15_000)
    experiment_url = page.url
    model_href = tid(page, "leaderboard-row").first.locator("a").first.get_attribute("href")
    return experiment_url, model_href


def create_viewer_and_token(page, base: str) -> None:
    open_user_menu(page)
    tid(page, "admin-link").click()
    page.wait_for_url(base + "/admin", timeout=10_000)
    page.locator(f"[data-user='{ADMIN}']").wait_for(timeout=10_000)
    tid(page, "new-username").fill(VIEWER)
    tid(page, "new-password").fill("a first passphrase, replaced below")
    tid(page, "new-role").select_option("viewer")
    tid(page, "user-create").click()
    row = page.locator(f"[data-user='{VIEWER}']")
    row.wait_for(timeout=10_000)
    assert row.locator("select").input_value() == "viewer"
    row.locator("button", has_text="Set password").click()  # the one the viewer will sign in with
    page.locator("#password-new").fill(VIEWER_PW)
    tid(page, "password-save").click()
    page.locator("#user-notice", has_text="New password set").wait_for(timeout=10_000)
    page.locator("#password-modal").wait_for(state="hidden", timeout=5_000)

    tid(page, "new-username").fill("temp")
    tid(page, "new-password").fill("a temporary passphrase")
    tid(page, "user-create").click()
    temp = page.locator("[data-user='temp']")
    temp.wait_for(timeout=10_000)
    temp.locator("select").select_option("editor")
    page.locator("#user-notice", has_text="temp is now editor").wait_for(timeout=10_000)
    page.locator("[data-user='temp'] [data-testid='user-toggle']").click()
    page.locator("[data-user='temp'] .badge", has_text="disabled").wait_for(timeout=10_000)

    tid(page, "admin-tab-tokens").click()
    tid(page, "token-name").fill("e2e-service")
    tid(page, "token-create").click()
    tid(page, "token-secret").wait_for(timeout=10_000)
    assert len(tid(page, "token-secret").inner_text()) > 20
    token_row = page.locator("#tokens-body tr", has_text="e2e-service")
    token_row.locator("[data-testid='token-revoke']").click()
    token_row.locator(".badge", has_text="revoked").wait_for(timeout=10_000)

    tid(page, "admin-tab-audit").click()
    audit = tid(page, "audit-table")
    audit.locator("td", has_text="user.create").first.wait_for(timeout=10_000)
    tid(page, "audit-action").fill("token.revoke")
    tid(page, "audit-filter").click()
    page.wait_for_function("() => [...document.querySelectorAll('#audit-body tr')].every("
                           "(r) => r.innerText.includes('token.revoke'))", timeout=10_000)
    page.wait_for_timeout(300)  # the tab's fade-in, for the screenshot
    shot(page, "acc-3-admin")


def test_setup_admin_viewer_and_sign_out(auth_page, auth_server: tuple[str, Path], tmp_path: Path) -> None:
    page, watch = auth_page
    base, log = auth_server
    first_admin(page, base, log)
    experiment_url, model_href = train_a_model(page, tmp_path)
    shot(page, "acc-2-admin-experiment")
    create_viewer_and_token(page, base)
    page.goto(base + "/docs")
    page.locator(".swagger-ui .info").wait_for(timeout=20_000)  # started by swagger-init.js, not inline script
    page.goto(base + "/")
    sign_out(page, base)

    page.goto(base + model_href)  # anonymous: sent to sign in, then back to the model page
    page.wait_for_url(re.compile(re.escape(base) + r"/login\?next="), timeout=10_000)
    sign_in(page, VIEWER, "not the password")
    tid(page, "login-error").wait_for(state="visible", timeout=10_000)
    assert "wrong" in tid(page, "login-error").inner_text().lower()
    sign_in(page, VIEWER, VIEWER_PW)
    page.wait_for_url(base + model_href, timeout=15_000)
    assert VIEWER in tid(page, "user-menu").inner_text() and "viewer" in tid(page, "user-menu").inner_text()
    tid(page, "predict-form").wait_for(timeout=10_000)
    for absent in ("deploy-button", "deploy-api", "deploy-batch", "batch-input", "artifact-download"):
        assert tid(page, absent).count() == 0, absent
    tid(page, "predict-submit").click()  # a viewer predicts: their session's POST carries its CSRF token too
    page.wait_for_function(
        "() => /^(yes|no)$/.test(document.querySelector(\"[data-testid='prediction-value']\")?.innerText || '')",
        timeout=30_000)
    shot(page, "acc-4-viewer-model")
    page.goto(experiment_url)
    tid(page, "leaderboard-row").first.wait_for(timeout=10_000)
    assert tid(page, "deploy-button").count() == 0
    page.locator(".breadcrumb a[href^='/datasets/']").first.click()
    page.locator("#preview table").wait_for(timeout=10_000)  # dataset.js runs without the form it cannot use
    assert tid(page, "start-experiment").count() == 0 and tid(page, "delete-dataset").count() == 0
    page.goto(base + "/")
    assert tid(page, "upload-input").count() == 0
    open_user_menu(page)
    assert tid(page, "admin-link").count() == 0
    page.keyboard.press("Escape")
    sign_out(page, base)
    page.goto(base + "/admin")
    page.wait_for_url(re.compile(re.escape(base) + r"/login\?next=%2Fadmin"), timeout=10_000)

    # the wrong password's 401 is the one console error the browser logs on purpose
    watch.console = [m for m in watch.console if "401" not in m or "CSP" in m]
    watch.assert_clean()
