"""In real headless Chromium against a real `juncture demo` server: log in, see the overview.

Uses Debian's chromium through Playwright's `executable_path` (no browser download). Skipped
with a reason when chromium is absent, unless JUNCTURE_TEST_BROWSER_REQUIRED=1 (as in CI).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def served(tmp_path: Path, database_url: str, *args: str) -> Iterator[str]:
    """Run ``juncture <args>`` on a free port over ``database_url`` until the block ends;
    yields the base URL once ``/readyz`` answers (the output goes to ``server.log``)."""
    port = free_port()
    env = os.environ | {"JUNCTURE_DATABASE_URL": database_url, "JUNCTURE_PORT": str(port)}
    log_path = tmp_path / "server.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "juncture", *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"juncture {' '.join(args)} exited: {log_path.read_text()}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def need_chromium() -> None:
    """Skip without Debian's chromium, unless CI requires the browser tests."""
    if CHROMIUM is None:
        if os.environ.get("JUNCTURE_TEST_BROWSER_REQUIRED") == "1":
            pytest.fail("JUNCTURE_TEST_BROWSER_REQUIRED=1 but chromium is not installed")
        pytest.skip(
            "browser test skipped: Debian chromium is not installed (apt-get install chromium)"
        )


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[dict[str, str]]:
    need_chromium()
    with served(tmp_path, f"sqlite:///{tmp_path}/demo.db", "demo") as url:
        output = (tmp_path / "server.log").read_text()
        match = re.search(r"log in as (\S+) with password (\S+)", output)
        assert match, output
        yield {"url": url, "email": match.group(1), "password": match.group(2)}


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


# ---------------------------------------------------------------- the KPI overview


@pytest.fixture
def simulated_server(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A server over a small simulated company (8 days, in-process load) and its admin login."""
    need_chromium()
    from datetime import UTC, datetime, timedelta

    from juncture.cli.demo import prepare_demo
    from juncture.config import Settings
    from juncture.simulate.load import load_into_database
    from juncture.simulate.world import generate
    from tests.simulate.scenarios import small

    url = f"sqlite:///{tmp_path}/sim.db"
    settings = Settings(
        database_url=url,
        run_jobs=False,
        log_json=False,
        log_level="WARNING",
        data_dir=tmp_path,  # the simulation's ground truth goes here, not into the checkout
    )
    email, password, _ = prepare_demo(settings)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    world = generate(
        small(traffic={"sessions_per_day": 1000}), days=8, seed=3, start=today - timedelta(days=8)
    )
    load_into_database(world, settings)
    with served(tmp_path, url, "serve", "--no-jobs") as base:
        yield {"url": base, "email": email, "password": password}


def _api_number(data: dict[str, object], kpi: str, scope: str, delta: bool) -> object:
    """The overview API's number behind one element of the page."""
    field = "delta" if delta else "value"
    if scope == "all":
        headlines = [*data["ops"], *data["cx"]]  # type: ignore[misc]
        return next(h for h in headlines if h["kpi"] == kpi)[field]
    for row in data["services"]:  # type: ignore[attr-defined]
        if row["slug"] == scope:
            return row["kpis"][kpi][field]
    for row in data["journeys"]:  # type: ignore[attr-defined]
        if row["slug"] == scope:
            return row["dropoff"] if kpi == "dropoff" else row["conversion"][field]
    raise AssertionError(f"no API number for {kpi} / {scope}")


def _shown(value: object, decimals: int) -> str:
    if value is None:
        return ""
    text = f"{float(value):,.{decimals}f}"  # type: ignore[arg-type]
    return text[1:] if text.lstrip("-").strip("0.,") == "" and text.startswith("-") else text


def test_overview_numbers_equal_the_api(simulated_server: dict[str, str], artifacts: Path) -> None:
    from playwright.sync_api import sync_playwright

    base = simulated_server["url"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(base + "/login")
            page.get_by_label("E-mail").fill(simulated_server["email"])
            page.get_by_label("Password").fill(simulated_server["password"])
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(base + "/")
            assert page.get_by_role("heading", name="Ops health").is_visible()
            assert "open alert" in page.get_by_test_id("active-work").inner_text()
            shown = page.eval_on_selector_all(
                "[data-kpi], [data-kpi-delta]",
                """els => els.map(e => ({
                    kpi: e.dataset.kpi || e.dataset.kpiDelta,
                    delta: !e.dataset.kpi,
                    scope: e.dataset.scope,
                    value: e.dataset.value,
                    decimals: e.dataset.decimals,
                }))""",
            )
            page.screenshot(path=str(artifacts / "overview.png"), full_page=True)
            # the same session cookie asks the API
            answer = page.request.get(base + "/api/v1/overview")
            assert answer.status == 200, answer.text()
            data = answer.json()
        finally:
            browser.close()
    decimals = {item["kpi"]: int(item["decimals"]) for item in shown if item["decimals"]}
    compared = 0
    for item in shown:
        expected = _api_number(data, item["kpi"], item["scope"], item["delta"])
        assert item["value"] == _shown(expected, decimals[item["kpi"]]), (item, expected)
        compared += item["value"] != ""
    headline = {i["kpi"] for i in shown if i["scope"] == "all" and not i["delta"]}
    assert {"availability", "latency_p95", "error_rate", "csat", "nps"} <= headline
    assert {"negative_sentiment", "ticket_volume"} <= headline
    assert compared >= 40  # headlines, services and journeys all carry numbers
