"""In real headless Chromium against a real server over a simulated company whose alert rules
have been replayed over its history: declare an incident from an alert, staff the roles,
publish a customer update another person approved and see it on the public /status page,
resolve, and write and publish the post-mortem."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, need_chromium, served

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CX_EMAIL = "rosa@example.com"
CX_PASSWORD = "a-long-cx-password"


@pytest.fixture
def alerted_server(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A small simulated company with a checkout incident two days ago, its alert rules replayed
    over the last two days (no simulated incident responders: the people here are the test)."""
    need_chromium()
    from juncture.access import service as access_service
    from juncture.access.enums import Role
    from juncture.access.schemas import UserCreate
    from juncture.cli.demo import prepare_demo, seed_alerting
    from juncture.config import Settings
    from juncture.simulate.load import load_into_database
    from juncture.simulate.world import generate
    from juncture.store.engine import Database
    from juncture.store.uow import unit_of_work
    from tests.simulate.scenarios import CHECKOUT_SLOW, small

    url = f"sqlite:///{tmp_path}/sim.db"
    settings = Settings(
        database_url=url, run_jobs=False, log_json=False, log_level="WARNING", data_dir=tmp_path
    )
    email, password, _ = prepare_demo(settings)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    scenario = small(incidents={"random_per_week": 0.0, "scripted": [CHECKOUT_SLOW]})
    world = generate(scenario, days=3, seed=7, start=today - timedelta(days=3))
    load_into_database(world, settings)
    seed_alerting(settings, today, days=2, people=False)
    db = Database(settings)
    try:
        with unit_of_work(db) as session:
            access_service.create_user(
                session,
                data=UserCreate(email=CX_EMAIL, role=Role.cx, name="Rosa", password=CX_PASSWORD),
            )
    finally:
        db.dispose()
    with served(tmp_path, url, "serve", "--no-jobs") as base:
        yield {"url": base, "email": email, "password": password}


def _log_in(page: object, base: str, email: str, password: str) -> None:
    page.goto(base + "/login")  # type: ignore[attr-defined]
    page.get_by_label("E-mail").fill(email)  # type: ignore[attr-defined]
    page.get_by_label("Password").fill(password)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Log in").click()  # type: ignore[attr-defined]
    page.wait_for_url(base + "/")  # type: ignore[attr-defined]


def test_run_an_incident_from_alert_to_postmortem(
    alerted_server: dict[str, str], artifacts: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base = alerted_server["url"]
    subject = "Checkout payments are failing for some customers in Europe"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            ops = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
            _log_in(ops, base, alerted_server["email"], alerted_server["password"])
            # the replayed rules found the checkout incident: open its alert
            ops.goto(base + "/alerts?state=all")
            link = ops.get_by_role("link", name="Service error rate above 5% (checkout)").first
            expect(link).to_be_visible()
            link.click()
            ops.get_by_role("button", name="Declare incident").click()
            expect(ops.get_by_test_id("incident-status")).to_have_text("declared")
            room = ops.url
            assert "/incidents/" in room

            # staff the roles
            role_form = ops.get_by_test_id("role-form")
            role_form.get_by_label("Role").select_option("cx_lead")
            role_form.get_by_label("Person").fill("Rosa")
            role_form.get_by_role("button", name="Assign / hand over").click()
            expect(ops.locator('[data-role="cx_lead"]')).to_have_text("Rosa")
            ops.get_by_test_id("status-form").get_by_role("button", name="Investigating").click()
            expect(ops.get_by_test_id("incident-status")).to_have_text("investigating")

            # a customer update, sent for review
            draft = ops.get_by_test_id("draft-update")
            draft.get_by_label("Audience").select_option("customers")
            draft.get_by_label("Subject (empty: from the template for this phase)").fill(subject)
            draft.get_by_label("Text (empty: from the template)").fill(
                "Some payments fail at checkout. We are rolling back the release."
            )
            draft.get_by_role("button", name="Draft update").click()
            ops.get_by_role("button", name="Send for review").click()
            expect(ops.get_by_test_id("update-state").first).to_have_text("in_review")

            # CX (legal and compliance stand-in) approves and publishes it
            cx = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
            _log_in(cx, base, CX_EMAIL, CX_PASSWORD)
            cx.goto(room)
            cx.get_by_role("button", name="Approve").click()
            expect(cx.get_by_test_id("update-state").first).to_have_text("approved")
            cx.get_by_role("button", name="Publish").click()
            expect(cx.get_by_test_id("update-state").first).to_have_text("published")

            # the public status page shows it, without a login
            public = browser.new_context().new_page()
            public.goto(base + "/status")
            expect(public.get_by_text(subject).first).to_be_visible()
            public.screenshot(path=str(artifacts / "status-page.png"), full_page=True)

            # resolve; the impact panel and timeline carry the story
            ops.goto(room)
            ops.get_by_test_id("status-form").get_by_role("button", name="Resolved").click()
            expect(ops.get_by_test_id("incident-status")).to_have_text("resolved")
            timeline = ops.get_by_test_id("timeline").inner_text()
            assert "Rosa" in timeline and "published" in timeline.lower()
            ops.screenshot(path=str(artifacts / "incident-room.png"), full_page=True)

            # the post-mortem: sections, a contributing factor, review, publication
            ops.get_by_role("button", name="Write the post-mortem").click()
            ops.get_by_label("Summary", exact=True).fill(
                "A checkout release failed payments in Europe."
            )
            ops.get_by_label("Customer experience (written with CX)").fill(
                "Customers saw failed payments for four hours; agents used the macro."
            )
            ops.get_by_label("Written with", exact=True).fill("Rosa")
            ops.get_by_role("button", name="Save").click()
            ops.get_by_label("Category", exact=True).select_option("change.deploy")
            ops.get_by_label("Description", exact=True).fill(
                "The release went to every region at once."
            )
            ops.get_by_role("button", name="Add factor").click()
            ops.get_by_role("button", name="Submit for review").click()
            ops.get_by_role("button", name="Publish").click()
            expect(ops.get_by_text("published").first).to_be_visible()
            ops.screenshot(path=str(artifacts / "postmortem.png"), full_page=True)
            ops.goto(room)
            expect(ops.get_by_test_id("incident-status")).to_have_text("reviewed")
        finally:
            browser.close()
