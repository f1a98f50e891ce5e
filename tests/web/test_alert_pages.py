"""Alert pages: the list filters, the detail shows evidence and history, and the buttons
acknowledge, unacknowledge and resolve through CSRF-protected forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from juncture.detect import service
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work
from tests.factories import make_user
from tests.web.test_pages import login

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def _alerts(db: Database) -> tuple[int, int]:
    with unit_of_work(db) as session:
        a = service.raise_alert(
            session,
            dedup_key="checkout",
            title="Checkout conversion drop",
            summary="Drop-off rose while payments latency tripled",
            severity="critical",
            services=["checkout"],
            evidence={"correlation": 0.91, "effect": {"orders": 42, "tickets": 7}},
            customer_facing=True,
            at=T0,
        ).id
        b = service.raise_alert(
            session,
            dedup_key="search",
            title="Search slow",
            severity="warning",
            services=["search"],
            at=T0 + timedelta(minutes=1),
        ).id
    return a, b


def test_alert_pages_and_actions(client: TestClient, db: Database) -> None:
    a, b = _alerts(db)
    make_user(db, email="ops@example.com", role="ops")
    csrf = login(client, "ops@example.com")

    page = client.get("/alerts")
    assert page.status_code == 200
    assert 'href="/alerts"' in page.text  # the sidebar entry
    assert "Checkout conversion drop" in page.text and "Search slow" in page.text
    page = client.get("/alerts?severity=critical")
    assert "Checkout conversion drop" in page.text and "Search slow" not in page.text
    page = client.get("/alerts?state=resolved&severity=bogus")
    assert page.status_code == 200 and "No alerts" in page.text

    detail = client.get(f"/alerts/{a}")
    assert detail.status_code == 200
    assert "effect.orders" in detail.text and "42" in detail.text
    assert "fired" in detail.text
    assert f'action="/alerts/{a}/acknowledge"' in detail.text

    # without the CSRF token the form is refused
    r = client.post(f"/alerts/{a}/acknowledge", data={}, follow_redirects=False)
    assert r.status_code == 403

    r = client.post(f"/alerts/{a}/acknowledge", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/alerts/{a}?done=acknowledge"
    detail = client.get(r.headers["location"])
    assert "Alert acknowledged." in detail.text
    assert f'action="/alerts/{a}/unacknowledge"' in detail.text
    assert "ops@example.com" in detail.text

    # acting twice shows the conflict on the page instead of failing
    r = client.post(f"/alerts/{a}/acknowledge", data={"csrf_token": csrf})
    assert r.status_code == 409 and "already acknowledged" in r.text

    r = client.post(f"/alerts/{a}/unacknowledge", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"/alerts/{a}/resolve", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    detail = client.get(f"/alerts/{a}")
    assert 'data-testid="alert-state">resolved' in detail.text
    assert "/resolve" not in detail.text
    assert "Checkout conversion drop" in client.get("/alerts?state=resolved").text
    assert "Checkout conversion drop" not in client.get("/alerts").text
    assert client.get("/alerts/987654", headers={"accept": "text/html"}).status_code == 404
    assert b


def test_viewer_sees_alerts_without_buttons(client: TestClient, db: Database) -> None:
    a, _ = _alerts(db)
    make_user(db, email="viewer@example.com", role="viewer")
    csrf = login(client, "viewer@example.com")
    detail = client.get(f"/alerts/{a}")
    assert detail.status_code == 200 and "/acknowledge" not in detail.text
    r = client.post(f"/alerts/{a}/acknowledge", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 403


def test_alert_pages_need_login(client: TestClient) -> None:
    r = client.get("/alerts", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
