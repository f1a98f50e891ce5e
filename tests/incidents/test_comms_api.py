"""The communications, status and post-mortem HTTP API (tokens, scopes, public routes)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from juncture.incidents.models import RootCauseCategory
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work
from tests.factories import make_service, make_token, make_user
from tests.incidents.test_comms import T0, make_incident


def _headers(db: Database, role: str, scopes: list[str]) -> dict[str, str]:
    user = make_user(db, role=role)
    return {"Authorization": f"Bearer {make_token(db, user_id=user, scopes=scopes)}"}


def test_update_review_flow_and_public_status(client: Any, db: Database) -> None:
    make_service(db, slug="checkout")
    author = _headers(db, "ops", ["read", "write"])
    reviewer = _headers(db, "cx", ["read", "write"])
    viewer = _headers(db, "viewer", ["read"])
    incident_id = make_incident(db)
    r = client.post(
        "/api/v1/comm-templates",
        headers=author,
        json={
            "phase": "investigating",
            "audience": "customers",
            "subject": "{{ incident.title",
            "body": "x",
        },
    )
    assert r.status_code == 422 and r.json()["code"] == "template_error"
    r = client.post(
        "/api/v1/comm-templates",
        headers=author,
        json={
            "phase": "investigating",
            "audience": "customers",
            "subject": "Problem: {{ incident.title }}",
            "body": "We are looking into {{ incident.services | join(', ') }}.",
        },
    )
    assert r.status_code == 201, r.text
    r = client.post(
        f"/api/v1/incidents/{incident_id}/updates", headers=viewer, json={"audience": "customers"}
    )
    assert r.status_code == 403
    r = client.post(
        f"/api/v1/incidents/{incident_id}/updates",
        headers=author,
        json={"audience": "customers", "component_status": "partial_outage"},
    )
    assert r.status_code == 201, r.text
    update = r.json()
    assert update["subject"] == "Problem: Checkout errors"
    assert update["body"] == "We are looking into checkout."
    uid = update["id"]
    assert client.get("/api/v1/status/banner").json()["active"] is False
    assert (
        client.post(f"/api/v1/incident-updates/{uid}/publish", headers=author).json()["code"]
        == "review_required"
    )
    assert client.post(f"/api/v1/incident-updates/{uid}/submit", headers=author).status_code == 200
    r = client.post(
        f"/api/v1/incident-updates/{uid}/review", headers=author, json={"approve": True}
    )
    assert r.status_code == 409 and r.json()["code"] == "self_review"
    r = client.post(
        f"/api/v1/incident-updates/{uid}/review", headers=reviewer, json={"approve": True}
    )
    assert r.json()["state"] == "approved"
    r = client.post(f"/api/v1/incident-updates/{uid}/publish", headers=reviewer)
    assert r.json()["state"] == "published"
    listed = client.get(f"/api/v1/incidents/{incident_id}/updates", headers=viewer).json()
    assert [u["id"] for u in listed] == [uid]

    # public, no token
    page = client.get("/api/v1/status?days=7")
    assert page.status_code == 200
    body = page.json()
    assert body["status"] == "partial_outage" and len(body["services"][0]["history"]) == 7
    assert body["open_incidents"][0]["updates"][0]["body"] == "We are looking into checkout."
    banner = client.get("/api/v1/status/banner?service=checkout")
    assert banner.headers["cache-control"] == "public, max-age=30"
    assert banner.json()["subject"] == "Problem: Checkout errors"
    etag = banner.headers["etag"]
    again = client.get("/api/v1/status/banner?service=checkout", headers={"If-None-Match": etag})
    assert again.status_code == 304
    macro = client.get(f"/api/v1/incidents/{incident_id}/macro", headers=viewer).json()
    assert macro["ticket_tag"] == f"incident-{incident_id}"


def test_public_subscriptions(client: Any, db: Database) -> None:
    r = client.post("/api/v1/status/subscriptions", json={"kind": "email", "target": "nope"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_email"
    r = client.post(
        "/api/v1/status/subscriptions",
        json={"kind": "webhook", "target": "https://hooks.example.com/s"},
    )
    assert r.status_code == 201
    token = r.json()["token"]
    assert client.delete(f"/api/v1/status/subscriptions/{token}").status_code == 204
    assert client.delete(f"/api/v1/status/subscriptions/{token}").status_code == 404


def test_postmortem_api(client: Any, db: Database) -> None:
    writer = _headers(db, "ops", ["read", "write"])
    viewer = _headers(db, "viewer", ["read"])
    incident_id = make_incident(db, status="resolved", resolved_at=T0 + timedelta(hours=1))
    with unit_of_work(db) as session:
        session.add(RootCauseCategory(code="change.deploy", name="Deploy"))
    r = client.post(f"/api/v1/incidents/{incident_id}/postmortem", headers=writer)
    assert r.status_code == 201, r.text
    pm = r.json()
    assert pm["facts"]["durations_minutes"]["to_resolve"] == 60.0
    pid = pm["id"]
    r = client.post(f"/api/v1/postmortems/{pid}/submit", headers=writer)
    assert r.status_code == 422 and r.json()["code"] == "postmortem_incomplete"
    assert r.json()["missing"] == ["customer experience", "a contributing factor"]
    r = client.patch(
        f"/api/v1/postmortems/{pid}",
        headers=writer,
        json={"customer_experience": "Payments failed for an hour."},
    )
    assert r.json()["customer_experience_by"]
    r = client.post(
        f"/api/v1/postmortems/{pid}/factors",
        headers=writer,
        json={"category": "unknown", "description": "x"},
    )
    assert r.json()["code"] == "unknown_root_cause"
    r = client.post(
        f"/api/v1/postmortems/{pid}/factors",
        headers=writer,
        json={"category": "change.deploy", "description": "bad flag", "primary": True},
    )
    assert r.status_code == 201
    r = client.post(
        f"/api/v1/postmortems/{pid}/actions",
        headers=writer,
        json={"title": "Canary deploys", "owner": "dana", "due_on": "2026-12-01"},
    )
    assert r.status_code == 201
    aid = r.json()["id"]
    assert client.patch(
        f"/api/v1/postmortem-actions/{aid}", headers=writer, json={"status": "done"}
    ).json()["done_at"]
    assert client.post(f"/api/v1/postmortems/{pid}/submit", headers=writer).json()["state"] == (
        "in_review"
    )
    assert client.post(f"/api/v1/postmortems/{pid}/publish", headers=viewer).status_code == 403
    assert client.post(f"/api/v1/postmortems/{pid}/publish", headers=writer).json()["state"] == (
        "published"
    )
    md = client.get(f"/api/v1/postmortems/{pid}.md", headers=viewer)
    assert md.headers["content-type"].startswith("text/markdown")
    assert "## Customer experience\n\nPayments failed for an hour." in md.text
    assert "| Canary deploys | fix | dana | 2026-12-01 | done |" in md.text
    listed = client.get("/api/v1/postmortems?state=published", headers=viewer).json()
    assert [p["id"] for p in listed] == [pid]
    assert (
        client.get(f"/api/v1/postmortems/{pid}", headers=viewer).json()["factors"][0]["primary"]
        is True
    )
