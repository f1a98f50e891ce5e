"""Incident facts for the KPI catalogue: one frozen row per incident, read by the KPI room."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from juncture.incidents.models import Incident
from juncture.kit import clock


@dataclass(frozen=True, slots=True)
class IncidentFact:
    """What the KPIs need of one incident (times aware UTC; None until reached).

    ``customer_minutes_lost`` is the impact snapshot's figure when it has one, else the
    customers affected times the minutes from ``started_at`` to the impact end (or
    resolution); None when neither customers nor an end are known.
    """

    id: int
    severity: str
    root_cause: str | None
    services: tuple[str, ...]
    regions: tuple[str, ...]
    started_at: datetime
    detected_at: datetime | None
    declared_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    impact_ended_at: datetime | None
    customers_affected: int | None
    customer_minutes_lost: float | None


def _utc(at: datetime | None) -> datetime | None:
    return None if at is None else clock.ensure_utc(at)


def _fact(incident: Incident) -> IncidentFact:
    impact = incident.impact or {}
    customers = impact.get("customers_affected")
    minutes_lost = impact.get("customer_minutes_lost")
    started = clock.ensure_utc(incident.started_at)
    end = _utc(incident.impact_ended_at or incident.resolved_at)
    if minutes_lost is None and customers is not None and end is not None:
        minutes_lost = float(customers) * max(0.0, (end - started).total_seconds() / 60)
    return IncidentFact(
        id=incident.id,
        severity=incident.severity,
        root_cause=incident.root_cause,
        services=tuple(incident.services or ()),
        regions=tuple(incident.regions or ()),
        started_at=started,
        detected_at=_utc(incident.detected_at),
        declared_at=clock.ensure_utc(incident.declared_at),
        acknowledged_at=_utc(incident.acknowledged_at),
        resolved_at=_utc(incident.resolved_at),
        impact_ended_at=_utc(incident.impact_ended_at),
        customers_affected=None if customers is None else int(customers),
        customer_minutes_lost=None if minutes_lost is None else float(minutes_lost),
    )


def incident_facts(session: Session, *, start: datetime, end: datetime) -> list[IncidentFact]:
    """Incidents declared in [start, end), oldest first.

    Parameters
    ----------
    session : Session
        Open session.
    start, end : datetime
        Aware UTC bounds on ``declared_at`` (indexed).

    Returns
    -------
    list[IncidentFact]
        One fact per incident.
    """
    rows = session.scalars(
        select(Incident)
        .where(Incident.declared_at >= start, Incident.declared_at < end)
        .order_by(Incident.declared_at, Incident.id)
    )
    return [_fact(i) for i in rows]
