"""The public /status page and the post-mortem pages."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from juncture.incidents.models import Incident, RootCauseCategory, StatusSubscription
from juncture.kit import clock
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work
from tests.factories import make_service, make_user
from tests.incidents.test_comms import T0, make_incident
from tests.incidents.test_status import _update
from tests.web.test_pages import login


def _form_csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_public_status_page_shows_only_published_customer_updates(
    client: TestClient, db: Database
) -> None:
    make_service(db, slug="checkout", name="Checkout")
    incident_id = make_incident(db, title="INTERNAL TITLE")
    _update(db, incident_id, audience="executives", subject="EXEC ONLY", body="exec")
    _update(db, incident_id, publish=False, subject="DRAFT ONLY", body="draft")
    r = client.get("/status")
    assert r.status_code == 200
    assert "All systems operational" in r.text and "INTERNAL TITLE" not in r.text
    _update(
        db,
        incident_id,
        subject="Checkout is slow",
        body="We are on it.",
        component_status="major_outage",
    )
    r = client.get("/status")
    assert "Checkout is slow" in r.text and "We are on it." in r.text
    assert "Major outage" in r.text
    for secret in ("EXEC ONLY", "DRAFT ONLY", "INTERNAL TITLE"):
        assert secret not in r.text
    # one red bar per day since the incident started (it is still open)
    days = (clock.now().date() - T0.date()).days + 1
    assert r.text.count('class="major_outage"') == days


def test_subscribe_form_needs_its_cookie_and_unsubscribe_link_works(
    client: TestClient, db: Database
) -> None:
    page = client.get("/status")
    csrf = _form_csrf(page.text)
    r = client.post(
        "/status/subscribe",
        data={"kind": "email", "target": "ann@example.com", "csrf_token": "forged"},
    )
    assert r.status_code == 403
    # every rendering of the page issues a fresh token (and cookie)
    csrf = _form_csrf(r.text)
    r = client.post(
        "/status/subscribe", data={"kind": "email", "target": "not-mail", "csrf_token": csrf}
    )
    assert r.status_code == 422 and "not an e-mail address" in r.text
    csrf = _form_csrf(r.text)
    r = client.post(
        "/status/subscribe", data={"kind": "email", "target": "ann@example.com", "csrf_token": csrf}
    )
    assert r.status_code == 200 and "confirm" in r.text and "ann@example.com" in r.text
    with unit_of_work(db) as session:
        sub = session.scalars(select(StatusSubscription)).one()
        token, unconfirmed = sub.token, sub.confirmed_at is None
    assert unconfirmed  # double opt-in: nothing is sent before the owner confirms
    page = client.get(f"/status/confirm/{token}")
    forged = client.post(f"/status/confirm/{token}", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    r = client.post(f"/status/confirm/{token}", data={"csrf_token": _form_csrf(page.text)})
    assert r.status_code == 200 and "Confirmed" in r.text
    with unit_of_work(db) as session:
        assert session.scalars(select(StatusSubscription)).one().confirmed_at is not None
    confirm = client.get(f"/status/unsubscribe/{token}")
    assert confirm.status_code == 200
    r = client.post(f"/status/unsubscribe/{token}", data={"csrf_token": _form_csrf(confirm.text)})
    assert r.status_code == 200 and "You are unsubscribed" in r.text
    with unit_of_work(db) as session:
        assert session.scalars(select(StatusSubscription)).all() == []


def test_postmortem_pages(client: TestClient, db: Database) -> None:
    incident_id = make_incident(db, status="resolved", resolved_at=T0 + timedelta(hours=1))
    with unit_of_work(db) as session:
        session.add(RootCauseCategory(code="change.deploy", name="Deploy"))
    make_user(db, email="ops@example.com", role="ops")
    make_user(db, email="viewer@example.com", role="viewer")
    assert client.get("/postmortems", follow_redirects=False).status_code in (302, 303, 307)
    csrf = login(client, "ops@example.com")
    r = client.post(
        "/postmortems/new",
        data={"incident_id": incident_id, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    url = r.headers["location"]
    r = client.post(f"{url}/submit", data={"csrf_token": csrf})
    assert r.status_code == 422 and "missing: customer experience" in r.text
    r = client.post(
        f"{url}/sections",
        data={
            "csrf_token": csrf,
            "summary": "Deploy broke payments",
            "customer_experience": "Customers could not pay.",
            "customer_experience_by": "carol",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = client.post(
        f"{url}/factors",
        data={
            "csrf_token": csrf,
            "category": "change.deploy",
            "description": "bad flag",
            "primary": "on",
        },
    )
    assert r.status_code == 200
    r = client.post(
        f"{url}/actions",
        data={
            "csrf_token": csrf,
            "title": "Canary deploys",
            "owner": "dana",
            "kind": "fix",
            "due_on": "2026-12-01",
        },
    )
    assert "Canary deploys" in r.text
    client.post(f"{url}/submit", data={"csrf_token": csrf})
    r = client.post(f"{url}/publish", data={"csrf_token": csrf})
    assert 'data-testid="pm-state">published' in r.text
    with unit_of_work(db) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None and incident.status == "reviewed"
        assert incident.root_cause == "change.deploy"
    client.post("/logout", data={"csrf_token": csrf})
    csrf = login(client, "viewer@example.com")
    r = client.get(url)
    assert r.status_code == 200 and "Customers could not pay." in r.text
    assert "Submit for review" not in r.text and 'action="' + url + '/actions"' not in r.text
    r = client.post(f"{url}/actions", data={"csrf_token": csrf, "title": "x", "owner": "y"})
    assert r.status_code == 403
    assert "Post-mortem: INTERNAL" not in client.get("/postmortems").text
    assert "Post-mortem: Checkout errors" in client.get("/postmortems?state=published").text
