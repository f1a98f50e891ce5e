"""In real headless Chromium against a real `juncture demo` server: log in, see the overview.

Uses Debian's chromium through Playwright's `executable_path` (no browser download). Skipped
with a reason when chromium is absent, unless JUNCTURE_TEST_BROWSER_REQUIRED=1 (as in CI).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.jobs.test_replicas import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_server(tmp_path: Path) -> object:
    if CHROMIUM is None:
        if os.environ.get("JUNCTURE_TEST_BROWSER_REQUIRED") == "1":
            pytest.fail("JUNCTURE_TEST_BROWSER_REQUIRED=1 but chromium is not installed")
        pytest.skip(
            "browser test skipped: Debian chromium is not installed (apt-get install chromium)"
        )
    port = free_port()
    env = os.environ | {
        "JUNCTURE_DATABASE_URL": f"sqlite:///{tmp_path}/demo.db",
        "JUNCTURE_PORT": str(port),
    }
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "juncture", "demo"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"demo exited: {(tmp_path / 'server.log').read_text()}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        output = (tmp_path / "server.log").read_text()
        match = re.search(r"log in as (\S+) with password (\S+)", output)
        assert match, output
        yield {
            "url": f"http://127.0.0.1:{port}",
            "email": match.group(1),
            "password": match.group(2),
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_log_in_and_see_the_overview(demo_server: dict[str, str], artifacts: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.goto(demo_server["url"] + "/")
            assert page.url.startswith(demo_server["url"] + "/login")
            page.get_by_label("E-mail").fill(demo_server["email"])
            page.get_by_label("Password").fill("wrong-password-entirely")
            page.get_by_role("button", name="Log in").click()
            assert "wrong e-mail or password" in page.locator('[role="alert"]').inner_text()
            page.get_by_label("Password").fill(demo_server["password"])
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(demo_server["url"] + "/")
            assert page.get_by_role("heading", name="Overview").is_visible()
            # the overview shows the real catalog: the same numbers the API gives
            services = int(page.get_by_test_id("stat-services").inner_text())
            journeys = int(page.get_by_test_id("stat-journeys").inner_text())
            assert services >= 5
            assert journeys >= 1
            assert page.get_by_test_id("journey-purchase").is_visible()
            page.screenshot(path=str(artifacts / "overview.png"), full_page=True)
            # keyboard: the skip link is the first stop and moves focus to the content
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.textContent") == "Skip to content"
            page.get_by_role("link", name="Services").first.click()
            assert page.get_by_role("heading", name="Services").is_visible()
            page.screenshot(path=str(artifacts / "services.png"), full_page=True)
        finally:
            browser.close()
