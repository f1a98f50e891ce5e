"""The impact and linked-tickets routes, and the periodic job that keeps open incidents'
timelines and impact current."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from juncture.config import Settings
from juncture.incidents import service
from juncture.incidents.enums import Status
from juncture.incidents.schemas import IncidentCreate
from juncture.kit import clock
from juncture.signals import service as signals_service
from juncture.simulate.load import seed_catalog
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work
from tests.factories import make_token, make_user
from tests.incidents.test_linking import _ticket


def _headers(db: Database, scopes: list[str]) -> dict[str, str]:
    user = make_user(db, role="ops")
    return {"Authorization": f"Bearer {make_token(db, user_id=user, scopes=scopes)}"}


def _incident(db: Database, settings: Settings) -> tuple[int, Any]:
    """An open checkout incident that started 30 minutes ago, with tickets around it."""
    seed_catalog(db)
    now = clock.now().replace(microsecond=0)
    start = now - timedelta(minutes=30)
    records = [
        _ticket("T1", 0, service="checkout", text="Checkout keeps failing"),
        _ticket("T2", 5, service="checkout", category="payment-issue"),
        _ticket("T9", 10, region="us"),  # another region, another service
    ]
    for r in records:  # shift the fixture's times to just now
        minutes = {"T1": 5, "T2": 10, "T9": 12}[r["ticket_id"]]
        r["ts"] = (start + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with unit_of_work(db) as session:
        assert (
            signals_service.ingest(
                session, records=records, settings=settings, source="test"
            ).accepted
            == 3
        )
        incident = service.declare(
            session,
            data=IncidentCreate(
                title="Checkout failing in Europe",
                severity="sev3",
                services=["checkout"],
                regions=["eu"],
                started_at=start,
            ),
        )
        return incident.id, now


def test_impact_route_measures_and_serves_the_stored_figures(
    client: TestClient, db: Database, settings: Settings
) -> None:
    iid, _ = _incident(db, settings)
    headers = _headers(db, ["read"])
    first = client.get(f"/api/v1/incidents/{iid}/impact", headers=headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["incident_id"] == iid and body["computed_at"]
    assert body["tickets"]["linked"] == 2  # T1 and T2; T9 is elsewhere
    assert {"customers_affected", "lost_conversions", "series", "sla"} <= set(body)
    again = client.get(f"/api/v1/incidents/{iid}/impact", headers=headers).json()
    assert again["computed_at"] == body["computed_at"]  # fresh: served, not measured again
    forced = client.get(f"/api/v1/incidents/{iid}/impact?refresh=true", headers=headers).json()
    assert forced["computed_at"] >= body["computed_at"]
    missing = client.get("/api/v1/incidents/999/impact", headers=headers)
    assert missing.status_code == 404 and missing.json()["code"] == "incident_not_found"


def test_linked_tickets_can_be_edited(client: TestClient, db: Database, settings: Settings) -> None:
    iid, _ = _incident(db, settings)
    reader, writer = _headers(db, ["read"]), _headers(db, ["read", "write"])
    client.get(f"/api/v1/incidents/{iid}/impact", headers=reader)  # links automatically
    linked = client.get(f"/api/v1/incidents/{iid}/tickets", headers=reader).json()
    assert sorted(t["ticket_id"] for t in linked) == ["T1", "T2"]
    assert all(t["linked_by"] == "auto" and t["reasons"] for t in linked)

    assert client.delete(f"/api/v1/incidents/{iid}/tickets/T2", headers=reader).status_code == 403
    assert client.delete(f"/api/v1/incidents/{iid}/tickets/T2", headers=writer).status_code == 204
    made = client.post(f"/api/v1/incidents/{iid}/tickets", json={"ref": "T9"}, headers=writer)
    assert made.status_code == 201 and made.json()["linked_by"] != "auto"
    unknown = client.post(f"/api/v1/incidents/{iid}/tickets", json={"ref": "nope"}, headers=writer)
    assert unknown.status_code == 404 and unknown.json()["code"]
    # measuring again does not bring the unlinked ticket back
    client.get(f"/api/v1/incidents/{iid}/impact?refresh=true", headers=reader)
    answer = client.get(f"/api/v1/incidents/{iid}/tickets", headers=reader).json()
    refs = {t["ticket_id"] for t in answer}
    assert refs == {"T1", "T9"}


def test_refresh_job_measures_open_and_just_resolved_incidents(
    db: Database, settings: Settings
) -> None:
    from juncture.incidents.jobs import refresh_open

    iid, now = _incident(db, settings)
    with unit_of_work(db) as session:
        result = refresh_open(session)
        assert result["measured"] == 1
        incident = service.get_incident_or_raise(session, incident_id=iid)
        assert incident.impact_computed_at is not None and incident.impact["tickets"]["linked"] == 2
        service.transition(session, incident_id=iid, to=Status.RESOLVED)
    with unit_of_work(db) as session:
        assert refresh_open(session)["measured"] == 1  # resolved within the hour: once more
        service.get_incident_or_raise(session, incident_id=iid).resolved_at = now - timedelta(
            hours=2
        )
    with unit_of_work(db) as session:
        assert refresh_open(session)["measured"] == 0
