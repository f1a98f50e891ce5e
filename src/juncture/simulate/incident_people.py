"""The simulated company's incident responders: they declare incidents from customer-facing
alerts, staff the roles, publish reviewed customer updates, resolve, and write post-mortems.

Like the on-call staff in :mod:`juncture.simulate.responders`, they act through the incidents
room's service functions at simulated times, so the demo's incident history (timelines, role
hand-overs, reviewed communications, the status page's history, post-mortems, MTTA/MTTR) is
real history made by the same code paths people use.

Everything is deterministic per alert: the same world gives the same incident history.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from juncture.detect import service as detect_service
from juncture.incidents import service as incident_service
from juncture.incidents.enums import Audience, Role, Sev, Status
from juncture.incidents.schemas import IncidentPatch
from juncture.kit.errors import Conflict, Invalid
from juncture.store.uow import current_actor

comms = incident_service.comms
impact = incident_service.impact
postmortems = incident_service.postmortems

SRE = ("alex", "sam", "kim", "lee", "jo", "max")
CX = ("rosa", "noor", "ines", "tom")
COMMS = ("maya", "ola")
SCRIBES = ("ben", "eva")

#: How often the replay measures an open incident's impact (the live job: every minute).
REMEASURE = timedelta(minutes=30)

#: Root-cause category of each simulated fault cause (codes of the default taxonomy).
CAUSE_CATEGORY = {
    "deploy": "change.deploy",
    "config": "change.config",
    "dependency": "dependency.third_party",
    "capacity": "capacity",
    "network": "infrastructure.network",
}


@dataclass(frozen=True)
class Plan:
    """When the simulated people do each step of one incident, relative to its alert."""

    declare_after: timedelta  # after the alert's acknowledgement
    identify_after: timedelta  # after declaration
    monitor_after: timedelta  # after the alert cleared
    resolve_after: timedelta  # after monitoring started
    ops_lead: str
    cx_lead: str
    comms_lead: str
    scribe: str
    handover: bool  # the commander hands over to the ops lead after identification


def plan(alert_id: int, started_at: datetime) -> Plan:
    """Deterministic per alert (same history, same responses)."""
    key = f"incident:{alert_id}@{started_at.isoformat()}"
    digest = hashlib.blake2b(key.encode(), digest_size=8)
    rng = np.random.default_rng(int.from_bytes(digest.digest(), "big"))
    return Plan(
        declare_after=timedelta(minutes=float(rng.uniform(2, 8))),
        identify_after=timedelta(minutes=float(rng.uniform(15, 45))),
        monitor_after=timedelta(minutes=float(rng.uniform(5, 15))),
        resolve_after=timedelta(minutes=float(rng.uniform(20, 45))),
        ops_lead=SRE[int(rng.integers(len(SRE)))],
        cx_lead=CX[int(rng.integers(len(CX)))],
        comms_lead=COMMS[int(rng.integers(len(COMMS)))],
        scribe=SCRIBES[int(rng.integers(len(SCRIBES)))],
        handover=bool(rng.random() < 0.4),
    )


@contextmanager
def acting_as(session: Session, who: str) -> Iterator[None]:
    """Run the block as ``sim:<who>`` (the label the timeline and the audit log record)."""
    actor = current_actor(session)
    session.info["actor"] = replace(actor, label=f"sim:{who}")
    try:
        yield
    finally:
        session.info["actor"] = actor


def _publish(
    session: Session,
    *,
    incident_id: int,
    audience: Audience,
    author: str,
    reviewer: str,
    at: datetime,
    component_status: str = "degraded",
) -> None:
    """Draft an update from the phase's template; customer updates pass review first."""
    with acting_as(session, author):
        update = comms.draft_update(
            session,
            incident_id=incident_id,
            audience=audience,
            component_status=component_status,
            now=at,
        )
        if audience == Audience.CUSTOMERS:
            comms.submit_update(session, update_id=update.id, now=at)
    if audience == Audience.CUSTOMERS:
        with acting_as(session, reviewer):
            comms.review_update(
                session,
                update_id=update.id,
                approve=True,
                comment="Checked with legal: fine to publish.",
                now=at + timedelta(minutes=3),
            )
        at = at + timedelta(minutes=4)
    with acting_as(session, author):
        comms.publish_update(session, update_id=update.id, now=at)


