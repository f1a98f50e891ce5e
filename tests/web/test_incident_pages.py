"""Incident pages: declare from the list or from an alert, then run the incident room's forms —
status, roles, severity, notes, playbook, a customer update through its review to the public
status page — with CSRF-protected posts and readable errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from juncture.detect import service as detect_service
from juncture.incidents.defaults import ensure_defaults
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work
from tests.factories import make_service, make_team, make_user
from tests.web.test_pages import login

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def _company(db: Database) -> None:
    team = make_team(db, slug="sre", name="SRE")
    make_service(db, owner_team_id=team, slug="checkout", name="Checkout")
    make_service(db, owner_team_id=team, slug="search", name="Search")
    with unit_of_work(db) as session:
        ensure_defaults(session)


def _incident_id(response_url: str) -> int:
    match = re.search(r"/incidents/(\d+)", response_url)
    assert match, response_url
    return int(match.group(1))


def test_declare_and_run_an_incident_through_the_pages(client: TestClient, db: Database) -> None:
    _company(db)
    make_user(db, email="ops@example.com", role="ops")
    make_user(db, email="cx@example.com", role="cx")
    csrf = login(client, "ops@example.com")

    page = client.get("/incidents")
    assert page.status_code == 200 and 'href="/incidents"' in page.text
    assert "No incidents" in page.text

    bad = client.post(
        "/incidents",
        data={"title": "x", "severity": "sev2", "services": ["nope"], "csrf_token": csrf},
    )
    assert bad.status_code == 422 and "nope" in bad.text  # the form says which service

    made = client.post(
        "/incidents",
        data={
            "title": "Checkout failing in Europe",
            "severity": "sev2",
            "services": ["checkout"],
            "summary": "Payments time out",
            "csrf_token": csrf,
        },
    )
    assert made.status_code == 200
    iid = _incident_id(str(made.url))
    assert "Incident declared." in made.text
    assert (
        'data-testid="macro"' in made.text
        and f"incident-{_incident_id(str(made.url))}" in made.text
    )
    assert 'data-testid="incident-status">declared' in made.text

    # status forward, a role and its hand-over, severity, a note, a playbook step
    r = client.post(f"/incidents/{iid}/status", data={"to": "investigating", "csrf_token": csrf})
    assert 'data-testid="incident-status">investigating' in r.text
    bad = client.post(f"/incidents/{iid}/status", data={"to": "reviewed", "csrf_token": csrf})
    assert bad.status_code == 409 and 'role="alert"' in bad.text
    client.post(
        f"/incidents/{iid}/roles", data={"role": "commander", "person": "Ana", "csrf_token": csrf}
    )
    r = client.post(
        f"/incidents/{iid}/roles", data={"role": "commander", "person": "Bo", "csrf_token": csrf}
    )
    assert 'data-role="commander">Bo<' in r.text
    assert "handed" in r.text  # the hand-over is in the timeline
    r = client.post(
        f"/incidents/{iid}/severity",
        data={"severity": "sev1", "reason": "VIPs hit", "csrf_token": csrf},
    )
    assert 'data-testid="incident-severity">SEV1' in r.text
    r = client.post(f"/incidents/{iid}/notes", data={"text": "Rolled back 4.2", "csrf_token": csrf})
    assert "Rolled back 4.2" in r.text
    item = re.search(rf'action="/incidents/{iid}/checklist/(\d+)"', r.text)
    assert item, "a default playbook is attached on declaration"
    r = client.post(f"/incidents/{iid}/checklist/{item.group(1)}", data={"csrf_token": csrf})
    assert "Checklist updated." in r.text

    # a customer update: drafted, sent for review, approved by someone else, published
    r = client.post(
        f"/incidents/{iid}/updates",
        data={
            "audience": "customers",
            "component_status": "partial_outage",
            "subject": "Payments are failing for some customers",
            "body": "We are on it.",
            "csrf_token": csrf,
        },
    )
    uid = re.search(r'data-update="(\d+)"', r.text)
    assert uid
    u = uid.group(1)
    r = client.post(f"/incidents/{iid}/updates/{u}/publish", data={"csrf_token": csrf})
    assert r.status_code == 409  # not reviewed yet
    client.post(f"/incidents/{iid}/updates/{u}/submit", data={"csrf_token": csrf})
    r = client.post(f"/incidents/{iid}/updates/{u}/approve", data={"csrf_token": csrf})
    assert r.status_code == 409  # the author cannot approve their own update
    client.post("/logout", data={"csrf_token": csrf})
    cx_csrf = login(client, "cx@example.com")
    r = client.post(f"/incidents/{iid}/updates/{u}/approve", data={"csrf_token": cx_csrf})
    assert r.status_code == 200 and ">approved<" in r.text
    r = client.post(f"/incidents/{iid}/updates/{u}/publish", data={"csrf_token": cx_csrf})
    assert ">published<" in r.text
    public = TestClient(client.app).get("/status")
    assert public.status_code == 200
    assert "Payments are failing for some customers" in public.text
    assert "Checkout failing in Europe" not in public.text  # the internal title stays inside

    # resolve, then the post-mortem button opens the draft
    r = client.post(f"/incidents/{iid}/status", data={"to": "resolved", "csrf_token": cx_csrf})
    assert 'data-testid="incident-status">resolved' in r.text
    pm = client.post(f"/incidents/{iid}/postmortem", data={"csrf_token": cx_csrf})
    assert pm.status_code == 200 and "/postmortems/" in str(pm.url)


def test_declare_from_an_alert_page(client: TestClient, db: Database) -> None:
    _company(db)
    make_user(db, email="ops@example.com", role="ops")
    make_user(db, email="viewer@example.com", role="viewer")
    with unit_of_work(db) as session:
        alert = detect_service.raise_alert(
            session,
            dedup_key="checkout",
            title="Checkout: customers feel it",
            severity="critical",
            services=["checkout"],
            customer_facing=True,
            at=T0,
        )
        alert_id = alert.id
    csrf = login(client, "ops@example.com")
    page = client.get(f"/alerts/{alert_id}")
    assert "Declare incident" in page.text
    # the form itself carries the session's CSRF token (macros render with the page context)
    form = re.search(
        rf'action="/alerts/{alert_id}/declare"><input type="hidden" name="csrf_token" '
        r'value="([^"]*)"',
        page.text,
    )
    assert form and form.group(1) == csrf
    r = client.post(f"/alerts/{alert_id}/declare", data={"csrf_token": form.group(1)})
    assert r.status_code == 200
    iid = _incident_id(str(r.url))
    assert "Checkout: customers feel it" in r.text
    assert f'href="/alerts/{alert_id}"' in r.text
    page = client.get(f"/alerts/{alert_id}")
    assert f'href="/incidents/{iid}"' in page.text and "Declare incident" not in page.text
    again = client.post(f"/alerts/{alert_id}/declare", data={"csrf_token": csrf})
    assert again.status_code == 409 and 'role="alert"' in again.text
    listing = client.get("/incidents")
    assert f'data-incident="{iid}"' in listing.text

    # a viewer reads the room but gets no forms, and posting is refused
    client.post("/logout", data={"csrf_token": csrf})
    v_csrf = login(client, "viewer@example.com")
    room = client.get(f"/incidents/{iid}")
    assert room.status_code == 200 and 'data-testid="status-form"' not in room.text
    refused = client.post(f"/incidents/{iid}/notes", data={"text": "hi", "csrf_token": v_csrf})
    assert refused.status_code == 403


def test_incident_settings_page_edits_tiers_taxonomy_playbooks_templates(
    client: TestClient, db: Database
) -> None:
    from juncture.incidents import service as incident_service

    _company(db)
    make_user(db, email="ops@example.com", role="ops")
    with unit_of_work(db) as session:
        incident_service.comms.ensure_default_templates(session)
    csrf = login(client, "ops@example.com")
    page = client.get("/incidents/settings")
    assert page.status_code == 200 and 'data-tier="sev1"' in page.text

    r = client.post(
        "/incidents/settings/tiers/sev2",
        data={
            "customers_pct": "7.5",
            "orders_pct": "",
            "journeys": "purchase",
            "regions": "2",
            "ack_minutes": "10",
            "update_every_minutes": "20",
            "csrf_token": csrf,
        },
    )
    assert r.status_code == 200 and "Saved." in r.text
    bad = client.post(
        "/incidents/settings/tiers/sev2", data={"customers_pct": "lots", "csrf_token": csrf}
    )
    assert bad.status_code == 422 and "not a percentage" in bad.text
    r = client.post(
        "/incidents/settings/root-causes",
        data={"code": "change.migration", "name": "Schema migration", "csrf_token": csrf},
    )
    assert "change.migration" in r.text
    client.post(
        "/incidents/settings/root-causes/change.migration/active",
        data={"active": "0", "csrf_token": csrf},
    )
    r = client.post(
        "/incidents/settings/playbooks",
        data={
            "name": "Search down",
            "services": "search",
            "steps": "ops: Fail over to the replica\nux: Show cached results\nPage the owner",
            "csrf_token": csrf,
        },
    )
    assert r.status_code == 200 and "Search down" in r.text
    with unit_of_work(db) as session:
        (tier,) = [t for t in incident_service.list_tiers(session) if t.tier == "sev2"]
        assert tier.criteria["customers_share"] == 0.075 and tier.criteria["regions"] == 2
        assert tier.criteria["journeys"] == ["purchase"] and tier.ack_minutes == 10
        cause = incident_service.get_root_cause_or_raise(session, code="change.migration")
        assert cause.active is False
        (book,) = [b for b in incident_service.list_playbooks(session) if b.name == "Search down"]
        assert [(s["kind"], s["title"]) for s in book.steps] == [
            ("ops", "Fail over to the replica"),
            ("ux", "Show cached results"),
            ("ops", "Page the owner"),
        ]
        template = incident_service.comms.list_templates(session)[0]
    r = client.post(
        f"/incidents/settings/templates/{template.id}",
        data={
            "subject": "{{ incident.title }}: update",
            "body": "{{ ''.__class__ }}",
            "csrf_token": csrf,
        },
    )
    assert r.status_code == 422  # the sandbox refuses it on save
    r = client.post(
        f"/incidents/settings/templates/{template.id}",
        data={
            "subject": "{{ incident.title }}: update",
            "body": "We are on it.",
            "csrf_token": csrf,
        },
    )
    assert r.status_code == 200 and "Saved." in r.text
