"""The simulated incident responders: from a customer-facing alert they declare an incident,
staff the roles, publish reviewed updates, resolve once the alert clears, and write, submit
and publish the post-mortem on the following days — through the incidents room's services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from juncture.detect import service as detect_service
from juncture.incidents import service as incident_service
from juncture.incidents.defaults import ensure_defaults
from juncture.simulate import incident_people
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work
from tests.factories import make_service, make_team

T0 = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


def _alert(
    db: Database, *, customer_facing: bool, key: str, service: str = "checkout", at: datetime = T0
) -> int:
    with unit_of_work(db) as session:
        alert = detect_service.raise_alert(
            session,
            dedup_key=key,
            title=f"{key}: customers feel it",
            severity="critical",
            services=[service],
            customer_facing=customer_facing,
            evidence={"regions": ["eu"], "ops_onset": (at - timedelta(minutes=4)).isoformat()},
            at=at,
        )
        detect_service.acknowledge(session, alert_id=alert.id, at=at + timedelta(minutes=3))
        return alert.id


def _tick(db: Database, at: datetime) -> int:
    with unit_of_work(db) as session:
        return incident_people.act(session, now=at, cause_for=lambda _i: "deploy")


def test_responders_run_an_incident_to_its_published_postmortem(db: Database) -> None:
    team = make_team(db, slug="sre", name="SRE")
    make_service(db, owner_team_id=team, slug="checkout", name="Checkout")
    with unit_of_work(db) as session:
        ensure_defaults(session)
    make_service(db, owner_team_id=team, slug="search", name="Search")
    alert_id = _alert(db, customer_facing=True, key="checkout")
    # not customer-facing, on a service that takes no money: no incident
    _alert(db, customer_facing=False, key="search", service="search")
    # urgent on checkout while its incident is open: attached to it, no second incident
    later = _alert(db, customer_facing=False, key="errors", at=T0 + timedelta(minutes=30))

    assert _tick(db, T0 + timedelta(minutes=3)) == 0  # acknowledged, not yet declared
    step = T0
    while step < T0 + timedelta(hours=2):
        step += timedelta(minutes=10)
        _tick(db, step)
    with unit_of_work(db) as session:
        (incident,) = incident_service.list_incidents(session)
        assert incident.source_alert_id == alert_id
        assert incident_service.incident_for_alert(session, alert_id=later) == incident
        assert incident.declared_by.startswith("sim:")
        assert incident.started_at == T0 - timedelta(minutes=4)  # the onset in the evidence
        assert incident.status in ("investigating", "identified")
        roles = incident_service.current_roles(session, incident_id=incident.id)
        assert set(roles) == {"commander", "ops_lead", "cx_lead", "comms_lead", "scribe"}
        updates = incident_service.comms.list_updates(session, incident_id=incident.id)
        published = [u for u in updates if u.state == "published"]
        assert {u.audience for u in published} == {"frontline", "customers"}
        for u in published:
            if u.audience == "customers":
                assert u.reviewer and u.reviewer != u.author  # reviewed by someone else
        iid = incident.id

    # the alert clears: monitoring, then resolved with a final customer update
    with unit_of_work(db) as session:
        detect_service.resolve(session, alert_id=alert_id, at=step)
    end = step + timedelta(hours=2)
    while step < end:
        step += timedelta(minutes=10)
        _tick(db, step)
    with unit_of_work(db) as session:
        incident = incident_service.get_incident_or_raise(session, incident_id=iid)
        assert incident.status == "resolved" and incident.resolved_at is not None
        assert incident.impact_computed_at is not None  # measured at resolution
        phases = {
            u.phase
            for u in incident_service.comms.list_updates(session, incident_id=iid)
            if u.audience == "customers" and u.state == "published"
        }
        assert {"investigating", "monitoring", "resolved"} <= phases
        items = incident_service.checklist(session, incident_id=iid)
        assert items and all(item.done_at is not None for item in items)  # the playbook, done
        resolved_at = incident.resolved_at

    # a day later the draft, a day after that in review, then published: incident reviewed
    states = []
    for days in (1, 2, 3):
        _tick(db, resolved_at + timedelta(days=days, minutes=1))
        with unit_of_work(db) as session:
            pm = incident_service.postmortems.postmortem_for_incident(session, incident_id=iid)
            assert pm is not None
            states.append(pm.state)
    assert states == ["draft", "in_review", "published"]
    with unit_of_work(db) as session:
        incident = incident_service.get_incident_or_raise(session, incident_id=iid)
        assert incident.status == "reviewed" and incident.root_cause == "change.deploy"
        kinds = {e.kind for e in incident_service.timeline(session, incident_id=iid)}
        assert {"declared", "role", "status", "update", "postmortem"} <= kinds