def _published_phases(session: Session, incident_id: int) -> set[tuple[str, str]]:
    return {
        (u.audience, u.phase)
        for u in comms.list_updates(session, incident_id=incident_id)
        if u.state == "published"
    }


def _commander(session: Session, incident_id: int) -> str:
    roles = incident_service.current_roles(session, incident_id=incident_id)
    holder = roles.get(Role.COMMANDER.value)
    return holder.person.removeprefix("sim:") if holder is not None else SRE[0]


#: Alerts starting this close to an open incident are taken as the same fault (it spreads).
SAME_FAULT = timedelta(minutes=15)

#: Services whose urgent alerts get an incident even before customers are seen to feel it.
KEY_SERVICES = frozenset({"checkout", "payments"})


def worth_an_incident(alert: Any) -> bool:
    """Customer-facing alerts, and critical or high ones on the services that take money."""
    urgent = alert.severity in ("critical", "high") and bool(KEY_SERVICES & set(alert.services))
    return bool(alert.customer_facing or urgent)


def declare_new(session: Session, *, now: datetime) -> int:
    """Declare an incident for each alert worth one, a few minutes after its acknowledgement;
    an alert on a service an open incident already covers, or starting within 15 minutes of
    it, is attached to that incident."""
    alerts, _ = detect_service.list_alerts(session, limit=500)
    declared = 0
    for alert in alerts:
        if not worth_an_incident(alert) or alert.acknowledged_at is None:
            continue
        if incident_service.incident_for_alert(session, alert_id=alert.id) is not None:
            continue
        p = plan(alert.id, alert.started_at)
        at = alert.acknowledged_at + p.declare_after
        if at > now:
            continue
        commander = (alert.acknowledged_by or "sim:alex").removeprefix("sim:")
        covering = [
            i
            for i in incident_service.list_incidents(session, open_only=True, limit=200)
            if set(i.services) & set(alert.services)
            or abs(i.started_at - alert.started_at) <= SAME_FAULT
        ]
        if covering:
            with acting_as(session, commander):
                incident_service.attach_alert(
                    session, incident_id=covering[0].id, alert_id=alert.id, now=at
                )
            continue
        with acting_as(session, commander):
            try:
                incident = incident_service.declare_from_alert(session, alert_id=alert.id, now=at)
            except Conflict:
                continue
            incident_service.assign_role(
                session,
                incident_id=incident.id,
                role=Role.COMMANDER,
                person=f"sim:{commander}",
                now=at,
            )
            staff = (
                (Role.OPS_LEAD, p.ops_lead),
                (Role.CX_LEAD, p.cx_lead),
                (Role.COMMS_LEAD, p.comms_lead),
                (Role.SCRIBE, p.scribe),
            )
            for role, who in staff:
                incident_service.assign_role(
                    session,
                    incident_id=incident.id,
                    role=role,
                    person=f"sim:{who}",
                    now=at + timedelta(minutes=1),
                )
            incident_service.transition(
                session,
                incident_id=incident.id,
                to=Status.INVESTIGATING,
                note="Paged team is looking at the service dashboards.",
                now=at + timedelta(minutes=1),
            )
        declared += 1
    return declared


def advance(session: Session, *, now: datetime) -> int:
    """Move every open simulated incident through its planned steps up to ``now``."""
    moved = 0
    for incident in incident_service.list_incidents(session, open_only=True, limit=200):
        if incident.source_alert_id is None or incident.declared_by.startswith("sim:") is False:
            continue
        alert = detect_service.get_alert_or_raise(session, alert_id=incident.source_alert_id)
        p = plan(alert.id, alert.started_at)
        moved += _advance_one(session, incident, alert, p, now)
    return moved


def _tick_checklist(session: Session, incident_id: int, at: datetime, *, first: int | None) -> None:
    """Tick the first ``first`` open playbook steps (all of them with None)."""
    open_items = [
        item
        for item in incident_service.checklist(session, incident_id=incident_id)
        if item.done_at is None and not item.skipped
    ]
    for item in open_items if first is None else open_items[:first]:
        incident_service.check_item(session, incident_id=incident_id, item_id=item.id, now=at)


