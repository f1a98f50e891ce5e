"""Ticket linking: automatic by time, region, service, category and text; manual links and
exclusions that automatic linking respects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from juncture.config import Settings
from juncture.incidents import linking
from juncture.incidents.models import Incident
from juncture.kit.errors import NotFound
from juncture.signals import service as signals_service
from juncture.simulate.load import seed_catalog
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def _ticket(ref: str, minutes: float, **kw: Any) -> dict[str, Any]:
    at = T0 + timedelta(minutes=minutes)
    return {
        "type": "ticket",
        "id": f"{ref}-01",
        "ts": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ticket_id": ref,
        "kind": "created",
        "actor_kind": "customer",
        "region": "eu",
        "service": "web",
        "category": "website-problem",
        "text": "Where is my parcel",
    } | kw


@pytest.fixture
def setup(db: Database, settings: Settings) -> int:
    seed_catalog(db)
    records = [
        # in the window, region and service: linked on the service alone
        _ticket("T1", 10, service="checkout", text="Checkout keeps failing"),
        # lag after the end (3 h allowed): linked
        _ticket("T2", 60 + 150, service="checkout", category="payment-issue"),
        # too late
        _ticket("T3", 60 + 200, service="checkout"),
        # wrong region
        _ticket("T4", 20, service="checkout", region="us", category="payment-issue"),
        # other service, unrelated text: not linked
        _ticket("T5", 15),
        # other service but the incident's words and a hand-linked ticket's category: linked
        _ticket(
            "T6",
            25,
            category="payment-issue",
            text="Checkout failing with errors in Europe since the release",
        ),
        # before the 30-minute pre-window
        _ticket("T7", -45, service="checkout"),
    ]
    with unit_of_work(db) as session:
        result = signals_service.ingest(session, records=records, settings=settings, source="t")
        assert result.accepted == len(records)
        incident = Incident(
            title="Checkout failing in Europe",
            summary="Checkout errors after release",
            severity="sev2",
            services=["checkout"],
            regions=["eu"],
            started_at=T0,
            impact_ended_at=T0 + timedelta(minutes=60),
            declared_at=T0,
        )
        session.add(incident)
        session.flush()
        return incident.id


def _linked(db: Database, incident_id: int) -> set[str]:
    with unit_of_work(db) as session:
        return {r.ticket_id for r in linking.linked_tickets(session, incident_id=incident_id)}


def test_automatic_linking(db: Database, setup: int) -> None:
    now = T0 + timedelta(hours=6)
    with unit_of_work(db) as session:
        result = linking.link_tickets(session, incident_id=setup, now=now)
    assert _linked(db, setup) == {"T1", "T2"}
    assert result["added"] == 2
    # a person links a payment ticket: its category now counts, and T6 (category + words of
    # the incident) joins; T5 (neither) stays out
    with unit_of_work(db) as session:
        linking.link_ticket(session, incident_id=setup, ticket_ref="T4", actor="ana")
        linking.link_tickets(session, incident_id=setup, now=now)
    assert _linked(db, setup) == {"T1", "T2", "T4", "T6"}
    # unlinking excludes for good: automatic linking does not bring it back
    with unit_of_work(db) as session:
        linking.unlink_ticket(session, incident_id=setup, ticket_ref="T1", actor="ana")
        again = linking.link_tickets(session, incident_id=setup, now=now)
    assert again["added"] == 0
    assert _linked(db, setup) == {"T2", "T4", "T6"}
    # idempotent
    with unit_of_work(db) as session:
        assert linking.link_tickets(session, incident_id=setup, now=now)["added"] == 0


def test_scores_and_errors(db: Database, setup: int) -> None:
    row = signals_service.TicketRow(
        "X", 0, None, None, "payment-issue", None, "eu", None, "checkout", None, None
    )
    score, reasons = linking.score_ticket(
        row,
        "checkout failing",
        services={"checkout"},
        categories={"payment-issue"},
        words={"checkout", "failing"},
    )
    assert score >= linking.THRESHOLD and len(reasons) == 3
    service_only, _ = linking.score_ticket(
        row, "something else", services={"checkout"}, categories=set(), words=set()
    )
    assert service_only >= linking.THRESHOLD  # the incident's own service in its window
    elsewhere = signals_service.TicketRow(
        "Y", 0, None, None, "website-problem", None, "eu", None, "web", None, None
    )
    words_only, _ = linking.score_ticket(
        elsewhere,
        "checkout failing",
        services={"checkout"},
        categories={"payment-issue"},
        words={"checkout", "failing"},
    )
    assert words_only < linking.THRESHOLD  # shared words alone do not link a ticket
    with unit_of_work(db) as session, pytest.raises(NotFound):
        linking.link_ticket(session, incident_id=setup, ticket_ref="nope", actor="ana")
