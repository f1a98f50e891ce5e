"""Incident core service: declaring (by hand and from an alert), the lifecycle with invalid
moves and reopening, role hand-overs, severity, timeline capture of alert events and deploys,
playbooks and checklists, export, the root-cause taxonomy and severity tiers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from juncture.catalog import service as catalog_service
from juncture.catalog.schemas import RegionCreate
from juncture.detect import service as detect_service
from juncture.incidents import defaults, service
from juncture.incidents.common import timeline
from juncture.incidents.enums import Role, Sev, Status
from juncture.incidents.schemas import (
    IncidentCreate,
    IncidentPatch,
    PlaybookCreate,
    PlaybookStep,
    RootCauseCreate,
    RootCauseUpdate,
    SeverityTierUpdate,
    TierCriteria,
)
from juncture.incidents.severity import suggest
from juncture.kit.errors import Conflict, Invalid, NotFound
from juncture.store.engine import Database
from juncture.store.uow import Actor, unit_of_work
from tests.detect.world import company, ingest, iso

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
ALICE = Actor(kind="user", user_id=None, label="alice@example.com", scopes=frozenset({"write"}))


@pytest.fixture
def world(db: Database) -> int:
    """The detect test company (services web and checkout, journey purchase), region eu and
    the default tiers, taxonomy and playbooks."""
    team = company(db)
    with unit_of_work(db) as session:
        catalog_service.create_region(session, data=RegionCreate(slug="eu", name="Europe"))
        defaults.ensure_defaults(session)
    return team


def _declare(db: Database, now: datetime = T0, **kw: Any) -> int:
    data: dict[str, Any] = {
        "title": "Checkout errors",
        "severity": "sev2",
        "services": ["checkout"],
    }
    with unit_of_work(db, actor=ALICE) as session:
        return service.declare(session, data=IncidentCreate(**(data | kw)), now=now).id


def _alert(db: Database, key: str = "checkout|errors", at: datetime = T0, **kw: Any) -> int:
    data: dict[str, Any] = {
        "dedup_key": key,
        "title": "Checkout error rate up",
        "summary": "5xx at 12%",
        "severity": "critical",
        "services": ["checkout"],
        "journeys": ["purchase"],
        "evidence": {"regions": ["eu", "mars"]},
        "at": at,
    } | kw
    with unit_of_work(db) as session:
        return detect_service.raise_alert(session, **data).id


def _texts(db: Database, incident_id: int, kind: str | None = None) -> list[str]:
    with unit_of_work(db) as session:
        rows = timeline(session, incident_id=incident_id, kinds=[kind] if kind else None)
        return [e.text for e in rows]


def test_defaults_are_idempotent_and_feed_severity_rules(db: Database) -> None:
    with unit_of_work(db) as session:
        first = defaults.ensure_defaults(session)
        again = defaults.ensure_defaults(session)
        rules = service.tier_rules(session)
        codes = {c.code: c.parent for c in service.list_root_causes(session)}
    assert first == {"tiers": 4, "root_causes": len(defaults.DEFAULT_ROOT_CAUSES), "playbooks": 3}
    assert again == {"tiers": 0, "root_causes": 0, "playbooks": 0}
    assert codes["change.deploy"] == "change" and codes["change"] is None
    assert suggest(rules, {"orders_share": 0.3})[0] is Sev.SEV1
    assert suggest(rules, {"orders_share": 0.15})[0] is Sev.SEV2
    assert suggest(rules, {"orders_share": 0.05})[0] is Sev.SEV3
    assert suggest(rules, {"orders_share": 0.001, "customers_share": 0.9})[0] is Sev.SEV4


def test_declare_records_timeline_playbook_and_checks_catalog(db: Database, world: int) -> None:
    with unit_of_work(db, actor=ALICE) as session, pytest.raises(Invalid) as err:
        service.declare(
            session,
            data=IncidentCreate(title="x", severity=Sev.SEV3, services=["checkout", "nope"]),
        )
    assert err.value.code == "unknown_service" and "nope" in err.value.detail
    with unit_of_work(db, actor=ALICE) as session, pytest.raises(Invalid) as err:
        service.declare(
            session,
            data=IncidentCreate(title="x", severity=Sev.SEV3, services=[], regions=["mars"]),
        )
    assert err.value.code == "unknown_region"

    incident_id = _declare(db, kind="deploy", regions=["eu"], journeys=["purchase"])
    with unit_of_work(db) as session:
        incident = service.get_incident(session, incident_id=incident_id)
        read = service.incident_read(session, incident)
        assert incident.status == "declared" and incident.declared_by == ALICE.label
        assert incident.started_at == T0 and incident.declared_at == T0
    # generic + deploy playbooks match (kind deploy); the payments one needs payments/checkout
    titles = [i.title for i in read.checklist]
    assert "Roll back the suspect release" in titles
    assert "Offer an alternative payment method" in titles  # checkout matches the payments book
    assert read.checklist_progress == 0.0
    assert read.authority["rollback"] == "commander"  # sev2 tier
    assert read.ack_minutes == 15
    texts = _texts(db, incident_id)
    assert texts[0] == "alice@example.com declared a sev2 incident: Checkout errors"
    assert sum(t.startswith("Playbook '") for t in texts) == 3


def test_lifecycle_forward_skip_invalid_and_reopen(db: Database, world: int) -> None:
    incident_id = _declare(db)
    with unit_of_work(db, actor=ALICE) as session:
        service.transition(
            session, incident_id=incident_id, to=Status.INVESTIGATING, now=T0 + timedelta(minutes=5)
        )
        # skipping identified is allowed
        incident = service.transition(
            session,
            incident_id=incident_id,
            to=Status.MONITORING,
            note="rolled back",
            now=T0 + timedelta(minutes=20),
        )
        assert incident.identified_at is None
        assert incident.monitoring_at == T0 + timedelta(minutes=20)
    for bad in (Status.DECLARED, Status.INVESTIGATING, Status.MONITORING, Status.REVIEWED):
        with unit_of_work(db, actor=ALICE) as session, pytest.raises(Conflict) as err:
            service.transition(session, incident_id=incident_id, to=bad)
        assert err.value.code == "invalid_transition"
    with unit_of_work(db, actor=ALICE) as session, pytest.raises(Conflict) as err:
        service.mark_reviewed(session, incident_id=incident_id)
    assert err.value.code == "invalid_transition"

    resolved_at = T0 + timedelta(minutes=40)
    with unit_of_work(db, actor=ALICE) as session:
        incident = service.transition(
            session, incident_id=incident_id, to=Status.RESOLVED, now=resolved_at
        )
        assert incident.resolved_at == resolved_at and incident.impact_ended_at == resolved_at
        assert service.durations(incident).time_to_resolve == 40 * 60
    with unit_of_work(db, actor=ALICE) as session, pytest.raises(Conflict):
        service.transition(session, incident_id=incident_id, to=Status.IDENTIFIED)
    with unit_of_work(db, actor=ALICE) as session:
        incident = service.transition(
            session, incident_id=incident_id, to=Status.INVESTIGATING, note="errors are back"
        )
        assert incident.status == "investigating"
        assert incident.resolved_at is None and incident.impact_ended_at is None
        service.transition(session, incident_id=incident_id, to=Status.RESOLVED)
        incident = service.mark_reviewed(session, incident_id=incident_id)
        assert incident.status == "reviewed" and incident.reviewed_at is not None
    with unit_of_work(db, actor=ALICE) as session, pytest.raises(Conflict):
        service.transition(session, incident_id=incident_id, to=Status.INVESTIGATING)
    statuses = _texts(db, incident_id, "status")
    assert statuses[:2] == [
        "Status declared → investigating",
        "Status investigating → monitoring: rolled back",
    ]
    assert "Incident reopened: resolved → investigating: errors are back" in statuses
    assert statuses[-1] == "Status resolved → reviewed: post-mortem published"


def test_declare_from_alert_is_one_action_and_conflicts_the_second_time(
    db: Database, world: int
) -> None:
    alert_id = _alert(db, at=T0 - timedelta(minutes=10))
    with unit_of_work(db, actor=ALICE) as session:
        incident = service.declare_from_alert(session, alert_id=alert_id, now=T0)
        incident_id = incident.id
        assert incident.title == "Checkout error rate up"
        assert incident.severity == "sev1"  # critical → sev1
        assert incident.services == ["checkout"] and incident.journeys == ["purchase"]
        assert incident.regions == ["eu"]  # "mars" is not in the catalog: dropped
        assert incident.started_at == T0 - timedelta(minutes=10)
        assert incident.detected_at == T0 - timedelta(minutes=10)
        assert incident.source_alert_id == alert_id
        alert = detect_service.get_alert_or_raise(session, alert_id=alert_id)
        assert alert.state == "acknowledged" and alert.acknowledged_at == T0
        read = service.incident_read(session, incident)
        assert read.alert_ids == [alert_id]
        assert read.durations["time_to_declare"] == 600.0
    alerts = _texts(db, incident_id, "alert")
    assert f"Alert #{alert_id} fired: Checkout error rate up" in alerts
    assert f"Alert #{alert_id} acknowledged: Checkout error rate up" in alerts

    with unit_of_work(db, actor=ALICE) as session, pytest.raises(Conflict) as err:
        service.declare_from_alert(session, alert_id=alert_id, severity=Sev.SEV3)
    assert err.value.code == "alert_already_declared"
    with unit_of_work(db) as session:
        found = service.incident_for_alert(session, alert_id=alert_id)
        assert found is not None and found.id == incident_id
        assert service.incident_for_alert(session, alert_id=alert_id + 100) is None
    assert str(incident_id) in err.value.detail
    # once that incident is resolved, the alert may start a new one (and an override sticks)
    with unit_of_work(db, actor=ALICE) as session:
        service.transition(session, incident_id=incident_id, to=Status.RESOLVED)
        again = service.declare_from_alert(
            session, alert_id=alert_id, severity=Sev.SEV3, title="Second look"
        )
        assert again.severity == "sev3" and again.title == "Second look"


def test_attach_alert_moves_start_and_refuses_duplicates(db: Database, world: int) -> None:
    incident_id = _declare(db)
    other = _declare(db, title="Other")
    alert_id = _alert(db, at=T0 - timedelta(minutes=30), severity="high")
    with unit_of_work(db, actor=ALICE) as session:
        incident = service.attach_alert(session, incident_id=incident_id, alert_id=alert_id)
        assert incident.started_at == T0 - timedelta(minutes=30)
    with unit_of_work(db, actor=ALICE) as session, pytest.raises(Conflict) as err:
        service.attach_alert(session, incident_id=incident_id, alert_id=alert_id)
    assert err.value.code == "alert_already_attached"
    with unit_of_work(db, actor=ALICE) as session, pytest.raises(Conflict) as err:
        service.attach_alert(session, incident_id=other, alert_id=alert_id)
    assert err.value.code == "alert_already_declared"
    with unit_of_work(db, actor=ALICE) as session, pytest.raises(NotFound) as nf:
        service.attach_alert(session, incident_id=incident_id, alert_id=9999)
    assert nf.value.code == "alert_not_found"


def test_role_hand_over_keeps_history(db: Database, world: int) -> None:
    incident_id = _declare(db)
    with unit_of_work(db, actor=ALICE) as session:
        first = service.assign_role(
            session, incident_id=incident_id, role=Role.COMMANDER, person="Ann", now=T0
        )
        same = service.assign_role(
            session, incident_id=incident_id, role=Role.COMMANDER, person="Ann", now=T0
        )
        assert same.id == first.id
        service.assign_role(
            session,
            incident_id=incident_id,
            role=Role.COMMANDER,
            person="Bob",
            now=T0 + timedelta(minutes=30),
        )
        service.assign_role(session, incident_id=incident_id, role=Role.CX_LEAD, person="Cleo")
        current = service.current_roles(session, incident_id=incident_id)
        history = service.role_history(session, incident_id=incident_id)
        assert {r: a.person for r, a in current.items()} == {"commander": "Bob", "cx_lead": "Cleo"}
        assert [(a.person, a.released_at) for a in history if a.role == "commander"] == [
            ("Ann", T0 + timedelta(minutes=30)),
            ("Bob", None),
        ]
    assert _texts(db, incident_id, "role") == [
        "Ann is commander",
        "Ann handed commander to Bob",
        "Cleo is cx_lead",
    ]


def test_severity_change_clears_outgrown_only_when_caught_up(db: Database, world: int) -> None:
    incident_id = _declare(db, severity="sev4")
    with unit_of_work(db, actor=ALICE) as session:
        incident = service.get_incident(session, incident_id=incident_id)
        incident.suggested_severity, incident.impact_outgrown = "sev2", True
        service.set_severity(session, incident_id=incident_id, severity=Sev.SEV3, reason="more")
        assert incident.impact_outgrown is True  # sev3 is still below the suggested sev2
        service.set_severity(session, incident_id=incident_id, severity=Sev.SEV2, reason="eu down")
        assert incident.impact_outgrown is False and incident.severity == "sev2"
        service.set_severity(session, incident_id=incident_id, severity=Sev.SEV2)  # no-op
    assert _texts(db, incident_id, "severity") == [
        "Severity sev4 → sev3: more",
        "Severity sev3 → sev2: eu down",
    ]


def test_capture_alert_events_and_deploys_idempotently(db: Database, world: int) -> None:
    ingest(
        db,
        [
            {
                "type": "deploy",
                "ts": iso(T0 - timedelta(hours=1)),
                "service": "checkout",
                "version": "v42",
                "actor": "dana",
                "change_id": "CHG-7",
            },
            # outside the 6-hour lookback, and another service: not captured
            {
                "type": "deploy",
                "ts": iso(T0 - timedelta(hours=8)),
                "service": "checkout",
                "version": "v41",
                "actor": "ci",
            },
            {
                "type": "deploy",
                "ts": iso(T0 - timedelta(minutes=30)),
                "service": "web",
                "version": "w9",
                "actor": "ci",
            },
        ],
        at=T0,
    )
    alert_id = _alert(db, at=T0)
    incident_id = _declare(db, alert_ids=[alert_id], now=T0 + timedelta(minutes=5))
    deploys = _texts(db, incident_id, "deploy")
    assert deploys == ["Deploy v42 of checkout by dana (change CHG-7)"]
    with unit_of_work(db) as session:
        assert service.capture(session, incident_id=incident_id, now=T0 + timedelta(minutes=6)) == 0
        detect_service.acknowledge(session, alert_id=alert_id, at=T0 + timedelta(minutes=7))
        detect_service.resolve(session, alert_id=alert_id, at=T0 + timedelta(minutes=9))
    ingest(
        db,
        [
            {
                "type": "deploy",
                "ts": iso(T0 + timedelta(minutes=8)),
                "service": "checkout",
                "version": "v43",
                "actor": "dana",
            }
        ],
        at=T0 + timedelta(minutes=10),
    )
    with unit_of_work(db) as session:
        new = service.capture_open(session, now=T0 + timedelta(minutes=10))
        assert new == 3  # acknowledged, resolved, deploy v43
        assert service.capture_open(session, now=T0 + timedelta(minutes=11)) == 0
    with unit_of_work(db) as session:
        entries = timeline(session, incident_id=incident_id)
        kinds = [(e.kind, e.text.split(":")[0]) for e in entries if e.kind in ("alert", "deploy")]
    assert kinds == [
        ("deploy", "Deploy v42 of checkout by dana (change CHG-7)"),
        ("alert", f"Alert #{alert_id} fired"),
        ("alert", f"Alert #{alert_id} attached"),
        ("alert", f"Alert #{alert_id} acknowledged"),
        ("deploy", "Deploy v43 of checkout by dana"),
        ("alert", f"Alert #{alert_id} resolved"),
    ]


def test_checklist_items_are_checked_and_skipped(db: Database, world: int) -> None:
    incident_id = _declare(db, services=["web"])  # only the generic playbook matches
    other = _declare(db, title="Other", services=["web"])
    with unit_of_work(db, actor=ALICE) as session:
        read = service.incident_read(
            session, service.get_incident(session, incident_id=incident_id)
        )
        items = read.checklist
        assert len(items) == 5 and [i.position for i in items] == [1, 2, 3, 4, 5]
        done = service.check_item(session, incident_id=incident_id, item_id=items[0].id)
        assert done.done_by == ALICE.label and done.done_at is not None
        service.check_item(session, incident_id=incident_id, item_id=items[1].id, skipped=True)
        service.check_item(session, incident_id=incident_id, item_id=items[2].id, done=True)
        undone = service.check_item(
            session, incident_id=incident_id, item_id=items[2].id, done=False
        )
        assert undone.done_at is None
        read = service.incident_read(
            session, service.get_incident(session, incident_id=incident_id)
        )
        assert read.checklist_progress == pytest.approx(2 / 5)
    with unit_of_work(db, actor=ALICE) as session, pytest.raises(NotFound) as err:
        service.check_item(session, incident_id=other, item_id=items[0].id)
    assert err.value.code == "checklist_item_not_found"
    texts = _texts(db, incident_id, "playbook")
    assert f"✓ {items[0].title}" in texts and f"Skipped: {items[1].title}" in texts


def test_playbook_crud_and_matching(db: Database, world: int) -> None:
    with unit_of_work(db) as session:
        book = service.create_playbook(
            session,
            data=PlaybookCreate(
                name="Web outage",
                services=["web"],
                kinds=["capacity"],
                steps=[PlaybookStep(title="Scale out", kind="ops")],
            ),
        )
        book_id = book.id
        with pytest.raises(Conflict):
            service.create_playbook(
                session, data=PlaybookCreate(name="Web outage", steps=[PlaybookStep(title="x")])
            )
        with pytest.raises(Invalid) as err:
            service.create_playbook(
                session,
                data=PlaybookCreate(name="Y", services=["zzz"], steps=[PlaybookStep(title="x")]),
            )
        assert err.value.code == "unknown_service"
    with_kind = _declare(db, services=["web"], kind="capacity")
    without_kind = _declare(db, services=["web"], kind="dependency")
    with unit_of_work(db) as session:

        def titles(i: int) -> list[str]:
            return [c.title for c in service.checklist(session, incident_id=i)]

        assert "Scale out" in titles(with_kind)
        assert "Scale out" not in titles(without_kind)
        service.delete_playbook(session, playbook_id=book_id)
        # the attached checklist stays
        assert "Scale out" in titles(with_kind)


def test_root_cause_taxonomy_validates_incidents(db: Database, world: int) -> None:
    incident_id = _declare(db)
    with unit_of_work(db, actor=ALICE) as session:
        with pytest.raises(Invalid) as err:
            service.update_incident(
                session, incident_id=incident_id, data=IncidentPatch(root_cause="gremlins")
            )
        assert err.value.code == "unknown_root_cause"
        incident = service.update_incident(
            session,
            incident_id=incident_id,
            data=IncidentPatch(root_cause="change.deploy", public=True, title="Bad deploy"),
        )
        assert incident.root_cause == "change.deploy" and incident.public
        created = service.create_root_cause(
            session, data=RootCauseCreate(code="change.schema", name="Schema change")
        )
        assert created.parent == "change"
        with pytest.raises(Invalid) as err:
            service.create_root_cause(session, data=RootCauseCreate(code="nope.child", name="x"))
        assert err.value.code == "unknown_parent"
        with pytest.raises(Conflict):
            service.create_root_cause(session, data=RootCauseCreate(code="change", name="x"))
        service.update_root_cause(session, code="change.schema", data=RootCauseUpdate(active=False))
        with pytest.raises(Invalid):
            service.update_incident(
                session, incident_id=incident_id, data=IncidentPatch(root_cause="change.schema")
            )
        active = [c.code for c in service.list_root_causes(session, active_only=True)]
        assert "change.schema" not in active and "change.deploy" in active
    assert _texts(db, incident_id, "note") == ["Root cause set to change.deploy"]


def test_tiers_update_and_incident_read_without_tiers(db: Database) -> None:
    company(db)
    incident_id = _declare(db)  # no defaults seeded: tier-less incidents still work
    with unit_of_work(db) as session:
        read = service.incident_read(
            session, service.get_incident(session, incident_id=incident_id)
        )
        assert read.authority == {} and read.escalation == [] and read.ack_minutes is None
        assert read.checklist == []
        with pytest.raises(NotFound) as err:
            service.get_tier_or_raise(session, tier="sev1")
        assert err.value.code == "severity_tier_not_found"
        defaults.ensure_defaults(session)
        tier = service.update_tier(
            session,
            tier="sev3",
            data=SeverityTierUpdate(
                criteria=TierCriteria(customers_share=0.01, journeys=["purchase"]),
                ack_minutes=20,
            ),
        )
        assert tier.ack_minutes == 20 and tier.criteria["journeys"] == ["purchase"]
        rules = service.tier_rules(session)
    assert suggest(rules, {"customers_share": 0.012})[0] is Sev.SEV3


def test_export_markdown_and_json(db: Database, world: int) -> None:
    incident_id = _declare(db, title="Pay | fails")
    with unit_of_work(db, actor=ALICE) as session:
        service.assign_role(session, incident_id=incident_id, role=Role.COMMANDER, person="Ann")
        service.add_note(session, incident_id=incident_id, text="Customers see a blank page", at=T0)
        md = service.export_timeline(session, incident_id=incident_id, fmt="markdown")
        doc = json.loads(service.export_timeline(session, incident_id=incident_id, fmt="json"))
    assert md.startswith(f"# Incident {incident_id}: Pay | fails\n")
    assert "- **Severity:** sev2" in md and "- **commander:** Ann" in md
    assert "| 2026-11-02 12:00:00 | note | alice@example.com | Customers see a blank page |" in md
    assert "declared a sev2 incident: Pay \\| fails" in md  # pipes escaped in table cells
    assert doc["incident"]["id"] == incident_id and doc["incident"]["roles"] == {"commander": "Ann"}
    assert doc["incident"]["started_at"] == "2026-11-02T12:00:00Z"
    assert any(e["text"] == "Customers see a blank page" for e in doc["entries"])


def test_list_filters_and_counts(db: Database, world: int) -> None:
    a = _declare(db, now=T0)
    b = _declare(db, now=T0 + timedelta(hours=1), services=["web"], severity="sev1")
    with unit_of_work(db, actor=ALICE) as session:
        service.transition(session, incident_id=a, to=Status.RESOLVED)
        assert [i.id for i in service.list_incidents(session)] == [b, a]
        assert [i.id for i in service.list_incidents(session, open_only=True)] == [b]
        assert [i.id for i in service.list_incidents(session, service="checkout")] == [a]
        assert [i.id for i in service.list_incidents(session, severity="sev1")] == [b]
        assert [i.id for i in service.list_incidents(session, status="resolved")] == [a]
        assert [
            i.id for i in service.list_incidents(session, since=T0 + timedelta(minutes=30))
        ] == [b]
        assert service.count_incidents(session, open_only=True) == 1
        latest = service.latest_incident(session)
        assert latest is not None and latest.id == b
        counts = service.incident_counts_by_status(session)
    assert counts["resolved"] == 1 and counts["declared"] == 1 and counts["reviewed"] == 0
