"""Periodic work of the detect room: evaluate the alert rules, notify and escalate.

``detect.evaluate`` (every minute) raises and clears alerts; an alert that should reach people
gets its escalation cursor set to "due now". ``detect.notify`` (every 30 s) routes such an
alert to a notification chain (team = the rule's owner team, the alert's severity), then on
each tick sends what ``oncall.next_action`` says is due on every channel of the chain, stores
the cursor, and retries failed deliveries on later ticks (no sleeping inside a job).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from juncture.access import service as access_service
from juncture.config import Settings
from juncture.detect import channels, oncall, service
from juncture.detect.evaluate import evaluate_rules
from juncture.detect.models import Alert, AlertEvent, AlertRule, Delivery, NotificationChannel
from juncture.jobs.registry import periodic
from juncture.kit import clock

logger = logging.getLogger(__name__)

#: Waits before the 2nd, 3rd and 4th try of a failed delivery (the last value repeats).
RETRY_BACKOFF_S: tuple[float, ...] = (30.0, 120.0, 600.0)
#: Tries of one notification on one channel, the first included.
MAX_DELIVERY_ATTEMPTS = 4
#: Failed deliveries older than this are not retried any more.
RETRY_HORIZON = timedelta(hours=6)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------- messages


def _secret(settings: Settings) -> bytes | None:
    key = settings.secret_key
    return None if key is None else key.get_secret_value().encode()


def _recipient(users: Sequence[str], channel: str) -> str:
    return ",".join(users) if users else f"channel:{channel}"


def build_message(
    alert: Alert,
    *,
    settings: Settings,
    now: datetime,
    users: Sequence[str],
    channel: str,
    step: int | None = None,
) -> channels.Message:
    """The notification of ``alert`` for the people of one escalation step on one channel."""
    base = settings.public_url.rstrip("/")
    links = {"open": f"{base}/alerts/{alert.id}"}
    secret = _secret(settings)
    if secret is not None and alert.state == "firing":
        token = service.ack_token(
            alert_id=alert.id,
            recipient=_recipient(users, channel),
            expires_at=now + timedelta(hours=settings.ack_link_hours),
            secret=secret,
        )
        links = {"acknowledge": f"{base}/alerts/{alert.id}/ack?t={token}", **links}
    facts: list[tuple[str, str]] = []
    if users:
        facts.append(("Notifying", ", ".join(users)))
    if step is not None:
        facts.append(("Escalation step", str(step + 1)))
    if alert.services:
        facts.append(("Services", ", ".join(alert.services)))
    if alert.journeys:
        facts.append(("Journeys", ", ".join(alert.journeys)))
    evidence = alert.evidence
    if evidence.get("value") is not None and evidence.get("threshold") is not None:
        facts.append(("Value", f"{evidence['value']} ({evidence['op']} {evidence['threshold']})"))
    if evidence.get("lag_minutes") is not None:
        facts.append(("Customer effect after", f"{evidence['lag_minutes']} min"))
    effect = evidence.get("effect")
    if isinstance(effect, dict) and effect.get("excess") is not None:
        facts.append(("Extra " + str(effect.get("unit") or "bad outcomes"), f"{effect['excess']}"))
    return channels.Message(
        alert_id=str(alert.id),
        title=alert.title,
        summary=alert.summary or alert.title,
        severity=alert.severity,  # type: ignore[arg-type]  # coerced to the enum
        state=alert.state,  # type: ignore[arg-type]  # coerced to the enum
        started_at=alert.started_at,
        facts=facts,
        links=links,
        dedup_key=alert.dedup_key,
    )


def _send(
    session: Session,
    alert: Alert,
    channel: NotificationChannel,
    msg: channels.Message,
    *,
    attempt: int,
    detail: dict[str, Any],
    http_client: httpx.Client | None,
) -> bool:
    """One try on one channel; a retryable failure gets its retry time recorded."""
    config = service.channel_config(session, channel_id=channel.id)
    tries = channels.deliver(config, msg, max_attempts=1, http_client=http_client)
    recorded = []
    for a in tries:
        retry: float | None = None
        if not a.ok and a.retryable and attempt < MAX_DELIVERY_ATTEMPTS:
            retry = RETRY_BACKOFF_S[min(attempt - 1, len(RETRY_BACKOFF_S) - 1)]
        recorded.append(replace(a, number=attempt, retry_in_s=retry))
    service.record_deliveries(
        session,
        alert_id=alert.id,
        channel_id=channel.id,
        alert_state=alert.state,
        dedup_key=alert.dedup_key,
        attempts=recorded,
        detail=detail,
    )
    return bool(recorded and recorded[-1].ok)


# ---------------------------------------------------------------- escalation


def _team_slug(session: Session, alert: Alert) -> str:
    rule = session.get(AlertRule, alert.rule_id) if alert.rule_id is not None else None
    if rule is None:
        return "-"
    team = access_service.get_team(session, team_id=rule.owner_team_id)
    return team.slug if team is not None else "-"


def _team_resolver(session: Session) -> oncall.TeamResolver:
    def members(slug: str) -> list[str]:
        team = access_service.get_team_by_slug(session, slug=slug)
        if team is None:
            return []
        out = []
        for m in access_service.list_members(session, team_id=team.id):
            out.append(access_service.get_user_or_raise(session, user_id=m.user_id).email)
        return out

    return members


def _offset(policy: oncall.EscalationPolicy, firing: int) -> timedelta:
    return policy.due_at(_EPOCH, firing) - _EPOCH


def _restart_handed_back(session: Session, now: datetime) -> None:
    """Alerts handed back (unacknowledged) escalate again from step 1."""
    for alert in session.scalars(
        select(Alert).where(
            Alert.state == "firing",
            Alert.escalation_policy.is_not(None),
            Alert.escalation_sent_steps == 0,
            Alert.next_escalation_at.is_(None),
        )
    ):
        service.set_escalation(session, alert_id=alert.id, policy=None, sent_steps=0, next_at=now)


def _escalate(
    session: Session,
    alert: Alert,
    *,
    now: datetime,
    settings: Settings,
    by_name: dict[str, NotificationChannel],
    resolve_schedule: oncall.ScheduleResolver,
    resolve_team: oncall.TeamResolver,
    http_client: httpx.Client | None,
    summary: dict[str, int],
) -> None:
    assert alert.next_escalation_at is not None
    try:
        match = service.route_alert(
            session, team=_team_slug(session, alert), severity=alert.severity
        )
    except oncall.NoRoute as exc:
        summary["no_route"] += 1
        service.record_event(
            session, alert_id=alert.id, kind="updated", at=now, detail={"no_route": exc.detail}
        )
        service.set_escalation(session, alert_id=alert.id, policy=None, sent_steps=0, next_at=None)
        return
    name = alert.escalation_policy or match.policy
    policy = service.get_policy_by_name(session, name=name)
    if policy is None:
        summary["no_route"] += 1
        service.record_event(
            session,
            alert_id=alert.id,
            kind="updated",
            at=now,
            detail={"no_route": f"escalation policy '{name}' does not exist"},
        )
        service.set_escalation(session, alert_id=alert.id, policy=None, sent_steps=0, next_at=None)
        return
    sent = alert.escalation_sent_steps
    # The cursor stores when the next firing is due; the escalation started that much earlier.
    fired_at = alert.next_escalation_at - _offset(policy, sent)
    tick = oncall.next_action(
        policy,
        fired_at,
        now,
        sent_steps=sent,
        acknowledged_at=alert.acknowledged_at,
        resolved_at=alert.resolved_at,
        resolve_schedule=resolve_schedule,
        resolve_team=resolve_team,
    )
    for notify in tick.notify:
        firing = notify.round * len(policy.steps) + notify.step_index
        step_detail = {
            "policy": policy.name,
            "step": notify.step_index + 1,
            "round": notify.round,
            "target": f"{notify.target.kind}:{notify.target.ref}",
            "users": list(notify.users),
        }
        summary["steps"] += 1
        if firing > 0:
            service.record_event(
                session, alert_id=alert.id, kind="escalated", at=now, detail=step_detail
            )
        for channel_name in match.channels:
            channel = by_name.get(channel_name)
            if channel is None or not channel.enabled:
                continue
            msg = build_message(
                alert,
                settings=settings,
                now=now,
                users=notify.users,
                channel=channel_name,
                step=notify.step_index,
            )
            ok = _send(
                session,
                alert,
                channel,
                msg,
                attempt=1,
                detail=step_detail,
                http_client=http_client,
            )
            summary["deliveries"] += 1
            summary["failed"] += 0 if ok else 1
    service.set_escalation(
        session,
        alert_id=alert.id,
        policy=policy.name,
        sent_steps=tick.sent_steps,
        next_at=tick.next_at,
    )


def _retry_failed(
    session: Session,
    *,
    now: datetime,
    settings: Settings,
    by_id: dict[int, NotificationChannel],
    http_client: httpx.Client | None,
    summary: dict[str, int],
) -> None:
    """Try again the failed deliveries whose retry time has come (latest per alert/channel)."""
    rows = session.scalars(
        select(Delivery)
        .where(Delivery.started_at >= now - RETRY_HORIZON)
        .order_by(Delivery.alert_id, Delivery.channel_id, Delivery.id)
    ).all()
    latest: dict[tuple[int, int], Delivery] = {}
    for row in rows:
        latest[(row.alert_id, row.channel_id)] = row
    for (alert_id, channel_id), row in sorted(latest.items()):
        if row.ok or row.retry_in_s is None:
            continue
        if clock.ensure_utc(row.started_at) + timedelta(seconds=row.retry_in_s) > now:
            continue
        alert = service.get_alert_or_raise(session, alert_id=alert_id)
        channel = by_id.get(channel_id)
        if alert.state != "firing" or channel is None or not channel.enabled:
            continue
        event = session.scalars(
            select(AlertEvent)
            .where(AlertEvent.alert_id == alert_id, AlertEvent.kind == "notified")
            .order_by(AlertEvent.id.desc())
        ).first()
        detail = dict(event.detail) if event is not None else {}
        users = [str(u) for u in detail.get("users", [])]
        step = detail.get("step")
        msg = build_message(
            alert,
            settings=settings,
            now=now,
            users=users,
            channel=channel.name,
            step=int(step) - 1 if isinstance(step, int) else None,
        )
        keep: dict[str, Any] = {
            k: detail[k] for k in ("policy", "step", "round", "target", "users") if k in detail
        }
        ok = _send(
            session,
            alert,
            channel,
            msg,
            attempt=row.attempt + 1,
            detail={**keep, "retry": True},
            http_client=http_client,
        )
        summary["retried"] += 1
        summary["failed"] += 0 if ok else 1


def notify_due(
    session: Session,
    *,
    now: datetime | None = None,
    settings: Settings | None = None,
    http_client: httpx.Client | None = None,
) -> dict[str, int]:
    """Send every notification that is due at ``now``: retries, then escalation steps."""
    now = clock.ensure_utc(now or clock.now())
    settings = settings or Settings()
    summary = {"alerts": 0, "steps": 0, "deliveries": 0, "retried": 0, "failed": 0, "no_route": 0}
    all_channels = list(service.list_channels(session))
    by_name = {c.name: c for c in all_channels}
    by_id = {c.id: c for c in all_channels}
    _retry_failed(
        session, now=now, settings=settings, by_id=by_id, http_client=http_client, summary=summary
    )
    _restart_handed_back(session, now)
    due = service.due_escalations(session, now=now)
    if not due:
        return summary
    resolve_schedule = service.schedule_resolver(session)
    resolve_team = _team_resolver(session)
    for alert in due:
        summary["alerts"] += 1
        _escalate(
            session,
            alert,
            now=now,
            settings=settings,
            by_name=by_name,
            resolve_schedule=resolve_schedule,
            resolve_team=resolve_team,
            http_client=http_client,
            summary=summary,
        )
    return summary


# ---------------------------------------------------------------- the jobs


@periodic("detect.evaluate", every=timedelta(minutes=1))
def evaluate(session: Session) -> dict[str, Any]:
    """Evaluate the enabled alert rules: open, join and clear alerts."""
    return evaluate_rules(session, now=clock.now(), settings=Settings())


@periodic("detect.notify", every=timedelta(seconds=30))
def notify(session: Session) -> dict[str, Any]:
    """Notify and escalate alerts that need it; retry failed deliveries."""
    return dict(notify_due(session, now=clock.now(), settings=Settings()))
