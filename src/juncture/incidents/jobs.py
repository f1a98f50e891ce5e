"""Periodic work of the incidents room: keep open incidents' timelines and measured impact
current, and deliver status notifications.

Registered through :data:`juncture.jobs.registry.JOB_MODULES` (``juncture.incidents.jobs``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from juncture.config import Settings
from juncture.incidents.status import deliver_pending
from juncture.jobs.registry import periodic
from juncture.kit import clock


@periodic("incidents.status_notify", every=timedelta(seconds=30))
def status_notify(session: Session) -> dict[str, Any]:
    """Send pending status-page notifications to e-mail and webhook subscribers."""
    return dict(deliver_pending(session, settings=Settings(), now=clock.now()))


@periodic("incidents.refresh", every=timedelta(minutes=1))
def refresh_open(session: Session) -> dict[str, Any]:
    """Capture alert events and deploys into open incidents' timelines and re-measure their
    customer impact (which also links tickets and checks the severity against the tiers).
    Incidents resolved in the last hour are measured once more, so late signals count."""
    from juncture.incidents import impact
    from juncture.incidents import service as incident_service

    settings = Settings()
    now = clock.now()
    captured = incident_service.capture_open(
        session, now=now, lookback_hours=settings.incident_deploy_lookback_hours
    )
    due = list(incident_service.list_incidents(session, open_only=True, limit=500))
    due += [
        incident
        for incident in incident_service.list_incidents(
            session, status="resolved", since=now - timedelta(days=30), limit=500
        )
        if incident.resolved_at is not None and now - incident.resolved_at < timedelta(hours=1)
    ]
    for incident in due:
        impact.refresh_impact(session, incident_id=incident.id, now=now)
    return {"captured": captured, "measured": len(due)}
