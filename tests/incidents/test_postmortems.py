"""Blameless post-mortems: automatic facts, completeness, publication, Markdown export."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from juncture.incidents import postmortems as pms
from juncture.incidents import service as incident_service
from juncture.incidents.common import record_timeline, timeline
from juncture.incidents.enums import Status
from juncture.incidents.models import Incident, RootCauseCategory
from juncture.kit.errors import Conflict, Invalid
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work
from tests.incidents.test_comms import ALICE, BOB, T0, make_incident


def _resolved(db: Database) -> int:
    incident_id = make_incident(
        db,
        status="resolved",
        detected_at=T0 + timedelta(minutes=3),
        acknowledged_at=T0 + timedelta(minutes=4),
        impact_ended_at=T0 + timedelta(minutes=50),
        resolved_at=T0 + timedelta(hours=3),
        impact={"customers_affected": 1200, "customer_minutes": 36000, "extra_tickets": 140},
    )
    with unit_of_work(db, actor=ALICE) as session:
        record_timeline(session, incident_id=incident_id, kind="declared", text="declared", at=T0)
        record_timeline(
            session,
            incident_id=incident_id,
            kind="deploy",
            text="checkout v42 rolled back",
            at=T0 + timedelta(minutes=45),
        )
        session.add_all(
            [
                RootCauseCategory(code="change.deploy", name="Deploy"),
                RootCauseCategory(code="capacity", name="Capacity"),
                RootCauseCategory(code="old.retired", name="Retired", active=False),
            ]
        )
    return incident_id


def _create(db: Database, incident_id: int) -> int:
    with unit_of_work(db, actor=ALICE) as session:
        return pms.create_postmortem(session, incident_id=incident_id).id


def test_only_resolved_incidents_get_one_postmortem(db: Database) -> None:
    open_id = make_incident(db)
    with unit_of_work(db, actor=ALICE) as session, pytest.raises(Conflict) as exc:
        pms.create_postmortem(session, incident_id=open_id)
    assert exc.value.code == "incident_not_resolved"
    incident_id = _resolved(db)
    _create(db, incident_id)
    with unit_of_work(db, actor=ALICE) as session, pytest.raises(Conflict) as exc:
        pms.create_postmortem(session, incident_id=incident_id)
    assert exc.value.code == "postmortem_exists"


def test_draft_is_filled_with_facts(db: Database) -> None:
    incident_id = _resolved(db)
    pm_id = _create(db, incident_id)
    with unit_of_work(db) as session:
        pm = pms.get_postmortem_or_raise(session, postmortem_id=pm_id)
        assert pm.title == "Post-mortem: Checkout errors" and pm.state == "draft"
        assert pm.authors == ["alice@example.com"]
        durations = pm.facts["durations_minutes"]
        assert durations == {
            "to_detect": 3.0,
            "to_acknowledge": 4.0,
            "to_declare": 5.0,
            "to_mitigate": 50.0,
            "to_resolve": 180.0,
        }
        assert pm.facts["customer_minutes"] == 36000
        assert pm.facts["impact"]["extra_tickets"] == 140
        assert [e["text"] for e in pm.facts["timeline"]] == ["declared", "checkout v42 rolled back"]
        record_timeline(session, incident_id=incident_id, kind="note", text="late note", at=T0)
        pms.refresh_facts(session, postmortem_id=pm_id)
        assert [e["text"] for e in pm.facts["timeline"]][-1] == "checkout v42 rolled back"
        assert [e["text"] for e in pm.facts["timeline"]][0:2] == ["declared", "late note"]


def test_factors_are_validated_and_primary_sets_root_cause(db: Database) -> None:
    incident_id = _resolved(db)
    pm_id = _create(db, incident_id)
    with unit_of_work(db, actor=ALICE) as session:
        for code in ("nope", "old.retired"):
            with pytest.raises(Invalid) as exc:
                pms.add_factor(session, postmortem_id=pm_id, category=code, description="x")
            assert exc.value.code == "unknown_root_cause"
        pms.add_factor(
            session, postmortem_id=pm_id, category="capacity", description="a", primary=True
        )
        second = pms.add_factor(
            session, postmortem_id=pm_id, category="change.deploy", description="b", primary=True
        )
        assert session.get(Incident, incident_id).root_cause == "change.deploy"  # type: ignore[union-attr]
        assert [f.primary for f in pms.list_factors(session, postmortem_id=pm_id)] == [True, False]
        pms.remove_factor(session, postmortem_id=pm_id, factor_id=second.id)
        assert session.get(Incident, incident_id).root_cause is None  # type: ignore[union-attr]


def test_incomplete_postmortem_cannot_be_submitted(db: Database) -> None:
    pm_id = _create(db, _resolved(db))
    with unit_of_work(db, actor=ALICE) as session:
        pms.update_postmortem(session, postmortem_id=pm_id, summary="")
        with pytest.raises(Invalid) as exc:
            pms.submit_postmortem(session, postmortem_id=pm_id)
        assert exc.value.code == "postmortem_incomplete"
        assert exc.value.extra["missing"] == [
            "summary",
            "customer experience",
            "a contributing factor",
        ]
        pms.update_postmortem(session, postmortem_id=pm_id, summary="Deploy broke payments")
        with pytest.raises(Invalid) as exc:
            pms.submit_postmortem(session, postmortem_id=pm_id)
        assert exc.value.extra["missing"] == ["customer experience", "a contributing factor"]


def test_publish_marks_incident_reviewed_and_freezes_it(db: Database) -> None:
    incident_id = _resolved(db)
    pm_id = _create(db, incident_id)
    with unit_of_work(db, actor=ALICE) as session:
        _complete(
            session,
            pm_id,
            customer_experience="Customers saw a spinner, then an error; 140 extra tickets.",
            customer_experience_by="carol (CX lead)",
            lessons="Canary checkout deploys",
        )
        with pytest.raises(Conflict):
            pms.publish_postmortem(session, postmortem_id=pm_id)
        pms.submit_postmortem(session, postmortem_id=pm_id)
    with unit_of_work(db, actor=BOB) as session:
        pm = pms.publish_postmortem(session, postmortem_id=pm_id, now=T0 + timedelta(days=2))
        assert pm.state == "published" and pm.reviewers == ["bob@example.com"]
        incident = session.get(Incident, incident_id)
        assert incident is not None and incident.status == "reviewed"
        assert incident.reviewed_at == T0 + timedelta(days=2)
        entries = timeline(session, incident_id=incident_id, kinds=["status"])
        assert [(e.text, e.at) for e in entries] == [
            ("Status resolved → reviewed: post-mortem published", T0 + timedelta(days=2))
        ]
        with pytest.raises(Conflict) as exc:
            pms.update_postmortem(session, postmortem_id=pm_id, summary="rewrite history")
        assert exc.value.code == "postmortem_published"
        assert [p.id for p in pms.list_postmortems(session, state="published")] == [pm_id]
        assert pms.list_postmortems(session, state="draft") == []


def _complete(session: Any, pm_id: int, **fields: str) -> None:
    """Fill what submitting needs: a summary, the customer experience, a contributing factor."""
    pms.update_postmortem(session, postmortem_id=pm_id, summary="Deploy broke payments", **fields)
    pms.add_factor(session, postmortem_id=pm_id, category="change.deploy", description="bad config")


def test_a_reopened_incident_is_not_marked_reviewed(db: Database) -> None:
    incident_id = _resolved(db)
    pm_id = _create(db, incident_id)
    with unit_of_work(db, actor=ALICE) as session:
        _complete(session, pm_id, customer_experience="Customers saw errors.")
        pms.submit_postmortem(session, postmortem_id=pm_id)
        # reopened while the post-mortem was in review
        incident_service.transition(session, incident_id=incident_id, to=Status.INVESTIGATING)
    with unit_of_work(db, actor=BOB) as session, pytest.raises(Conflict) as exc:
        pms.publish_postmortem(session, postmortem_id=pm_id)
    assert exc.value.code == "invalid_transition"
    with unit_of_work(db) as session:
        assert pms.get_postmortem_or_raise(session, postmortem_id=pm_id).state == "in_review"
        incident = session.get(Incident, incident_id)
        assert incident is not None and incident.status == "investigating"


def test_actions_and_markdown_export(db: Database) -> None:
    pm_id = _create(db, _resolved(db))
    with unit_of_work(db, actor=ALICE) as session:
        pms.update_postmortem(
            session,
            postmortem_id=pm_id,
            customer_experience="Customers could not pay for 50 minutes.",
        )
        pm = pms.get_postmortem_or_raise(session, postmortem_id=pm_id)
        assert pm.customer_experience_by == "alice@example.com"
        item = pms.add_action(
            session,
            postmortem_id=pm_id,
            title="Add canary for checkout",
            owner="dana",
            due_on=date(2026, 12, 1),
        )
        pms.add_action(
            session, postmortem_id=pm_id, title="Macro for agents", owner="eve", kind="cx"
        )
        with pytest.raises(Invalid):
            pms.add_action(session, postmortem_id=pm_id, title="x", owner="y", kind="blame")
        done = pms.update_action(session, action_id=item.id, status="done", now=T0)
        assert done.done_at == T0
        assert pms.update_action(session, action_id=item.id, status="open").done_at is None
        md = pms.postmortem_markdown(session, postmortem_id=pm_id)
    assert "## Customer experience\n\nCustomers could not pay for 50 minutes." in md
    assert "| Add canary for checkout | fix | dana | 2026-12-01 | open |" in md
    assert "| Macro for agents | cx | eve | — | open |" in md
    assert "customer-minutes lost: 36000" in md
    assert "| to mitigate | 50 min |" in md
    assert "checkout v42 rolled back" in md