def _advance_one(session: Session, incident: Any, alert: Any, p: Plan, now: datetime) -> int:
    steps = 0
    declared = incident.declared_at
    published = _published_phases(session, incident.id)
    commander = _commander(session, incident.id)
    # Communications while investigating: agents first, then the reviewed customer notice.
    at = declared + timedelta(minutes=4)
    if (Audience.FRONTLINE.value, "investigating") not in published and at <= now:
        _publish(
            session,
            incident_id=incident.id,
            audience=Audience.FRONTLINE,
            author=p.cx_lead,
            reviewer=p.comms_lead,
            at=at,
        )
        steps += 1
    at = declared + timedelta(minutes=6)
    if (Audience.CUSTOMERS.value, "investigating") not in published and at <= now:
        _publish(
            session,
            incident_id=incident.id,
            audience=Audience.CUSTOMERS,
            author=p.comms_lead,
            reviewer=p.cx_lead,
            at=at,
            component_status="major_outage" if incident.severity in ("sev1",) else "degraded",
        )
        steps += 1
    if incident.impact_outgrown and incident.suggested_severity and incident.impact_computed_at:
        at = incident.impact_computed_at + timedelta(minutes=2)
        if at <= now:
            with acting_as(session, commander):
                incident_service.set_severity(
                    session,
                    incident_id=incident.id,
                    severity=Sev(incident.suggested_severity),
                    reason="Measured customer impact meets the tier's criteria.",
                    now=at,
                )
            steps += 1
    status = Status(incident.status)
    at = declared + p.identify_after
    if status == Status.INVESTIGATING and at <= now:
        with acting_as(session, commander):
            incident_service.transition(
                session,
                incident_id=incident.id,
                to=Status.IDENTIFIED,
                note="Cause found; mitigation under way.",
                now=at,
            )
            if p.handover:
                incident_service.assign_role(
                    session,
                    incident_id=incident.id,
                    role=Role.COMMANDER,
                    person=f"sim:{p.ops_lead}",
                    now=at + timedelta(minutes=1),
                )
            _tick_checklist(session, incident.id, at, first=3)
        status = Status.IDENTIFIED
        steps += 1
    cleared = alert.resolved_at or alert.clear_since
    if status == Status.IDENTIFIED and cleared is not None:
        at = max(cleared + p.monitor_after, declared + p.identify_after + timedelta(minutes=2))
        if at <= now:
            with acting_as(session, _commander(session, incident.id)):
                incident_service.transition(
                    session,
                    incident_id=incident.id,
                    to=Status.MONITORING,
                    note="Customer metrics back within their baseline; watching.",
                    now=at,
                )
                # customers stopped feeling it when the alert cleared, not at resolution
                incident_service.update_incident(
                    session,
                    incident_id=incident.id,
                    data=IncidentPatch(impact_ended_at=min(cleared, at)),
                )
            _publish(
                session,
                incident_id=incident.id,
                audience=Audience.CUSTOMERS,
                author=p.comms_lead,
                reviewer=p.cx_lead,
                at=at + timedelta(minutes=2),
            )
            status = Status.MONITORING
            steps += 1
    if status == Status.MONITORING and incident.monitoring_at is not None:
        at = incident.monitoring_at + p.resolve_after
        if at <= now:
            with acting_as(session, _commander(session, incident.id)):
                _tick_checklist(session, incident.id, at - timedelta(minutes=5), first=None)
                incident_service.transition(
                    session, incident_id=incident.id, to=Status.RESOLVED, note="Resolved.", now=at
                )
            impact.refresh_impact(session, incident_id=incident.id, now=at)
            _publish(
                session,
                incident_id=incident.id,
                audience=Audience.CUSTOMERS,
                author=p.comms_lead,
                reviewer=p.cx_lead,
                at=at + timedelta(minutes=2),
                component_status="operational",
            )
            steps += 1
    return steps


CauseFor = Callable[[Any], str]


def truth_causes(truth: Any) -> CauseFor:
    """What the company's engineers find out: the fault cause of the simulated incident that
    overlaps an incident's services and window (``unknown`` when none does)."""
    faults = [
        (t.start, t.end, frozenset(t.services) | {t.service}, t.cause) for t in truth.incidents
    ]

    def cause_for(incident: Any) -> str:
        end = incident.resolved_at or incident.started_at
        for start, stop, services, cause in faults:
            overlap = start <= end and incident.started_at <= stop + timedelta(hours=1)
            if overlap and services & set(incident.services):
                return str(cause)
        return "unknown"

    return cause_for


