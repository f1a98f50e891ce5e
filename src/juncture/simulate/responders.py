"""The simulated company's on-call staff: they acknowledge alerts with realistic delays, and
the first responder sometimes misses the page so the alert escalates to the secondary.

They act through the detect room's service functions, as a person would through the API, so
the demo's alert history (acknowledgements, escalations, who did what, MTTA) is real history.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy.orm import Session

from juncture.detect import service as detect_service
from juncture.store.uow import current_actor

#: Median minutes to acknowledge by severity (log-normal spread around it).
MEDIAN_ACK_MINUTES = {"critical": 3.0, "high": 6.0, "warning": 15.0, "info": 30.0}
SPREAD = 0.6  # sigma of the log-normal
ESCALATE_AFTER = timedelta(minutes=10)  # the policy's first wait
PRIMARY = ("alex", "sam", "kim", "lee")
SECONDARY = ("jo", "max")


@dataclass(frozen=True)
class Response:
    """What the on-call staff will do about one alert."""

    ack_after: timedelta
    primary: str
    secondary: str

    @property
    def escalates(self) -> bool:
        return self.ack_after > ESCALATE_AFTER


def plan(dedup_key: str, started_at: datetime, severity: str) -> Response:
    """Deterministic per alert (same history, same responses)."""
    digest = hashlib.blake2b(f"{dedup_key}@{started_at.isoformat()}".encode(), digest_size=8)
    rng = np.random.default_rng(int.from_bytes(digest.digest(), "big"))
    median = MEDIAN_ACK_MINUTES.get(severity, 15.0)
    minutes = float(np.exp(math.log(median) + SPREAD * rng.standard_normal()))
    week = started_at.isocalendar().week
    return Response(
        timedelta(minutes=min(minutes, 240.0)),
        PRIMARY[week % len(PRIMARY)],
        SECONDARY[week % len(SECONDARY)],
    )


def respond(session: Session, *, now: datetime) -> int:
    """Acknowledge every firing alert whose responder has reacted by ``now``; returns how many.

    An alert acknowledged after the first escalation wait gets an ``escalated`` event at that
    wait and is acknowledged by the secondary."""
    alerts, _ = detect_service.list_alerts(session, state="firing", limit=500)
    done = 0
    for alert in alerts:
        response = plan(alert.dedup_key or str(alert.id), alert.started_at, alert.severity)
        at = alert.started_at + response.ack_after
        if at > now:
            continue
        who = response.primary
        if response.escalates:
            detect_service.record_event(
                session,
                alert_id=alert.id,
                kind="escalated",
                at=alert.started_at + ESCALATE_AFTER,
                detail={"from": response.primary, "to": response.secondary, "simulated": True},
            )
            who = response.secondary
        actor = current_actor(session)
        session.info["actor"] = replace(actor, label=f"sim:{who}")
        try:
            detect_service.acknowledge(
                session, alert_id=alert.id, at=at, note="simulated on-call responder"
            )
        finally:
            session.info["actor"] = actor
        done += 1
    return done
