"""Incident communications: sandboxed templates, the review flow and the frontline macro."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from juncture.incidents import comms
from juncture.incidents.common import timeline
from juncture.incidents.models import Incident, StatusNotification
from juncture.incidents.status import subscribe
from juncture.kit.errors import Conflict, Invalid
from juncture.store.engine import Database
from juncture.store.uow import Actor, unit_of_work
from tests.factories import make_service

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
ALICE = Actor(kind="user", user_id=1, label="alice@example.com", scopes=frozenset({"write"}))
BOB = Actor(kind="user", user_id=2, label="bob@example.com", scopes=frozenset({"write"}))


def make_incident(db: Database, **kw: Any) -> int:
    data: dict[str, Any] = {
        "title": "Checkout errors",
        "summary": "Payments time out",
        "severity": "sev2",
        "status": "investigating",
        "services": ["checkout"],
        "regions": ["eu"],
        "started_at": T0,
        "declared_at": T0 + timedelta(minutes=5),
        "impact": {"customers_affected": 1200, "lost_conversions": 80},
    } | kw
    with unit_of_work(db) as session:
        incident = Incident(**data)
        session.add(incident)
        session.flush()
        return incident.id


def _draft(db: Database, incident_id: int, actor: Actor = ALICE, **kw: Any) -> int:
    with unit_of_work(db, actor=actor) as session:
        comms.ensure_default_templates(session)
        return comms.draft_update(session, incident_id=incident_id, now=T0, **kw).id


def _as(db: Database, actor: Actor, func: Any, **kw: Any) -> Any:
    with unit_of_work(db, actor=actor) as session:
        result = func(session, **kw)
        return getattr(result, "state", result)


# ---------------------------------------------------------------- sandbox


def test_sandbox_refuses_unsafe_templates(db: Database) -> None:
    incident_id = make_incident(db)
    with unit_of_work(db, actor=ALICE) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        ctx = comms.template_context(incident, status_url="https://s.test/status")
        for unsafe in (
            "{{ ''.__class__.__mro__ }}",
            "{{ incident.services.append('x') }}",
            "{{ incident.title.__class__ }}",
        ):
            with pytest.raises(Invalid) as exc:
                comms.render_text(unsafe, ctx)
            assert exc.value.code == "template_unsafe", unsafe
        assert comms.render_text(
            "{{ incident.title }} / {{ incident.impact.lost_conversions }}", ctx
        ) == ("Checkout errors / 80")


def test_undefined_variable_and_syntax_errors(db: Database) -> None:
    incident_id = make_incident(db)
    with unit_of_work(db, actor=ALICE) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        with pytest.raises(Invalid) as exc:
            comms.render_text("Hi {{ customer_name }}", comms.template_context(incident))
        assert exc.value.code == "template_error"
        assert "customer_name" in exc.value.detail
        with pytest.raises(Invalid) as exc:
            comms.create_template(
                session,
                name="broken",
                phase="investigating",
                audience="customers",
                subject="{{ incident.title",
                body="x",
            )
        assert exc.value.code == "template_error"
        with pytest.raises(Invalid) as exc:
            comms.create_template(
                session, name="x", phase="nope", audience="customers", subject="s", body="b"
            )
        assert exc.value.code == "invalid_phase"


def test_template_crud_and_duplicates(db: Database) -> None:
    with unit_of_work(db, actor=ALICE) as session:
        assert comms.ensure_default_templates(session) == 12
        assert comms.ensure_default_templates(session) == 0
        t = comms.create_template(
            session,
            name="short",
            phase="identified",
            audience="customers",
            subject="Cause found",
            body="{{ incident.title }}",
        )
        with pytest.raises(Conflict) as exc:
            comms.create_template(
                session,
                name="short",
                phase="identified",
                audience="customers",
                subject="a",
                body="b",
            )
        assert exc.value.code == "template_exists"
        comms.update_template(session, template_id=t.id, body="Fixed: {{ incident.title }}")
        assert comms.get_template_or_raise(session, template_id=t.id).body.startswith("Fixed")
        comms.delete_template(session, template_id=t.id)
        assert len(comms.list_templates(session, phase="identified", audience="customers")) == 1


# ---------------------------------------------------------------- review flow


def test_draft_renders_the_template_of_the_current_phase(db: Database) -> None:
    incident_id = make_incident(db, status="identified")
    update_id = _draft(db, incident_id, audience="customers", component_status="partial_outage")
    with unit_of_work(db) as session:
        update = comms.get_update_or_raise(session, update_id=update_id)
        assert update.phase == "identified"
        assert update.subject == "Identified: Checkout errors"
        assert "checkout" in update.body and "/status" in update.body
        assert update.author == "alice@example.com"
        assert update.state == "draft"
        assert update.services == ["checkout"] and update.regions == ["eu"]
        kinds = [e.kind for e in timeline(session, incident_id=incident_id)]
        assert kinds == ["update"]


def test_customer_update_needs_approval_by_someone_else(db: Database) -> None:
    incident_id = make_incident(db)
    update_id = _draft(db, incident_id, audience="customers")
    with pytest.raises(Conflict) as exc:
        _as(db, ALICE, comms.publish_update, update_id=update_id)
    assert exc.value.code == "review_required"
    _as(db, ALICE, comms.submit_update, update_id=update_id)
    with pytest.raises(Conflict) as exc:
        _as(db, BOB, comms.publish_update, update_id=update_id)
    assert exc.value.code == "review_required"
    with pytest.raises(Conflict) as exc:
        _as(db, ALICE, comms.review_update, update_id=update_id, approve=True)
    assert exc.value.code == "self_review"
    assert _as(db, BOB, comms.review_update, update_id=update_id, approve=True) == "approved"
    assert _as(db, ALICE, comms.publish_update, update_id=update_id) == "published"
    with unit_of_work(db) as session:
        update = comms.get_update_or_raise(session, update_id=update_id)
        assert update.reviewer == "bob@example.com"
        assert update.published_by == "alice@example.com"
        assert session.get(Incident, incident_id).public is True  # type: ignore[union-attr]
        texts = [e.text for e in timeline(session, incident_id=incident_id)]
        assert len(texts) == 4 and texts[-1].startswith("customers update published")


def test_rejected_update_cannot_be_published(db: Database) -> None:
    incident_id = make_incident(db)
    update_id = _draft(db, incident_id, audience="customers")
    _as(db, ALICE, comms.submit_update, update_id=update_id)
    assert (
        _as(db, BOB, comms.review_update, update_id=update_id, approve=False, comment="tone")
        == "rejected"
    )
    with pytest.raises(Conflict) as exc:
        _as(db, ALICE, comms.publish_update, update_id=update_id)
    assert exc.value.code == "review_required"
    # revised and resubmitted, it can go through again
    _as(db, ALICE, comms.revise_update, update_id=update_id, body="Better words.")
    _as(db, ALICE, comms.submit_update, update_id=update_id)
    _as(db, BOB, comms.review_update, update_id=update_id, approve=True)
    assert _as(db, BOB, comms.publish_update, update_id=update_id) == "published"


def test_internal_update_may_be_published_from_draft(db: Database) -> None:
    incident_id = make_incident(db)
    update_id = _draft(db, incident_id, audience="executives")
    assert _as(db, ALICE, comms.publish_update, update_id=update_id) == "published"
    with unit_of_work(db) as session:
        update = comms.get_update_or_raise(session, update_id=update_id)
        assert "1200" in update.body  # impact numbers reach the executive template
        assert session.get(Incident, incident_id).public is False  # type: ignore[union-attr]


def test_publishing_queues_notifications_for_matching_subscribers(db: Database) -> None:
    make_service(db, slug="checkout")
    make_service(db, slug="search")
    incident_id = make_incident(db)
    with unit_of_work(db) as session:
        everything = subscribe(session, kind="email", target="all@example.com").id
        checkout = subscribe(
            session, kind="webhook", target="https://hooks.test/x", services=["checkout"]
        ).id
        subscribe(session, kind="email", target="search@example.com", services=["search"])
    internal = _draft(db, incident_id, audience="frontline")
    _as(db, ALICE, comms.publish_update, update_id=internal)
    update_id = _draft(db, incident_id, audience="customers")
    _as(db, ALICE, comms.submit_update, update_id=update_id)
    _as(db, BOB, comms.review_update, update_id=update_id, approve=True)
    _as(db, BOB, comms.publish_update, update_id=update_id)
    with unit_of_work(db) as session:
        rows = session.scalars(select(StatusNotification)).all()
        assert sorted((r.update_id, r.subscription_id) for r in rows) == sorted(
            [(update_id, everything), (update_id, checkout)]
        )
        assert {r.state for r in rows} == {"pending"}


# ---------------------------------------------------------------- frontline macro


def test_frontline_macro_uses_template_then_latest_published_update(db: Database) -> None:
    incident_id = make_incident(db, status="monitoring")
    with unit_of_work(db) as session:
        macro = comms.frontline_macro(session, incident_id=incident_id)
    assert macro["source"] == "template"
    assert macro["ticket_tag"] == f"incident-{incident_id}"
    assert macro["phase"] == "monitoring"
    assert "fix for the problem with checkout" in macro["body"]
    update_id = _draft(
        db, incident_id, audience="frontline", subject="Checkout issue", body="We are on it."
    )
    with unit_of_work(db) as session:  # a draft is not the answer yet
        assert comms.frontline_macro(session, incident_id=incident_id)["source"] == "template"
    _as(db, ALICE, comms.publish_update, update_id=update_id)
    with unit_of_work(db) as session:
        macro = comms.frontline_macro(session, incident_id=incident_id)
    assert macro["source"] == "update" and macro["body"] == "We are on it."
    assert macro["update_id"] == update_id


def test_draft_falls_back_to_builtin_templates_and_needs_text_otherwise(db: Database) -> None:
    incident_id = make_incident(db, status="declared")
    with unit_of_work(db, actor=ALICE) as session:  # no template stored at all
        update = comms.draft_update(session, incident_id=incident_id, audience="customers")
        assert update.phase == "investigating" and update.template_id is None
        assert update.subject == "Investigating: Checkout errors"
        own = comms.draft_update(
            session, incident_id=incident_id, audience="executives", subject="S", body="B"
        )
        assert (own.subject, own.body) == ("S", "B")
        with pytest.raises(Invalid) as exc:
            comms.draft_update(session, incident_id=incident_id, audience="press")
        assert exc.value.code == "invalid_audience"