def write_postmortems(session: Session, *, now: datetime, cause_for: CauseFor | None) -> int:
    """Draft a post-mortem a day after resolution, submit it a day later, publish a day after.

    ``cause_for`` tells the contributing factor's cause of an incident (the simulated fault's
    cause); without it the factor is filed under ``unknown``.
    """
    done = 0
    for incident in incident_service.list_incidents(session, status=Status.RESOLVED, limit=200):
        if incident.resolved_at is None or not incident.declared_by.startswith("sim:"):
            continue
        p = plan(incident.source_alert_id or incident.id, incident.started_at)
        draft_at = incident.resolved_at + timedelta(days=1)
        if draft_at > now:
            continue
        found = postmortems.postmortem_for_incident(session, incident_id=incident.id)
        commander = _commander(session, incident.id)
        if found is None:
            with acting_as(session, p.scribe):
                pm = postmortems.create_postmortem(session, incident_id=incident.id, now=draft_at)
                measured = incident.impact or {}
                postmortems.update_postmortem(
                    session,
                    postmortem_id=pm.id,
                    summary=(
                        f"{incident.title}. {', '.join(incident.services)} degraded in "
                        f"{', '.join(incident.regions) or 'all regions'}; detected by a "
                        "customer-impact alert and mitigated by the on-call team."
                    ),
                    what_went_well="The customer-impact alert fired before the ticket surge.",
                    what_went_wrong="The change went out to the whole region at once.",
                    authors=[f"sim:{p.scribe}", f"sim:{commander}"],
                )
            with acting_as(session, p.cx_lead):
                customers = measured.get("customers_affected")
                postmortems.update_postmortem(
                    session,
                    postmortem_id=pm.id,
                    customer_experience=(
                        "Customers saw slow pages and failed payments"
                        + (f"; about {customers:,} customers were affected" if customers else "")
                        + ". Agents answered with the incident macro; we followed up with the "
                        "customers whose orders failed."
                    ),
                    customer_experience_by=f"sim:{p.cx_lead}",
                )
            cause = cause_for(incident) if cause_for is not None else "unknown"
            with acting_as(session, p.scribe):
                with suppress(Invalid):  # a taxonomy edited to lack the code: no factor
                    postmortems.add_factor(
                        session,
                        postmortem_id=pm.id,
                        category=CAUSE_CATEGORY.get(cause, "unknown"),
                        description=f"Fault cause recorded by the team: {cause}.",
                        primary=True,
                    )
                postmortems.add_action(
                    session,
                    postmortem_id=pm.id,
                    title="Roll out region by region behind an automatic customer-impact gate",
                    owner=f"sim:{p.ops_lead}",
                    due_on=(draft_at + timedelta(days=14)).date(),
                    kind="mitigate",
                )
                postmortems.add_action(
                    session,
                    postmortem_id=pm.id,
                    title="Proactive apology and voucher for customers whose orders failed",
                    owner=f"sim:{p.cx_lead}",
                    due_on=(draft_at + timedelta(days=3)).date(),
                    kind="cx",
                )
            done += 1
            continue
        if found.state == "draft" and draft_at + timedelta(days=1) <= now:
            with acting_as(session, p.scribe):
                postmortems.submit_postmortem(
                    session, postmortem_id=found.id, now=draft_at + timedelta(days=1)
                )
            done += 1
        elif found.state == "in_review" and draft_at + timedelta(days=2) <= now:
            with acting_as(session, commander):
                postmortems.publish_postmortem(
                    session, postmortem_id=found.id, now=draft_at + timedelta(days=2)
                )
            done += 1
    return done


def act(session: Session, *, now: datetime, cause_for: CauseFor | None = None) -> int:
    """One tick of the incident responders: declare, advance, refresh impact, post-mortems."""
    n = declare_new(session, now=now)
    n += advance(session, now=now)
    for incident in incident_service.list_incidents(session, open_only=True, limit=200):
        incident_service.capture(session, incident_id=incident.id, now=now)
        measured = incident.impact_computed_at
        if measured is None or now - measured >= REMEASURE:
            impact.refresh_impact(session, incident_id=incident.id, now=now)
    n += write_postmortems(session, now=now, cause_for=cause_for)
    return n
