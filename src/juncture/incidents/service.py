"""Incident core: declaration (by hand or from an alert), the lifecycle, roles, severity,
automatic timeline capture, severity tiers, the root-cause taxonomy, playbooks and timeline
export. Other rooms and the edges call these functions; services never commit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from juncture.access import service as access_service
from juncture.catalog import service as catalog_service
from juncture.detect import service as detect_service
from juncture.incidents.common import (
    actor_label,
    aware,
    flush_unique,
    get_or_raise,
    parent_code,
    record_timeline,
)
from juncture.incidents.common import (  # re-exported: part of the room's public face
    get_incident_or_raise as get_incident_or_raise,  # noqa: PLC0414
)
from juncture.incidents.common import (
    timeline as timeline,  # noqa: PLC0414
)
from juncture.incidents.enums import (
    OPEN_STATUSES,
    STATUS_ORDER,
    Role,
    Sev,
    Status,
    TimelineKind,
)
from juncture.incidents.models import (
    ChecklistItem,
    Incident,
    IncidentAlert,
    Playbook,
    RoleAssignment,
    RootCauseCategory,
    SeverityTier,
    TimelineEntry,
)
from juncture.incidents.schemas import (
    ChecklistItemRead,
    Durations,
    IncidentCreate,
    IncidentDetail,
    IncidentPatch,
    IncidentRead,
    PlaybookCreate,
    PlaybookUpdate,
    RoleAssignmentRead,
    RootCauseCreate,
    RootCauseUpdate,
    SeverityTierUpdate,
)
from juncture.incidents.severity import TierRule, more_severe
from juncture.kit.errors import Conflict, Invalid, NotFound
from juncture.signals import service as signals_service
from juncture.store.queries import json_list_contains

#: Alert severity → incident severity when declaring from an alert.
ALERT_SEVERITY_MAP = {"critical": Sev.SEV1, "high": Sev.SEV2, "warning": Sev.SEV3, "info": Sev.SEV4}
#: Alert history events copied into an incident's timeline.
CAPTURED_ALERT_EVENTS = ("fired", "acknowledged", "escalated", "resolved", "reopened")
#: Who automatic timeline entries are attributed to.
SYSTEM_ACTOR = "juncture"
DEFAULT_LOOKBACK_HOURS = 6

_STAMPS = {
    Status.INVESTIGATING: "investigating_at",
    Status.IDENTIFIED: "identified_at",
    Status.MONITORING: "monitoring_at",
    Status.RESOLVED: "resolved_at",
    Status.REVIEWED: "reviewed_at",
}


# ---------------------------------------------------------------- helpers


def _dedupe(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in values if v.strip()))


def _known_regions(session: Session) -> set[str]:
    return {r.slug for r in catalog_service.list_regions(session)}


def check_slugs(
    session: Session,
    *,
    services: Sequence[str] | None = None,
    journeys: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
) -> None:
    """Raise :class:`Invalid` (``unknown_service`` / ``unknown_journey`` / ``unknown_region``)
    naming the slugs the catalog does not know."""
    known_services, known_journeys, _ = catalog_service.slug_ids(session)
    checks: list[tuple[str, Sequence[str] | None, Iterable[str]]] = [
        ("service", services, known_services),
        ("journey", journeys, known_journeys),
    ]
    if regions:
        checks.append(("region", regions, _known_regions(session)))
    for what, given, known in checks:
        unknown = sorted(set(given or ()) - set(known))
        if unknown:
            raise Invalid(
                f"unknown {what}{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
                code=f"unknown_{what}",
            )


def _status(incident: Incident) -> Status:
    return Status(incident.status)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


# ---------------------------------------------------------------- declaring


def _open_incident_of_alert(session: Session, alert_id: int) -> Incident | None:
    return session.scalars(
        select(Incident)
        .join(IncidentAlert, IncidentAlert.incident_id == Incident.id)
        .where(IncidentAlert.alert_id == alert_id, Incident.status.in_(list(OPEN_STATUSES)))
        .order_by(Incident.id)
    ).first()


def _ensure_not_declared(session: Session, alert_id: int, *, but: int | None = None) -> None:
    found = _open_incident_of_alert(session, alert_id)
    if found is not None and found.id != but:
        raise Conflict(
            f"alert {alert_id} already belongs to open incident {found.id} ({found.title})",
            code="alert_already_declared",
            incident_id=found.id,
        )


def _attach(session: Session, incident: Incident, alert_id: int, at: datetime) -> None:
    alert = detect_service.get_alert_or_raise(session, alert_id=alert_id)
    # checked first: flush_unique's savepoint starts with an autoflush of pending rows, so a
    # duplicate added before it would fail outside the savepoint
    seen = session.scalar(
        select(IncidentAlert.id).where(
            IncidentAlert.incident_id == incident.id, IncidentAlert.alert_id == alert.id
        )
    )
    if seen is not None:
        raise Conflict(
            f"alert {alert.id} is already attached to incident {incident.id}",
            code="alert_already_attached",
        )
    session.add(
        IncidentAlert(
            incident_id=incident.id,
            alert_id=alert.id,
            attached_at=at,
            attached_by=actor_label(session),
        )
    )
    flush_unique(
        session,
        "alert_already_attached",
        f"alert {alert.id} is already attached to incident {incident.id}",
    )
    incident.started_at = min(incident.started_at, alert.started_at)
    record_timeline(
        session,
        incident_id=incident.id,
        kind=TimelineKind.ALERT,
        text=f"Alert #{alert.id} attached: {alert.title}",
        at=at,
        data={"alert_id": alert.id, "severity": alert.severity},
        source_key=f"alert:{alert.id}:attached",
    )


def _matching_playbooks(session: Session, incident: Incident) -> list[Playbook]:
    books = session.scalars(
        select(Playbook).where(Playbook.enabled.is_(True)).order_by(Playbook.id)
    ).all()
    return [
        book
        for book in books
        if (not book.services or set(book.services) & set(incident.services))
        and (not book.kinds or incident.kind in book.kinds)
    ]


def _attach_playbooks(session: Session, incident: Incident, at: datetime) -> int:
    position = int(
        session.scalar(
            select(func.coalesce(func.max(ChecklistItem.position), 0)).where(
                ChecklistItem.incident_id == incident.id
            )
        )
        or 0
    )
    attached = 0
    for book in _matching_playbooks(session, incident):
        entry = record_timeline(
            session,
            incident_id=incident.id,
            kind=TimelineKind.PLAYBOOK,
            text=f"Playbook '{book.name}' attached ({len(book.steps)} steps)",
            at=at,
            actor=SYSTEM_ACTOR,
            data={"playbook_id": book.id},
            source_key=f"playbook:{book.id}",
        )
        if entry is None:
            continue
        for step in book.steps:
            position += 1
            session.add(
                ChecklistItem(
                    incident_id=incident.id,
                    playbook_id=book.id,
                    position=position,
                    title=str(step.get("title", "")),
                    kind=str(step.get("kind") or "ops"),
                    detail=str(step.get("detail") or ""),
                )
            )
        attached += 1
    session.flush()
    return attached


def declare(
    session: Session,
    *,
    data: IncidentCreate,
    now: datetime | None = None,
    lookback_hours: int = DEFAULT_LOOKBACK_HOURS,
) -> Incident:
    """Declare an incident.

    Validates the catalog slugs, records a ``declared`` timeline entry, attaches the given
    alerts and the matching playbooks, and captures the alerts' history and recent deploys of
    the incident's services.

    Parameters
    ----------
    session : Session
        Open session.
    data : IncidentCreate
        What is known so far.
    now : datetime, optional
        Declaration time (default: now).
    lookback_hours : int
        How far before ``started_at`` deploys are captured.

    Returns
    -------
    Incident
        The new incident (status ``declared``).
    """
    now = aware(now)
    services, journeys = _dedupe(data.services), _dedupe(data.journeys)
    regions = _dedupe(data.regions)
    check_slugs(session, services=services, journeys=journeys, regions=regions)
    if data.owner_team_id is not None:
        access_service.get_team_or_raise(session, team_id=data.owner_team_id)
    alert_ids = list(dict.fromkeys(data.alert_ids))
    alerts = [detect_service.get_alert_or_raise(session, alert_id=a) for a in alert_ids]
    for alert in alerts:
        _ensure_not_declared(session, alert.id)
    first_alert = min((a.started_at for a in alerts), default=None)
    started = aware(data.started_at) if data.started_at is not None else (first_alert or now)
    if started > now:
        raise Invalid("started_at lies in the future", code="invalid_started_at")
    acks = [a.acknowledged_at for a in alerts if a.acknowledged_at is not None]
    actor = actor_label(session)
    incident = Incident(
        title=data.title,
        summary=data.summary,
        severity=data.severity.value,
        status=Status.DECLARED.value,
        kind=data.kind,
        services=services,
        journeys=journeys,
        regions=regions,
        customer_facing=data.customer_facing,
        owner_team_id=data.owner_team_id,
        declared_by=actor,
        source_alert_id=alerts[0].id if alerts else None,
        started_at=started,
        detected_at=first_alert or now,
        declared_at=now,
        # declaring is acknowledging; an alert acknowledged earlier counts from then
        acknowledged_at=min([*acks, now]),
        impact={},
    )
    session.add(incident)
    session.flush()
    record_timeline(
        session,
        incident_id=incident.id,
        kind=TimelineKind.DECLARED,
        text=f"{actor} declared a {incident.severity} incident: {incident.title}",
        at=now,
        actor=actor,
        data={"severity": incident.severity, "services": services},
    )
    for alert in alerts:
        _attach(session, incident, alert.id, now)
    _attach_playbooks(session, incident, now)
    capture(session, incident_id=incident.id, now=now, lookback_hours=lookback_hours)
    return incident


def _regions_of(evidence: dict[str, Any]) -> list[str]:
    found: list[str] = []
    raw = evidence.get("regions")
    if isinstance(raw, list):
        found.extend(str(r) for r in raw if r)
    single = evidence.get("region")
    if isinstance(single, str) and single:
        found.append(single)
    return _dedupe(found)


def _onset(evidence: dict[str, Any], fallback: datetime) -> datetime:
    """When customers started to feel it, from an alert's evidence: the earliest onset of the
    operational deviation or of the customer series (the alert itself opens later, once the
    deviation is sure). ``fallback`` when the evidence names none."""
    found = [fallback]
    customer = evidence.get("customer")
    candidates = [evidence.get("ops_onset"), evidence.get("onset")]
    if isinstance(customer, dict):
        candidates.append(customer.get("onset"))
    for value in candidates:
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            if moment.tzinfo is not None and fallback - moment <= timedelta(hours=24):
                found.append(moment)
    return min(found)


def declare_from_alert(
    session: Session,
    *,
    alert_id: int,
    severity: Sev | None = None,
    title: str | None = None,
    now: datetime | None = None,
    lookback_hours: int = DEFAULT_LOOKBACK_HOURS,
) -> Incident:
    """Declare an incident from an alert in one action.

    Title, summary, services, journeys and (from the alert's evidence) regions come from the
    alert; the severity is mapped from the alert's (critical → sev1 ... info → sev4) unless
    given; ``detected_at`` is the alert's start and ``started_at`` the earliest onset its
    evidence names (the operational or customer deviation), else its start. A firing alert is
    acknowledged. Slugs the catalog does not know are dropped rather than refused.

    Parameters
    ----------
    session : Session
        Open session.
    alert_id : int
        The alert.
    severity : Sev, optional
        Overrides the mapped severity.
    title : str, optional
        Overrides the alert's title.
    now : datetime, optional
        Declaration time (default: now).
    lookback_hours : int
        How far before the alert's start deploys are captured.

    Returns
    -------
    Incident
        The new incident.

    Raises
    ------
    Conflict
        ``alert_already_declared`` when the alert belongs to an open incident.
    """
    now = aware(now)
    alert = detect_service.get_alert_or_raise(session, alert_id=alert_id)
    _ensure_not_declared(session, alert.id)
    if alert.state == "firing":
        detect_service.acknowledge(session, alert_id=alert.id, at=now, note="incident declared")
    known_services, known_journeys, _ = catalog_service.slug_ids(session)
    regions = _known_regions(session)
    data = IncidentCreate(
        title=(title or alert.title)[:300],
        severity=severity or ALERT_SEVERITY_MAP.get(alert.severity, Sev.SEV3),
        summary=alert.summary,
        services=[s for s in alert.services if s in known_services],
        journeys=[j for j in alert.journeys if j in known_journeys],
        regions=[r for r in _regions_of(alert.evidence or {}) if r in regions],
        started_at=min(_onset(alert.evidence or {}, alert.started_at), now),
        customer_facing=alert.customer_facing,
        alert_ids=[alert.id],
    )
    return declare(session, data=data, now=now, lookback_hours=lookback_hours)


def attach_alert(
    session: Session, *, incident_id: int, alert_id: int, now: datetime | None = None
) -> Incident:
    """Attach an alert to an incident and capture its history.

    Raises ``alert_already_declared`` (409) when the alert belongs to another open incident and
    ``alert_already_attached`` when it is attached to this one.
    """
    now = aware(now)
    incident = get_incident_or_raise(session, incident_id=incident_id, lock=True)
    _ensure_not_declared(session, alert_id, but=incident.id)
    _attach(session, incident, alert_id, now)
    _capture_alerts(session, incident)
    session.flush()
    return incident


def incident_for_alert(session: Session, *, alert_id: int) -> Incident | None:
    """The incident an alert is attached to: its open one, else the most recently declared.

    Parameters
    ----------
    session : Session
        Open session.
    alert_id : int
        The alert.

    Returns
    -------
    Incident or None
        None when the alert was never attached to an incident.
    """
    found = _open_incident_of_alert(session, alert_id)
    if found is not None:
        return found
    return session.scalars(
        select(Incident)
        .join(IncidentAlert, IncidentAlert.incident_id == Incident.id)
        .where(IncidentAlert.alert_id == alert_id)
        .order_by(Incident.declared_at.desc(), Incident.id.desc())
    ).first()


def attached_alert_ids(session: Session, *, incident_id: int) -> list[int]:
    """Ids of the alerts attached to an incident, in attachment order."""
    return list(
        session.scalars(
            select(IncidentAlert.alert_id)
            .where(IncidentAlert.incident_id == incident_id)
            .order_by(IncidentAlert.id)
        ).all()
    )


# ---------------------------------------------------------------- lifecycle


def transition(
    session: Session,
    *,
    incident_id: int,
    to: Status,
    note: str = "",
    now: datetime | None = None,
) -> Incident:
    """Move an incident along its lifecycle.

    Forward moves may skip states; each state's time column is stamped the first time it is
    reached. ``resolved → investigating`` reopens (clears ``resolved_at``). Moving to
    ``resolved`` sets ``impact_ended_at`` when unset. ``reviewed`` is reached only through
    :func:`mark_reviewed`.

    Parameters
    ----------
    session : Session
        Open session.
    incident_id : int
        The incident.
    to : Status
        The target status.
    note : str
        Why (kept in the timeline).
    now : datetime, optional
        When (default: now).

    Returns
    -------
    Incident
        The updated incident.

    Raises
    ------
    Conflict
        ``invalid_transition`` for any other move.
    """
    to = Status(to)
    now = aware(now)
    incident = get_incident_or_raise(session, incident_id=incident_id, lock=True)
    current = _status(incident)
    if to is Status.REVIEWED:
        raise Conflict(
            "an incident is marked reviewed when its post-mortem is published",
            code="invalid_transition",
        )
    if current is Status.RESOLVED and to is Status.INVESTIGATING:
        return _reopen(session, incident, note, now)
    if STATUS_ORDER.index(to) <= STATUS_ORDER.index(current) or current is Status.REVIEWED:
        raise Conflict(
            f"incident {incident.id} cannot move from {current} to {to}",
            code="invalid_transition",
        )
    return _move(session, incident, to, note, now)


def _move(session: Session, incident: Incident, to: Status, note: str, now: datetime) -> Incident:
    before = incident.status
    incident.status = to.value
    column = _STAMPS.get(to)
    if column is not None and getattr(incident, column) is None:
        setattr(incident, column, now)
    if to is Status.RESOLVED and incident.impact_ended_at is None:
        incident.impact_ended_at = now
    text = f"Status {before} → {to}" + (f": {note}" if note else "")
    record_timeline(
        session,
        incident_id=incident.id,
        kind=TimelineKind.STATUS,
        text=text,
        at=now,
        data={"from": before, "to": to.value, "note": note},
    )
    session.flush()
    return incident


def _reopen(session: Session, incident: Incident, note: str, now: datetime) -> Incident:
    if incident.impact_ended_at is not None and incident.impact_ended_at == incident.resolved_at:
        incident.impact_ended_at = None  # it was only set because the incident was resolved
    incident.resolved_at = None
    incident.status = Status.INVESTIGATING.value
    record_timeline(
        session,
        incident_id=incident.id,
        kind=TimelineKind.STATUS,
        text="Incident reopened: resolved → investigating" + (f": {note}" if note else ""),
        at=now,
        data={"from": Status.RESOLVED.value, "to": Status.INVESTIGATING.value, "note": note},
    )
    session.flush()
    return incident


def mark_reviewed(session: Session, *, incident_id: int, now: datetime | None = None) -> Incident:
    """Mark a resolved incident reviewed (called when its post-mortem is published).

    Raises ``invalid_transition`` (409) unless the incident is resolved.
    """
    now = aware(now)
    incident = get_incident_or_raise(session, incident_id=incident_id, lock=True)
    if _status(incident) is not Status.RESOLVED:
        raise Conflict(
            f"incident {incident.id} is {incident.status}; only a resolved incident is reviewed",
            code="invalid_transition",
        )
    return _move(session, incident, Status.REVIEWED, "post-mortem published", now)


# ---------------------------------------------------------------- roles


def current_roles(session: Session, *, incident_id: int) -> dict[str, RoleAssignment]:
    """The current holder of each assigned role."""
    rows = session.scalars(
        select(RoleAssignment)
        .where(RoleAssignment.incident_id == incident_id, RoleAssignment.released_at.is_(None))
        .order_by(RoleAssignment.id)
    ).all()
    return {r.role: r for r in rows}


def role_history(session: Session, *, incident_id: int) -> Sequence[RoleAssignment]:
    """Every assignment of an incident, oldest first (released ones included)."""
    return session.scalars(
        select(RoleAssignment)
        .where(RoleAssignment.incident_id == incident_id)
        .order_by(RoleAssignment.assigned_at, RoleAssignment.id)
    ).all()


def assign_role(
    session: Session,
    *,
    incident_id: int,
    role: Role,
    person: str,
    user_id: int | None = None,
    now: datetime | None = None,
) -> RoleAssignment:
    """Give a role to a person; a hand-over releases the current holder.

    Assigning the current holder again is a no-op that returns their assignment.

    Parameters
    ----------
    session : Session
        Open session.
    incident_id : int
        The incident.
    role : Role
        The role.
    person : str
        Display name or e-mail of the new holder.
    user_id : int, optional
        Their user account, when they have one.
    now : datetime, optional
        When (default: now).

    Returns
    -------
    RoleAssignment
        The current assignment.
    """
    role = Role(role)
    now = aware(now)
    person = person.strip()
    if not person:
        raise Invalid("person must not be empty", code="invalid_person")
    incident = get_incident_or_raise(session, incident_id=incident_id, lock=True)
    if user_id is not None:
        access_service.get_user_or_raise(session, user_id=user_id)
    holder = current_roles(session, incident_id=incident.id).get(role.value)
    if holder is not None and holder.person == person and holder.user_id == user_id:
        return holder
    actor = actor_label(session)
    if holder is not None:
        holder.released_at = now
        text = f"{holder.person} handed {role} to {person}"
    else:
        text = f"{person} is {role}"
    assignment = RoleAssignment(
        incident_id=incident.id,
        role=role.value,
        person=person,
        user_id=user_id,
        assigned_by=actor,
        assigned_at=now,
    )
    session.add(assignment)
    session.flush()
    record_timeline(
        session,
        incident_id=incident.id,
        kind=TimelineKind.ROLE,
        text=text,
        at=now,
        actor=actor,
        data={"role": role.value, "person": person, "previous": holder.person if holder else None},
    )
    return assignment


# ---------------------------------------------------------------- severity and details


def set_severity(
    session: Session,
    *,
    incident_id: int,
    severity: Sev,
    reason: str = "",
    now: datetime | None = None,
) -> Incident:
    """Change an incident's severity (a ``severity`` timeline entry; no-op when unchanged).

    ``impact_outgrown`` is cleared when the new tier is at least as severe as the one the
    measured impact suggests.
    """
    severity = Sev(severity)
    now = aware(now)
    incident = get_incident_or_raise(session, incident_id=incident_id, lock=True)
    if incident.severity == severity.value:
        return incident
    before = incident.severity
    incident.severity = severity.value
    suggested = incident.suggested_severity
    if suggested is None or not more_severe(suggested, severity):
        incident.impact_outgrown = False
    record_timeline(
        session,
        incident_id=incident.id,
        kind=TimelineKind.SEVERITY,
        text=f"Severity {before} → {severity}" + (f": {reason}" if reason else ""),
        at=now,
        data={"from": before, "to": severity.value, "reason": reason},
    )
    session.flush()
    return incident


def _check_root_cause(session: Session, code: str) -> None:
    found = session.scalar(
        select(RootCauseCategory.id).where(
            RootCauseCategory.code == code, RootCauseCategory.active.is_(True)
        )
    )
    if found is None:
        raise Invalid(f"'{code}' is not an active root-cause category", code="unknown_root_cause")


def update_incident(session: Session, *, incident_id: int, data: IncidentPatch) -> Incident:
    """Change an incident's description (only the fields set in ``data``).

    Slugs are checked against the catalog and ``root_cause`` against the active taxonomy
    (``unknown_root_cause``); ``title`` and the lists cannot be null.
    """
    incident = get_incident_or_raise(session, incident_id=incident_id, lock=True)
    changes = data.model_dump(exclude_unset=True)
    required = ("title", "summary", "services", "journeys", "regions", "kind", "public")
    for key in (*required, "customer_facing"):
        if key in changes and changes[key] is None:
            raise Invalid(f"{key} cannot be null", code="invalid_incident")
    for key in ("services", "journeys", "regions"):
        if key in changes:
            changes[key] = _dedupe(changes[key])
    check_slugs(
        session,
        services=changes.get("services"),
        journeys=changes.get("journeys"),
        regions=changes.get("regions"),
    )
    if changes.get("root_cause") is not None:
        _check_root_cause(session, changes["root_cause"])
    if changes.get("impact_ended_at") is not None:
        changes["impact_ended_at"] = aware(changes["impact_ended_at"])
        if changes["impact_ended_at"] < incident.started_at:
            raise Invalid("impact cannot end before it started", code="invalid_impact_end")
    old_root = incident.root_cause
    for key, value in changes.items():
        setattr(incident, key, value)
    if "root_cause" in changes and changes["root_cause"] != old_root:
        record_timeline(
            session,
            incident_id=incident.id,
            kind=TimelineKind.NOTE,
            text=f"Root cause set to {changes['root_cause'] or 'none'}",
            data={"root_cause": changes["root_cause"]},
        )
    session.flush()
    return incident


def add_note(
    session: Session, *, incident_id: int, text: str, at: datetime | None = None
) -> TimelineEntry:
    """Add a person's note to the timeline (``at`` may be in the past, for late notes)."""
    incident = get_incident_or_raise(session, incident_id=incident_id)
    text = text.strip()
    if not text:
        raise Invalid("a note needs text", code="invalid_note")
    entry = record_timeline(
        session, incident_id=incident.id, kind=TimelineKind.NOTE, text=text, at=at
    )
    assert entry is not None  # no source_key: always recorded
    return entry


def get_incident(session: Session, *, incident_id: int) -> Incident:
    """Load an incident or raise ``incident_not_found``."""
    return get_incident_or_raise(session, incident_id=incident_id)


# ---------------------------------------------------------------- timeline capture


def _capture_alerts(session: Session, incident: Incident) -> int:
    count = 0
    for alert_id in attached_alert_ids(session, incident_id=incident.id):
        alert = detect_service.get_alert_or_raise(session, alert_id=alert_id)
        for event in detect_service.alert_history(session, alert_id=alert_id):
            if event.kind not in CAPTURED_ALERT_EVENTS:
                continue
            entry = record_timeline(
                session,
                incident_id=incident.id,
                kind=TimelineKind.ALERT,
                text=f"Alert #{alert.id} {event.kind}: {alert.title}",
                at=event.at,
                actor=event.actor or SYSTEM_ACTOR,
                data={"alert_id": alert.id, "event": event.kind, "event_id": event.id},
                source_key=f"alert:{alert.id}:{event.kind}:{event.id}",
            )
            count += entry is not None
    return count


def _capture_deploys(
    session: Session, incident: Incident, now: datetime, lookback_hours: int
) -> int:
    start = incident.started_at - timedelta(hours=lookback_hours)
    end = incident.resolved_at or now
    count = 0
    if end <= start:
        return 0
    for row in signals_service.deploys_between(
        session, services=incident.services, start=start, end=end
    ):
        text = f"Deploy {row.version} of {row.service} by {row.actor or 'unknown'}"
        if row.change_id:
            text += f" (change {row.change_id})"
        if row.region:
            text += f" in {row.region}"
        if row.status and row.status not in ("succeeded", "success", "ok"):
            text += f" [{row.status}]"
        entry = record_timeline(
            session,
            incident_id=incident.id,
            kind=TimelineKind.DEPLOY,
            text=text,
            at=row.ts,
            actor=SYSTEM_ACTOR,
            data={
                "service": row.service,
                "version": row.version,
                "actor": row.actor,
                "change_id": row.change_id,
                "region": row.region,
                "status": row.status,
            },
            source_key=f"deploy:{row.key}"[:200],
        )
        count += entry is not None
    return count


def capture(
    session: Session,
    *,
    incident_id: int,
    now: datetime | None = None,
    lookback_hours: int = DEFAULT_LOOKBACK_HOURS,
) -> int:
    """Copy attached alerts' history and the services' deploys into the timeline.

    Idempotent: every captured entry carries a ``source_key``, so a rerun records only what is
    new. Deploys are taken from ``lookback_hours`` before ``started_at`` up to resolution (or
    ``now`` while open).

    Parameters
    ----------
    session : Session
        Open session.
    incident_id : int
        The incident.
    now : datetime, optional
        End of the deploy window for an open incident (default: now).
    lookback_hours : int
        Hours before ``started_at`` to look for deploys.

    Returns
    -------
    int
        Number of new timeline entries.
    """
    now = aware(now)
    incident = get_incident_or_raise(session, incident_id=incident_id)
    count = _capture_alerts(session, incident)
    count += _capture_deploys(session, incident, now, lookback_hours)
    return count


def capture_open(
    session: Session,
    *,
    now: datetime | None = None,
    lookback_hours: int = DEFAULT_LOOKBACK_HOURS,
) -> int:
    """Run :func:`capture` for every open incident; return the number of new entries."""
    now = aware(now)
    ids = session.scalars(
        select(Incident.id).where(Incident.status.in_(list(OPEN_STATUSES))).order_by(Incident.id)
    ).all()
    return sum(capture(session, incident_id=i, now=now, lookback_hours=lookback_hours) for i in ids)


# ---------------------------------------------------------------- listing and reading


def _incident_filters(
    session: Session,
    query: Select[Any],
    *,
    status: Status | str | None,
    open_only: bool,
    severity: Sev | str | None,
    service: str | None,
    since: datetime | None,
    until: datetime | None,
) -> Select[Any]:
    if status is not None:
        query = query.where(Incident.status == Status(status).value)
    if open_only:
        query = query.where(Incident.status.in_(list(OPEN_STATUSES)))
    if severity is not None:
        query = query.where(Incident.severity == Sev(severity).value)
    if service is not None:
        query = query.where(json_list_contains(session, Incident.services, service))
    if since is not None:
        query = query.where(Incident.declared_at >= aware(since))
    if until is not None:
        query = query.where(Incident.declared_at < aware(until))
    return query


def list_incidents(
    session: Session,
    *,
    status: Status | str | None = None,
    open_only: bool = False,
    severity: Sev | str | None = None,
    service: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Sequence[Incident]:
    """Incidents, newest declaration first, filtered.

    Parameters
    ----------
    session : Session
        Open session.
    status : Status, optional
        Only this status.
    open_only : bool
        Only incidents not yet resolved.
    severity : Sev, optional
        Only this tier.
    service : str, optional
        Only incidents touching this service slug.
    since, until : datetime, optional
        Declared in ``[since, until)``.
    limit, offset : int
        Paging.

    Returns
    -------
    Sequence[Incident]
        One page of incidents.
    """
    query = _incident_filters(
        session,
        select(Incident),
        status=status,
        open_only=open_only,
        severity=severity,
        service=service,
        since=since,
        until=until,
    )
    return session.scalars(
        query.order_by(Incident.declared_at.desc(), Incident.id.desc()).limit(limit).offset(offset)
    ).all()


def count_incidents(
    session: Session,
    *,
    status: Status | str | None = None,
    open_only: bool = False,
    severity: Sev | str | None = None,
    service: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """How many incidents :func:`list_incidents` would list over all pages."""
    query = _incident_filters(
        session,
        select(func.count()).select_from(Incident),
        status=status,
        open_only=open_only,
        severity=severity,
        service=service,
        since=since,
        until=until,
    )
    return int(session.scalar(query) or 0)


def latest_incident(session: Session) -> Incident | None:
    """The most recently declared incident, if any."""
    return session.scalars(
        select(Incident).order_by(Incident.declared_at.desc(), Incident.id.desc()).limit(1)
    ).first()


def incident_counts_by_status(session: Session) -> dict[str, int]:
    """Number of incidents in each status (every status present, zero included)."""
    counts = dict.fromkeys((s.value for s in Status), 0)
    for status, n in session.execute(
        select(Incident.status, func.count()).group_by(Incident.status)
    ).all():
        counts[status] = int(n)
    return counts


def checklist(session: Session, *, incident_id: int) -> Sequence[ChecklistItem]:
    """An incident's checklist, in order."""
    return session.scalars(
        select(ChecklistItem)
        .where(ChecklistItem.incident_id == incident_id)
        .order_by(ChecklistItem.position, ChecklistItem.id)
    ).all()


def durations(incident: Incident) -> Durations:
    """Detection and response times of an incident, in seconds."""
    detected = incident.detected_at or incident.declared_at
    return Durations(
        time_to_detect=_seconds(incident.started_at, incident.detected_at),
        time_to_acknowledge=_seconds(detected, incident.acknowledged_at),
        time_to_declare=_seconds(detected, incident.declared_at),
        time_to_resolve=_seconds(incident.started_at, incident.resolved_at),
    )


def incident_read(session: Session, incident: Incident) -> IncidentDetail:
    """An incident with its roles, alerts, checklist, tier rules and durations.

    Works without configured tiers (authority and escalation are then empty).
    """
    items = checklist(session, incident_id=incident.id)
    finished = sum(1 for i in items if i.done_at is not None or i.skipped)
    tier = session.scalars(
        select(SeverityTier).where(SeverityTier.tier == incident.severity)
    ).first()
    base = IncidentRead.model_validate(incident).model_dump()
    return IncidentDetail(
        **base,
        roles={
            role: RoleAssignmentRead.model_validate(a)
            for role, a in current_roles(session, incident_id=incident.id).items()
        },
        alert_ids=attached_alert_ids(session, incident_id=incident.id),
        checklist=[ChecklistItemRead.model_validate(i) for i in items],
        checklist_progress=finished / len(items) if items else 0.0,
        authority=dict(tier.authority) if tier else {},
        escalation=list(tier.escalation) if tier else [],
        ack_minutes=tier.ack_minutes if tier else None,
        update_every_minutes=tier.update_every_minutes if tier else None,
        durations=durations(incident).model_dump(),
    )


# ---------------------------------------------------------------- severity tiers


def list_tiers(session: Session) -> Sequence[SeverityTier]:
    """The configured severity tiers, most severe first."""
    return session.scalars(select(SeverityTier).order_by(SeverityTier.tier)).all()


def get_tier_or_raise(session: Session, *, tier: Sev | str) -> SeverityTier:
    """Load a tier by name (``sev1``...) or raise ``severity_tier_not_found``."""
    found = session.scalars(select(SeverityTier).where(SeverityTier.tier == str(tier))).first()
    if found is None:
        raise NotFound(f"severity tier {tier} does not exist", code="severity_tier_not_found")
    return found


def update_tier(session: Session, *, tier: Sev | str, data: SeverityTierUpdate) -> SeverityTier:
    """Change a tier's name, criteria, escalation matrix, authority chart or targets."""
    found = get_tier_or_raise(session, tier=tier)
    changes = data.model_dump(mode="json", exclude_unset=True)
    for key, value in changes.items():
        if value is None:
            raise Invalid(f"{key} cannot be null", code="invalid_tier")
        setattr(found, key, value)
    session.flush()
    return found


def tier_rules(session: Session) -> list[TierRule]:
    """The tiers' customer-impact criteria as :class:`TierRule` objects (for ``suggest``)."""
    return [TierRule.from_criteria(t.tier, t.criteria or {}) for t in list_tiers(session)]


# ---------------------------------------------------------------- root-cause taxonomy


def list_root_causes(session: Session, *, active_only: bool = False) -> Sequence[RootCauseCategory]:
    """The root-cause taxonomy, ordered by code (parents before children)."""
    query = select(RootCauseCategory).order_by(RootCauseCategory.code)
    if active_only:
        query = query.where(RootCauseCategory.active.is_(True))
    return session.scalars(query).all()


def get_root_cause_or_raise(session: Session, *, code: str) -> RootCauseCategory:
    """Load a category by code or raise ``root_cause_not_found``."""
    found = session.scalars(select(RootCauseCategory).where(RootCauseCategory.code == code)).first()
    if found is None:
        raise NotFound(f"root cause {code} does not exist", code="root_cause_not_found")
    return found


def create_root_cause(session: Session, *, data: RootCauseCreate) -> RootCauseCategory:
    """Add a category; a dotted code's parent (``change`` for ``change.deploy``) must exist."""
    parent = parent_code(data.code)
    if parent is not None:
        found = session.scalar(select(RootCauseCategory.id).where(RootCauseCategory.code == parent))
        if found is None:
            raise Invalid(f"parent category {parent} does not exist", code="unknown_parent")
    if session.scalar(select(RootCauseCategory.id).where(RootCauseCategory.code == data.code)):
        raise Conflict(f"root cause {data.code} already exists", code="root_cause_exists")
    category = RootCauseCategory(
        code=data.code, name=data.name, parent=parent, description=data.description
    )
    session.add(category)
    flush_unique(session, "root_cause_exists", f"root cause {data.code} already exists")
    return category


def update_root_cause(session: Session, *, code: str, data: RootCauseUpdate) -> RootCauseCategory:
    """Rename, describe, or (de)activate a category. Categories are never deleted: a
    deactivated one stays valid on past incidents but cannot be chosen again."""
    category = get_root_cause_or_raise(session, code=code)
    for key, value in data.model_dump(exclude_unset=True).items():
        if value is None:
            raise Invalid(f"{key} cannot be null", code="invalid_root_cause")
        setattr(category, key, value)
    session.flush()
    return category


# ---------------------------------------------------------------- playbooks


def list_playbooks(session: Session, *, enabled: bool | None = None) -> Sequence[Playbook]:
    """Playbooks by name."""
    query = select(Playbook).order_by(Playbook.name)
    if enabled is not None:
        query = query.where(Playbook.enabled.is_(enabled))
    return session.scalars(query).all()


def get_playbook_or_raise(session: Session, *, playbook_id: int) -> Playbook:
    """Load a playbook or raise ``playbook_not_found``."""
    return get_or_raise(session, Playbook, playbook_id, "playbook")


def _name_taken(session: Session, name: str, exclude_id: int | None = None) -> bool:
    query = select(func.count()).select_from(Playbook).where(Playbook.name == name)
    if exclude_id is not None:
        query = query.where(Playbook.id != exclude_id)
    return bool(session.scalar(query))


def create_playbook(session: Session, *, data: PlaybookCreate) -> Playbook:
    """Add a playbook (``playbook_exists`` when the name is taken; services are checked)."""
    services = _dedupe(data.services)
    check_slugs(session, services=services)
    if _name_taken(session, data.name):
        raise Conflict(f"playbook '{data.name}' already exists", code="playbook_exists")
    book = Playbook(
        name=data.name,
        description=data.description,
        services=services,
        kinds=_dedupe(data.kinds),
        steps=[s.model_dump(mode="json") for s in data.steps],
        enabled=data.enabled,
    )
    session.add(book)
    flush_unique(session, "playbook_exists", f"playbook '{data.name}' already exists")
    return book


def update_playbook(session: Session, *, playbook_id: int, data: PlaybookUpdate) -> Playbook:
    """Change a playbook; incidents it is attached to keep their checklist."""
    book = get_playbook_or_raise(session, playbook_id=playbook_id)
    changes = data.model_dump(mode="json", exclude_unset=True)
    for key, value in changes.items():
        if value is None:
            raise Invalid(f"{key} cannot be null", code="invalid_playbook")
    if "services" in changes:
        changes["services"] = _dedupe(changes["services"])
        check_slugs(session, services=changes["services"])
    if "kinds" in changes:
        changes["kinds"] = _dedupe(changes["kinds"])
    if "name" in changes and _name_taken(session, changes["name"], book.id):
        raise Conflict(f"playbook '{changes['name']}' already exists", code="playbook_exists")
    for key, value in changes.items():
        setattr(book, key, value)
    flush_unique(session, "playbook_exists", "a playbook with this name already exists")
    return book


def delete_playbook(session: Session, *, playbook_id: int) -> None:
    """Delete a playbook; checklists already attached stay (their ``playbook_id`` is cleared)."""
    session.delete(get_playbook_or_raise(session, playbook_id=playbook_id))
    session.flush()


def check_item(
    session: Session,
    *,
    incident_id: int,
    item_id: int,
    done: bool = True,
    skipped: bool = False,
    now: datetime | None = None,
) -> ChecklistItem:
    """Tick, skip or untick a checklist step (a ``playbook`` timeline entry).

    Parameters
    ----------
    session : Session
        Open session.
    incident_id : int
        The incident the step belongs to.
    item_id : int
        The checklist item.
    done : bool
        Done (True) or not done (False).
    skipped : bool
        Skipped on purpose (wins over ``done``).
    now : datetime, optional
        When (default: now).

    Returns
    -------
    ChecklistItem
        The updated item.
    """
    now = aware(now)
    incident = get_incident_or_raise(session, incident_id=incident_id)
    item = session.get(ChecklistItem, item_id)
    if item is None or item.incident_id != incident.id:
        raise NotFound(
            f"checklist item {item_id} does not exist on incident {incident.id}",
            code="checklist_item_not_found",
        )
    actor = actor_label(session)
    if skipped:
        item.skipped, item.done_at, item.done_by = True, now, actor
        text = f"Skipped: {item.title}"
    elif done:
        item.skipped, item.done_at, item.done_by = False, now, actor
        text = f"✓ {item.title}"
    else:
        item.skipped, item.done_at, item.done_by = False, None, None
        text = f"Reopened step: {item.title}"
    record_timeline(
        session,
        incident_id=incident.id,
        kind=TimelineKind.PLAYBOOK,
        text=text,
        at=now,
        actor=actor,
        data={"item_id": item.id, "done": done, "skipped": skipped},
    )
    return item


# ---------------------------------------------------------------- export


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def export_timeline(
    session: Session, *, incident_id: int, fmt: Literal["markdown", "json"] = "markdown"
) -> str:
    """Export an incident's facts and timeline as Markdown or JSON.

    Parameters
    ----------
    session : Session
        Open session.
    incident_id : int
        The incident.
    fmt : {"markdown", "json"}
        Markdown: a title, a list of facts and a table of timestamped entries (UTC). JSON: an
        ``incident`` object and an ``entries`` list.

    Returns
    -------
    str
        The document.
    """
    incident = get_incident_or_raise(session, incident_id=incident_id)
    entries = timeline(session, incident_id=incident.id)
    roles = current_roles(session, incident_id=incident.id)
    if fmt == "json":
        doc = {
            "incident": {
                "id": incident.id,
                "title": incident.title,
                "severity": incident.severity,
                "status": incident.status,
                "services": incident.services,
                "journeys": incident.journeys,
                "regions": incident.regions,
                "root_cause": incident.root_cause,
                "started_at": _iso(incident.started_at),
                "declared_at": _iso(incident.declared_at),
                "resolved_at": _iso(incident.resolved_at),
                "impact_ended_at": _iso(incident.impact_ended_at),
                "roles": {r: a.person for r, a in roles.items()},
                "durations": durations(incident).model_dump(),
            },
            "entries": [
                {
                    "at": _iso(e.at),
                    "kind": e.kind,
                    "actor": e.actor,
                    "text": e.text,
                    "data": e.data,
                }
                for e in entries
            ],
        }
        return json.dumps(doc, indent=2, ensure_ascii=False, default=str)
    if fmt != "markdown":
        raise Invalid(f"unknown export format {fmt}", code="invalid_format")
    lines = [
        f"# Incident {incident.id}: {incident.title}",
        "",
        f"- **Severity:** {incident.severity}",
        f"- **Status:** {incident.status}",
        f"- **Services:** {', '.join(incident.services) or '-'}",
        f"- **Journeys:** {', '.join(incident.journeys) or '-'}",
        f"- **Regions:** {', '.join(incident.regions) or '-'}",
        f"- **Started:** {_iso(incident.started_at)}",
        f"- **Declared:** {_iso(incident.declared_at)}",
        f"- **Resolved:** {_iso(incident.resolved_at) or '-'}",
        f"- **Root cause:** {incident.root_cause or '-'}",
    ]
    lines.extend(f"- **{role}:** {a.person}" for role, a in roles.items())
    lines += ["", "## Timeline (UTC)", "", "| time | kind | who | what |"]
    lines.append("| --- | --- | --- | --- |")
    lines.extend(
        f"| {e.at.strftime('%Y-%m-%d %H:%M:%S')} | {e.kind} | {_md_cell(e.actor)} "
        f"| {_md_cell(e.text)} |"
        for e in entries
    )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the rest of the room's face
#
# Other rooms (the simulator's people, the KPI catalogue, the overview) reach communications,
# post-mortems, measured impact and ticket links through this module, like everything else.

from juncture.incidents import comms as comms  # noqa: E402, PLC0414
from juncture.incidents import impact as impact  # noqa: E402, PLC0414
from juncture.incidents import linking as linking  # noqa: E402, PLC0414
from juncture.incidents import metrics as metrics  # noqa: E402, PLC0414
from juncture.incidents import postmortems as postmortems  # noqa: E402, PLC0414
