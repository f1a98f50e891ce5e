"""Detect logic: alert rules, the alert lifecycle, silences, channels and on-call objects.

The alert engine (a periodic job) evaluates rules and calls :func:`raise_alert` while a
condition holds and :func:`clear_alert` once it stops; people acknowledge, unacknowledge and
resolve. Every transition appends an :class:`AlertEvent`. Services never commit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr, ValidationError
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from juncture.access import service as access_service
from juncture.detect import channels as channels_mod
from juncture.detect import oncall
from juncture.detect.enums import Severity
from juncture.detect.models import (
    Alert,
    AlertEvent,
    AlertRule,
    Delivery,
    EscalationPolicy,
    NotificationChain,
    NotificationChannel,
    OncallSchedule,
    Silence,
)
from juncture.detect.schemas import (
    PARAMS_BY_KIND,
    AlertRuleCreate,
    AlertRuleUpdate,
    ChainCreate,
    ChainUpdate,
    ChannelCreate,
    ChannelRead,
    ChannelUpdate,
    PolicyCreate,
    PolicyUpdate,
    RuleTarget,
    ScheduleCreate,
    ScheduleUpdate,
    SilenceCreate,
    SilenceMatchers,
    SilenceUpdate,
)
from juncture.kit import clock
from juncture.kit.errors import Conflict, Invalid, NotFound
from juncture.store.base import Base
from juncture.store.queries import json_list_contains
from juncture.store.uow import current_actor

M = TypeVar("M", bound=Base)
P = TypeVar("P", bound=BaseModel)

#: A resolved alert firing again within this window is re-opened (a flap), not duplicated.
FLAP_WINDOW = timedelta(minutes=30)
#: Alerts of one service or journey starting within this window share a group key.
GROUP_WINDOW = timedelta(minutes=30)
#: How long a condition must stay clear before :func:`clear_alert` resolves the alert.
CLEAR_DELAY = timedelta(minutes=5)

SEVERITY_RANK = {s.value: i for i, s in enumerate(Severity)}  # critical = 0 (most urgent)
MASK = "***"
SECRET_KEYS = frozenset({"secret", "password"})


# ---------------------------------------------------------------- helpers


def _get_or_raise(session: Session, model: type[M], object_id: int, label: str) -> M:
    obj = session.get(model, object_id)
    if obj is None:
        raise NotFound(
            f"{label} {object_id} does not exist", code=f"{label.replace(' ', '_')}_not_found"
        )
    return obj


def _validate(model: type[P], data: Any, *, code: str, what: str) -> P:
    """Validate ``data`` into ``model``; errors become one readable :class:`Invalid`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()))
            msg = err.get("msg", "invalid")
            parts.append(f"{loc}: {msg}" if loc else msg)
        raise Invalid(f"{what}: {'; '.join(parts[:5])}", code=code) from exc


def _aware(at: datetime | None) -> datetime:
    return clock.now() if at is None else clock.ensure_utc(at)


def _actor(session: Session) -> str:
    return current_actor(session).label


def _flush_unique(session: Session, code: str, detail: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(detail, code=code) from exc


def _name_taken(session: Session, model: Any, name: str, exclude_id: int | None = None) -> bool:
    query = select(func.count()).select_from(model).where(model.name == name)
    if exclude_id is not None:
        query = query.where(model.id != exclude_id)
    return bool(session.scalar(query))


def _check_team(session: Session, team_id: int | None) -> None:
    if team_id is not None:
        access_service.get_team_or_raise(session, team_id=team_id)


# ---------------------------------------------------------------- rules


def _normalise_rule(
    kind: str, target: Mapping[str, Any], params: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    checked_target = _validate(RuleTarget, target, code="invalid_rule_target", what="target")
    checked_params = _validate(
        PARAMS_BY_KIND[kind], params, code="invalid_rule_params", what=f"{kind} params"
    )
    return (
        checked_target.model_dump(mode="json", exclude_none=True),
        checked_params.model_dump(mode="json", exclude_none=True),
    )


def list_rules(
    session: Session, *, enabled: bool | None = None, owner_team_id: int | None = None
) -> Sequence[AlertRule]:
    query = select(AlertRule).order_by(AlertRule.name)
    if enabled is not None:
        query = query.where(AlertRule.enabled == enabled)
    if owner_team_id is not None:
        query = query.where(AlertRule.owner_team_id == owner_team_id)
    return session.scalars(query).all()


def get_rule_or_raise(session: Session, *, rule_id: int) -> AlertRule:
    return _get_or_raise(session, AlertRule, rule_id, "alert rule")


def create_rule(session: Session, *, data: AlertRuleCreate) -> AlertRule:
    _check_team(session, data.owner_team_id)
    target, params = _normalise_rule(data.kind, data.target, data.params)
    if _name_taken(session, AlertRule, data.name):
        raise Conflict(f"alert rule '{data.name}' already exists", code="rule_exists")
    rule = AlertRule(
        name=data.name,
        description=data.description,
        kind=data.kind,
        target=target,
        params=params,
        severity=data.severity.value,
        owner_team_id=data.owner_team_id,
        enabled=data.enabled,
        group_by=data.group_by,
    )
    session.add(rule)
    _flush_unique(session, "rule_exists", f"alert rule '{data.name}' already exists")
    return rule


def update_rule(session: Session, *, rule_id: int, data: AlertRuleUpdate) -> AlertRule:
    rule = get_rule_or_raise(session, rule_id=rule_id)
    changes = data.model_dump(exclude_unset=True)
    for key in (
        "name",
        "description",
        "kind",
        "target",
        "params",
        "severity",
        "owner_team_id",
        "enabled",
        "group_by",
    ):
        if key in changes and changes[key] is None:
            raise Invalid(f"{key} cannot be null", code="invalid_rule")
    if "owner_team_id" in changes:
        _check_team(session, changes["owner_team_id"])
    if "name" in changes and _name_taken(session, AlertRule, changes["name"], rule.id):
        raise Conflict(f"alert rule '{changes['name']}' already exists", code="rule_exists")
    if {"kind", "target", "params"} & changes.keys():
        kind = changes.get("kind", rule.kind)
        changes["target"], changes["params"] = _normalise_rule(
            kind, changes.get("target", rule.target), changes.get("params", rule.params)
        )
    if "severity" in changes:
        changes["severity"] = Severity(changes["severity"]).value
    for key, value in changes.items():
        setattr(rule, key, value)
    _flush_unique(session, "rule_exists", "an alert rule with this name already exists")
    return rule


def delete_rule(session: Session, *, rule_id: int) -> None:
    """Delete a rule; its past alerts stay (their ``rule_id`` becomes null)."""
    session.delete(get_rule_or_raise(session, rule_id=rule_id))
    session.flush()


# ---------------------------------------------------------------- alert lifecycle


def _event(
    session: Session,
    alert: Alert,
    kind: str,
    at: datetime,
    *,
    actor: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AlertEvent:
    event = AlertEvent(
        alert_id=alert.id, at=at, kind=kind, actor=actor or _actor(session), detail=detail or {}
    )
    session.add(event)
    return event


def record_event(
    session: Session,
    *,
    alert_id: int,
    kind: Literal["notified", "escalated", "updated"],
    at: datetime | None = None,
    detail: dict[str, Any] | None = None,
) -> AlertEvent:
    """Append a history entry the engine produces (a notification, an escalation step)."""
    alert = get_alert_or_raise(session, alert_id=alert_id)
    event = _event(session, alert, kind, _aware(at), detail=detail)
    session.flush()
    return event


def get_alert_or_raise(session: Session, *, alert_id: int, lock: bool = False) -> Alert:
    query = select(Alert).where(Alert.id == alert_id)
    if lock:
        query = query.with_for_update()
    alert = session.scalars(query).one_or_none()
    if alert is None:
        raise NotFound(f"alert {alert_id} does not exist", code="alert_not_found")
    return alert


def _open_by_key(session: Session, dedup_key: str) -> Alert | None:
    return session.scalars(
        select(Alert).where(Alert.open_dedup_key == dedup_key).with_for_update()
    ).one_or_none()


def _merge_evidence(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Later evidence wins key by key; nested dicts merge one level deep."""
    merged = dict(old)
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _group_key(
    session: Session,
    *,
    at: datetime,
    dedup_key: str,
    services: Sequence[str],
    journeys: Sequence[str],
    group_by: str | None,
    window: timedelta,
) -> str:
    """Join the group of an open alert sharing a service or journey that started within
    ``window`` of ``at``; otherwise start a group named after the first service/journey."""
    use_services = group_by in (None, "service")
    use_journeys = group_by in (None, "journey")
    if group_by == "none" or not ((use_services and services) or (use_journeys and journeys)):
        return f"alert:{dedup_key}"[:200]
    candidates = session.scalars(
        select(Alert)
        .where(Alert.state != "resolved", Alert.started_at >= at - window, Alert.started_at <= at)
        .order_by(Alert.started_at, Alert.id)
    ).all()
    for other in candidates:
        if (use_services and set(services) & set(other.services)) or (
            use_journeys and set(journeys) & set(other.journeys)
        ):
            return other.group_key
    anchor = f"service:{services[0]}" if use_services and services else f"journey:{journeys[0]}"
    return f"{anchor}@{at.strftime('%Y%m%dT%H%M')}"[:200]


@dataclass(frozen=True)
class _Firing:
    """One firing of a condition, as handed to :func:`raise_alert`."""

    at: datetime
    severity: str
    title: str
    summary: str
    evidence: dict[str, Any]
    customer_facing: bool
    services: list[str]
    journeys: list[str]


@dataclass(frozen=True)
class RaiseResult:
    """What :func:`raise_alert_ex` did: ``opened``, ``joined`` or ``reopened`` an alert;
    ``silence`` is the active silence that suppresses it; ``notify`` says whether the caller
    should send notifications now (a new or re-opened, unsilenced alert, or a severity rise)."""

    alert: Alert
    action: Literal["opened", "joined", "reopened"]
    silence: Silence | None
    notify: bool


def raise_alert(
    session: Session,
    *,
    rule_id: int | None = None,
    group_key: str | None = None,
    dedup_key: str,
    title: str,
    summary: str = "",
    severity: Severity | str,
    evidence: Mapping[str, Any] | None = None,
    at: datetime | None = None,
    customer_facing: bool = False,
    services: Sequence[str] = (),
    journeys: Sequence[str] = (),
    flap_window: timedelta = FLAP_WINDOW,
    group_window: timedelta = GROUP_WINDOW,
) -> Alert:
    """Open an alert, join the open one with the same dedup key, or re-open a flapping one."""
    return raise_alert_ex(
        session,
        rule_id=rule_id,
        group_key=group_key,
        dedup_key=dedup_key,
        title=title,
        summary=summary,
        severity=severity,
        evidence=evidence,
        at=at,
        customer_facing=customer_facing,
        services=services,
        journeys=journeys,
        flap_window=flap_window,
        group_window=group_window,
    ).alert


def raise_alert_ex(
    session: Session,
    *,
    rule_id: int | None = None,
    group_key: str | None = None,
    dedup_key: str,
    title: str,
    summary: str = "",
    severity: Severity | str,
    evidence: Mapping[str, Any] | None = None,
    at: datetime | None = None,
    customer_facing: bool = False,
    services: Sequence[str] = (),
    journeys: Sequence[str] = (),
    flap_window: timedelta = FLAP_WINDOW,
    group_window: timedelta = GROUP_WINDOW,
) -> RaiseResult:
    """:func:`raise_alert`, also saying what happened and whether to notify."""
    at = _aware(at)
    try:
        sev = Severity(severity).value
    except ValueError as exc:
        raise Invalid(f"unknown severity {severity!r}", code="invalid_severity") from exc
    if not dedup_key or len(dedup_key) > 200:
        raise Invalid("dedup_key must be 1 to 200 characters", code="invalid_dedup_key")
    if not title:
        raise Invalid("an alert needs a title", code="invalid_title")
    firing = _Firing(
        at=at,
        severity=sev,
        title=title[:300],
        summary=summary,
        evidence=dict(evidence or {}),
        customer_facing=customer_facing,
        services=sorted(set(services)),
        journeys=sorted(set(journeys)),
    )
    rule: AlertRule | None = None
    if rule_id is not None:
        rule = get_rule_or_raise(session, rule_id=rule_id)

    alert = _open_by_key(session, dedup_key)
    if alert is not None:
        return _join(session, alert, firing)

    recent = session.scalars(
        select(Alert)
        .where(
            Alert.dedup_key == dedup_key,
            Alert.state == "resolved",
            Alert.resolved_at >= at - flap_window,
        )
        .order_by(Alert.resolved_at.desc(), Alert.id.desc())
        .limit(1)
        .with_for_update()
    ).one_or_none()
    if recent is not None:
        return _reopen(session, recent, firing)

    key = group_key or _group_key(
        session,
        at=at,
        dedup_key=dedup_key,
        services=firing.services,
        journeys=firing.journeys,
        group_by=rule.group_by if rule is not None else None,
        window=group_window,
    )
    alert = Alert(
        rule_id=rule_id,
        group_key=key,
        dedup_key=dedup_key,
        open_dedup_key=dedup_key,
        title=title[:300],
        summary=summary,
        severity=sev,
        state="firing",
        customer_facing=customer_facing,
        services=firing.services,
        journeys=firing.journeys,
        started_at=at,
        last_seen_at=at,
        evidence=firing.evidence,
        occurrences=1,
        flap_count=0,
        escalation_sent_steps=0,
    )
    try:
        with session.begin_nested():
            session.add(alert)
            session.flush()
    except IntegrityError:
        # Another writer opened it first: join theirs.
        existing = _open_by_key(session, dedup_key)
        if existing is None:
            raise
        return _join(session, existing, firing)
    _event(
        session,
        alert,
        "fired",
        at,
        detail={"severity": sev, "group_key": key, "rule_id": rule_id},
    )
    silence = active_silence(session, at, alert)
    if silence is not None:
        _event(session, alert, "silenced", at, detail=_silence_detail(silence))
    session.flush()
    return RaiseResult(alert, "opened", silence, silence is None)


def _silence_detail(silence: Silence) -> dict[str, Any]:
    return {
        "silence_id": silence.id,
        "reason": silence.reason,
        "ends_at": silence.ends_at.isoformat(),
    }


def _join(session: Session, alert: Alert, firing: _Firing) -> RaiseResult:
    at, severity, title, summary = firing.at, firing.severity, firing.title, firing.summary
    evidence, customer_facing = firing.evidence, firing.customer_facing
    services, journeys = firing.services, firing.journeys
    changes: dict[str, Any] = {}
    if severity != alert.severity:
        changes["severity"] = [alert.severity, severity]
    if customer_facing and not alert.customer_facing:
        changes["customer_facing"] = [False, True]
    merged_services = sorted(set(alert.services) | set(services))
    merged_journeys = sorted(set(alert.journeys) | set(journeys))
    if merged_services != alert.services:
        changes["services"] = [alert.services, merged_services]
    if merged_journeys != alert.journeys:
        changes["journeys"] = [alert.journeys, merged_journeys]
    alert.last_seen_at = max(alert.last_seen_at, at)
    alert.occurrences += 1
    alert.clear_since = None
    alert.evidence = _merge_evidence(alert.evidence, evidence)
    alert.title = title[:300]
    if summary:
        alert.summary = summary
    alert.severity = severity
    alert.customer_facing = alert.customer_facing or customer_facing
    alert.services = merged_services
    alert.journeys = merged_journeys
    if changes:
        _event(session, alert, "updated", at, detail=changes)
    session.flush()
    rose = "severity" in changes and SEVERITY_RANK[severity] < SEVERITY_RANK[changes["severity"][0]]
    silence = active_silence(session, at, alert) if rose else None
    return RaiseResult(alert, "joined", silence, rose and silence is None)


def _reopen(session: Session, alert: Alert, firing: _Firing) -> RaiseResult:
    at, severity, title, summary = firing.at, firing.severity, firing.title, firing.summary
    evidence, customer_facing = firing.evidence, firing.customer_facing
    services, journeys = firing.services, firing.journeys
    alert.state = "firing"
    alert.open_dedup_key = alert.dedup_key
    alert.resolved_at = None
    alert.resolved_by = None
    alert.acknowledged_at = None
    alert.acknowledged_by = None
    alert.flap_count += 1
    alert.occurrences += 1
    alert.last_seen_at = at
    alert.clear_since = None
    alert.evidence = _merge_evidence(alert.evidence, evidence)
    alert.title = title[:300]
    if summary:
        alert.summary = summary
    alert.severity = severity
    alert.customer_facing = alert.customer_facing or customer_facing
    alert.services = sorted(set(alert.services) | set(services))
    alert.journeys = sorted(set(alert.journeys) | set(journeys))
    alert.escalation_sent_steps = 0
    alert.next_escalation_at = None
    _event(session, alert, "reopened", at, detail={"flap_count": alert.flap_count})
    session.flush()
    silence = active_silence(session, at, alert)
    if silence is not None:
        _event(session, alert, "silenced", at, detail=_silence_detail(silence))
        session.flush()
    return RaiseResult(alert, "reopened", silence, silence is None)


def clear_alert(
    session: Session,
    *,
    dedup_key: str,
    at: datetime | None = None,
    clear_delay: timedelta = CLEAR_DELAY,
) -> Alert | None:
    """The condition behind ``dedup_key`` no longer holds at ``at``.

    The first clear marks the open alert as clearing; once it has stayed clear for
    ``clear_delay`` (a later call) the alert resolves itself. A :func:`raise_alert` in between
    cancels the clearing. Returns the open (or just resolved) alert, None when none is open.
    """
    at = _aware(at)
    alert = _open_by_key(session, dedup_key)
    if alert is None:
        return None
    if alert.clear_since is None:
        alert.clear_since = at
    if at - alert.clear_since >= clear_delay:
        _resolve(
            session,
            alert,
            at,
            actor="system",
            detail={"auto": True, "clear_since": alert.clear_since.isoformat()},
        )
    session.flush()
    return alert


def _resolve(
    session: Session, alert: Alert, at: datetime, *, actor: str, detail: dict[str, Any]
) -> None:
    alert.state = "resolved"
    alert.open_dedup_key = None
    alert.resolved_at = at
    alert.resolved_by = actor
    alert.next_escalation_at = None
    _event(session, alert, "resolved", at, actor=actor, detail=detail)


def _note(note: str) -> dict[str, Any]:
    return {"note": note} if note else {}


def acknowledge(
    session: Session, *, alert_id: int, at: datetime | None = None, note: str = ""
) -> Alert:
    """A person takes the alert: escalation stops. Only a firing alert can be acknowledged."""
    at = _aware(at)
    alert = get_alert_or_raise(session, alert_id=alert_id, lock=True)
    if alert.state == "acknowledged":
        raise Conflict(f"alert {alert_id} is already acknowledged", code="already_acknowledged")
    if alert.state == "resolved":
        raise Conflict(f"alert {alert_id} is resolved", code="alert_resolved")
    actor = _actor(session)
    alert.state = "acknowledged"
    alert.acknowledged_at = at
    alert.acknowledged_by = actor
    alert.next_escalation_at = None
    _event(session, alert, "acknowledged", at, actor=actor, detail=_note(note))
    session.flush()
    return alert


def unacknowledge(
    session: Session, *, alert_id: int, at: datetime | None = None, note: str = ""
) -> Alert:
    """Hand an acknowledged alert back: it fires again (the engine restarts escalation)."""
    at = _aware(at)
    alert = get_alert_or_raise(session, alert_id=alert_id, lock=True)
    if alert.state == "firing":
        raise Conflict(f"alert {alert_id} is not acknowledged", code="not_acknowledged")
    if alert.state == "resolved":
        raise Conflict(f"alert {alert_id} is resolved", code="alert_resolved")
    alert.state = "firing"
    alert.acknowledged_at = None
    alert.acknowledged_by = None
    alert.escalation_sent_steps = 0
    alert.next_escalation_at = None
    _event(session, alert, "unacknowledged", at, detail=_note(note))
    session.flush()
    return alert


def resolve(
    session: Session, *, alert_id: int, at: datetime | None = None, note: str = ""
) -> Alert:
    """A person closes the alert (firing or acknowledged)."""
    at = _aware(at)
    alert = get_alert_or_raise(session, alert_id=alert_id, lock=True)
    if alert.state == "resolved":
        raise Conflict(f"alert {alert_id} is already resolved", code="already_resolved")
    _resolve(session, alert, at, actor=_actor(session), detail=_note(note))
    session.flush()
    return alert


def set_escalation(
    session: Session,
    *,
    alert_id: int,
    policy: str | None,
    sent_steps: int,
    next_at: datetime | None,
) -> Alert:
    """Store the escalation cursor (``oncall.next_action``'s ``sent_steps``/``next_at``)."""
    alert = get_alert_or_raise(session, alert_id=alert_id)
    alert.escalation_policy = policy
    alert.escalation_sent_steps = sent_steps
    alert.next_escalation_at = None if next_at is None else clock.ensure_utc(next_at)
    session.flush()
    return alert


def due_escalations(session: Session, *, now: datetime | None = None) -> Sequence[Alert]:
    """Firing alerts whose next escalation step is due."""
    return session.scalars(
        select(Alert)
        .where(Alert.state == "firing", Alert.next_escalation_at <= _aware(now))
        .order_by(Alert.next_escalation_at, Alert.id)
    ).all()


def _alert_filters(
    session: Session,
    query: Select[Any],
    *,
    state: str | None,
    severity: str | None,
    service: str | None,
    journey: str | None,
    customer_facing: bool | None,
    rule_id: int | None,
    group_key: str | None,
) -> Select[Any]:
    if state == "open":
        query = query.where(Alert.state != "resolved")
    elif state is not None:
        query = query.where(Alert.state == state)
    if severity is not None:
        query = query.where(Alert.severity == severity)
    if customer_facing is not None:
        query = query.where(Alert.customer_facing == customer_facing)
    if rule_id is not None:
        query = query.where(Alert.rule_id == rule_id)
    if group_key is not None:
        query = query.where(Alert.group_key == group_key)
    if service is not None:
        query = query.where(json_list_contains(session, Alert.services, service))
    if journey is not None:
        query = query.where(json_list_contains(session, Alert.journeys, journey))
    return query


def list_alerts(
    session: Session,
    *,
    state: str | None = None,
    severity: str | None = None,
    service: str | None = None,
    journey: str | None = None,
    customer_facing: bool | None = None,
    rule_id: int | None = None,
    group_key: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[Sequence[Alert], int]:
    """Alerts, newest first, and the total matching. ``state="open"``: not resolved."""
    filters: dict[str, Any] = {
        "state": state,
        "severity": severity,
        "service": service,
        "journey": journey,
        "customer_facing": customer_facing,
        "rule_id": rule_id,
        "group_key": group_key,
    }
    rows = session.scalars(
        _alert_filters(session, select(Alert), **filters)
        .order_by(Alert.started_at.desc(), Alert.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    total = session.scalar(
        _alert_filters(session, select(func.count()).select_from(Alert), **filters)
    )
    return rows, int(total or 0)


def alert_history(session: Session, *, alert_id: int) -> Sequence[AlertEvent]:
    return session.scalars(
        select(AlertEvent)
        .where(AlertEvent.alert_id == alert_id)
        .order_by(AlertEvent.at, AlertEvent.id)
    ).all()


def list_deliveries(session: Session, *, alert_id: int) -> Sequence[Delivery]:
    return session.scalars(
        select(Delivery)
        .where(Delivery.alert_id == alert_id)
        .order_by(Delivery.started_at, Delivery.id)
    ).all()


@dataclass(frozen=True)
class AlertWithHistory:
    alert: Alert
    history: Sequence[AlertEvent]
    deliveries: Sequence[Delivery]


def get_alert_with_history(session: Session, *, alert_id: int) -> AlertWithHistory:
    alert = get_alert_or_raise(session, alert_id=alert_id)
    return AlertWithHistory(
        alert,
        alert_history(session, alert_id=alert_id),
        list_deliveries(session, alert_id=alert_id),
    )


def alert_detail(found: AlertWithHistory) -> dict[str, Any]:
    """The alert detail as one JSON-ready mapping (API and pages)."""
    from juncture.detect.schemas import AlertDetail, AlertEventRead, AlertRead, DeliveryRead

    base = AlertRead.model_validate(found.alert).model_dump()
    return AlertDetail(
        **base,
        evidence=found.alert.evidence,
        history=[AlertEventRead.model_validate(e) for e in found.history],
        deliveries=[DeliveryRead.model_validate(d) for d in found.deliveries],
    ).model_dump(mode="json")


def record_deliveries(
    session: Session,
    *,
    alert_id: int,
    channel_id: int,
    alert_state: str,
    dedup_key: str,
    attempts: Iterable[channels_mod.Attempt],
    detail: Mapping[str, Any] | None = None,
) -> list[Delivery]:
    """Store every attempt ``channels.deliver`` returned, plus one ``notified`` event
    (``detail`` adds to the event's detail: the step, the people notified)."""
    alert = get_alert_or_raise(session, alert_id=alert_id)
    channel = get_channel_or_raise(session, channel_id=channel_id)
    rows = [
        Delivery(
            alert_id=alert_id,
            channel_id=channel_id,
            alert_state=alert_state,
            dedup_key=dedup_key,
            attempt=a.number,
            started_at=clock.ensure_utc(a.started_at),
            duration_ms=a.duration_ms,
            ok=a.ok,
            status_code=a.status_code,
            error=a.error,
            retryable=a.retryable,
            retry_in_s=a.retry_in_s,
        )
        for a in attempts
    ]
    session.add_all(rows)
    if rows:
        _event(
            session,
            alert,
            "notified",
            rows[-1].started_at,
            actor="system",
            detail={
                "channel": channel.name,
                "state": alert_state,
                "ok": rows[-1].ok,
                "attempts": len(rows),
                **(detail or {}),
            },
        )
    session.flush()
    return rows


# ---------------------------------------------------------------- silences


class AlertLike(Protocol):
    """What silence matching reads from an alert (an :class:`Alert` or anything like it)."""

    @property
    def services(self) -> list[str]: ...
    @property
    def journeys(self) -> list[str]: ...
    @property
    def rule_id(self) -> int | None: ...
    @property
    def severity(self) -> str: ...


def silence_matches(matchers: Mapping[str, Any], alert: AlertLike) -> bool:
    """Every non-empty matcher list must meet the alert (any of its values)."""
    services = matchers.get("services") or []
    journeys = matchers.get("journeys") or []
    rule_ids = matchers.get("rule_ids") or []
    severities = matchers.get("severities") or []
    if not (services or journeys or rule_ids or severities):
        return False
    if services and not set(services) & set(alert.services):
        return False
    if journeys and not set(journeys) & set(alert.journeys):
        return False
    if rule_ids and alert.rule_id not in rule_ids:
        return False
    return not (severities and alert.severity not in severities)


def active_silence(session: Session, at: datetime, alert: AlertLike) -> Silence | None:
    """The first silence (by id) whose window covers ``at`` and whose matchers match."""
    at = clock.ensure_utc(at)
    for silence in session.scalars(
        select(Silence).where(Silence.starts_at <= at, Silence.ends_at > at).order_by(Silence.id)
    ):
        if silence_matches(silence.matchers, alert):
            return silence
    return None


def list_silences(
    session: Session, *, active_at: datetime | None = None, include_expired: bool = True
) -> Sequence[Silence]:
    query = select(Silence).order_by(Silence.starts_at.desc(), Silence.id.desc())
    if active_at is not None:
        at = clock.ensure_utc(active_at)
        query = query.where(Silence.starts_at <= at, Silence.ends_at > at)
    elif not include_expired:
        query = query.where(Silence.ends_at > clock.now())
    return session.scalars(query).all()


def get_silence_or_raise(session: Session, *, silence_id: int) -> Silence:
    return _get_or_raise(session, Silence, silence_id, "silence")


def _check_matchers(matchers: SilenceMatchers) -> dict[str, Any]:
    if matchers.empty:
        raise Invalid(
            "a silence needs at least one matcher (services, journeys, rule_ids, severities)",
            code="silence_matches_everything",
        )
    return matchers.model_dump(mode="json")


def create_silence(session: Session, *, data: SilenceCreate) -> Silence:
    silence = Silence(
        matchers=_check_matchers(data.matchers),
        starts_at=clock.ensure_utc(data.starts_at),
        ends_at=clock.ensure_utc(data.ends_at),
        reason=data.reason,
        created_by=_actor(session),
    )
    session.add(silence)
    session.flush()
    return silence


def update_silence(session: Session, *, silence_id: int, data: SilenceUpdate) -> Silence:
    silence = get_silence_or_raise(session, silence_id=silence_id)
    changes = data.model_dump(exclude_unset=True)
    if "matchers" in changes:
        if data.matchers is None:
            raise Invalid("matchers cannot be null", code="silence_matches_everything")
        silence.matchers = _check_matchers(data.matchers)
    for key in ("starts_at", "ends_at"):
        if key in changes:
            value = getattr(data, key)
            if value is None:
                raise Invalid(f"{key} cannot be null", code="invalid_window")
            setattr(silence, key, clock.ensure_utc(value))
    if "reason" in changes and data.reason is not None:
        silence.reason = data.reason
    if silence.ends_at <= silence.starts_at:
        raise Invalid("ends_at must be after starts_at", code="invalid_window")
    session.flush()
    return silence


def delete_silence(session: Session, *, silence_id: int) -> None:
    session.delete(get_silence_or_raise(session, silence_id=silence_id))
    session.flush()


# ---------------------------------------------------------------- channels


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _parse_channel(config: Mapping[str, Any]) -> channels_mod.ChannelConfig:
    if not isinstance(config.get("kind"), str):
        raise Invalid(
            "config needs a kind: slack, teams, webhook or email", code="invalid_channel_config"
        )
    try:
        return channels_mod.parse_channel(config)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ())[1:]) or "config"
            parts.append(f"{loc}: {err.get('msg', 'invalid')}")
        raise Invalid(f"config: {'; '.join(parts[:5])}", code="invalid_channel_config") from exc


def _mask_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/{MASK}" if parts.path.strip("/") else url


def masked_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A channel config safe to show: secrets replaced, webhook URL paths hidden."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key in SECRET_KEYS and value:
            out[key] = MASK
        elif key == "url" and isinstance(value, str):
            out[key] = _mask_url(value)
        elif key == "headers" and isinstance(value, dict):
            out[key] = dict.fromkeys(value, MASK)
        else:
            out[key] = value
    return out


def channel_read(channel: NotificationChannel) -> ChannelRead:
    return ChannelRead(
        id=channel.id,
        name=channel.name,
        kind=channel.kind,
        config=masked_config(channel.config),
        enabled=channel.enabled,
        created_at=channel.created_at,
        updated_at=channel.updated_at,
    )


def list_channels(session: Session) -> Sequence[NotificationChannel]:
    return session.scalars(select(NotificationChannel).order_by(NotificationChannel.name)).all()


def get_channel_or_raise(session: Session, *, channel_id: int) -> NotificationChannel:
    return _get_or_raise(session, NotificationChannel, channel_id, "channel")


def channel_config(session: Session, *, channel_id: int) -> channels_mod.ChannelConfig:
    """The validated configuration, secrets included, for ``channels.deliver``."""
    return channels_mod.parse_channel(get_channel_or_raise(session, channel_id=channel_id).config)


def create_channel(session: Session, *, data: ChannelCreate) -> NotificationChannel:
    parsed = _parse_channel(data.config)
    if _name_taken(session, NotificationChannel, data.name):
        raise Conflict(f"channel '{data.name}' already exists", code="channel_exists")
    channel = NotificationChannel(
        name=data.name,
        kind=parsed.kind,
        config=_plain(parsed.model_dump(mode="python")),
        enabled=data.enabled,
    )
    session.add(channel)
    _flush_unique(session, "channel_exists", f"channel '{data.name}' already exists")
    return channel


def email_relay(session: Session) -> channels_mod.EmailChannel | None:
    """The SMTP relay other rooms send through: the first enabled e-mail channel that parses."""
    rows = session.scalars(
        select(NotificationChannel)
        .where(NotificationChannel.kind == "email", NotificationChannel.enabled.is_(True))
        .order_by(NotificationChannel.id)
    ).all()
    for row in rows:
        try:
            parsed = _parse_channel(row.config)
        except Invalid:
            continue
        if isinstance(parsed, channels_mod.EmailChannel):
            return parsed
    return None


def _chain_specs(session: Session) -> list[tuple[NotificationChain, oncall.NotificationChain]]:
    return [
        (row, oncall.NotificationChain.model_validate(row.spec))
        for row in session.scalars(
            select(NotificationChain).order_by(NotificationChain.position, NotificationChain.id)
        )
    ]


def update_channel(
    session: Session, *, channel_id: int, data: ChannelUpdate
) -> NotificationChannel:
    channel = get_channel_or_raise(session, channel_id=channel_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("name") is not None and changes["name"] != channel.name:
        if _name_taken(session, NotificationChannel, changes["name"], channel.id):
            raise Conflict(f"channel '{changes['name']}' already exists", code="channel_exists")
        if any(channel.name in spec.channels for _, spec in _chain_specs(session)):
            raise Conflict(
                f"channel '{channel.name}' is used by notification chains; it cannot be renamed",
                code="channel_in_use",
            )
        channel.name = changes["name"]
    if changes.get("config") is not None:
        parsed = _parse_channel(changes["config"])
        channel.kind = parsed.kind
        channel.config = _plain(parsed.model_dump(mode="python"))
    if changes.get("enabled") is not None:
        channel.enabled = changes["enabled"]
    session.flush()
    return channel


def delete_channel(session: Session, *, channel_id: int) -> None:
    channel = get_channel_or_raise(session, channel_id=channel_id)
    users = [row.name for row, spec in _chain_specs(session) if channel.name in spec.channels]
    if users:
        raise Conflict(
            f"channel '{channel.name}' is used by chain(s) {', '.join(users)}",
            code="channel_in_use",
        )
    session.delete(channel)
    session.flush()


# ---------------------------------------------------------------- schedules


def list_schedules(session: Session) -> Sequence[OncallSchedule]:
    return session.scalars(select(OncallSchedule).order_by(OncallSchedule.name)).all()


def get_schedule_or_raise(session: Session, *, schedule_id: int) -> OncallSchedule:
    return _get_or_raise(session, OncallSchedule, schedule_id, "schedule")


def _schedule_spec(spec: Mapping[str, Any]) -> oncall.Schedule:
    return _validate(oncall.Schedule, spec, code="invalid_schedule", what="schedule")


def create_schedule(session: Session, *, data: ScheduleCreate) -> OncallSchedule:
    _check_team(session, data.team_id)
    spec = _schedule_spec(data.spec)
    if _name_taken(session, OncallSchedule, spec.name):
        raise Conflict(f"schedule '{spec.name}' already exists", code="schedule_exists")
    row = OncallSchedule(name=spec.name, team_id=data.team_id, spec=spec.model_dump(mode="json"))
    session.add(row)
    _flush_unique(session, "schedule_exists", f"schedule '{spec.name}' already exists")
    return row


def _policy_specs(session: Session) -> list[tuple[EscalationPolicy, oncall.EscalationPolicy]]:
    return [
        (row, oncall.EscalationPolicy.model_validate(row.spec))
        for row in session.scalars(select(EscalationPolicy).order_by(EscalationPolicy.name))
    ]


def _policies_using_schedule(session: Session, name: str) -> list[str]:
    return [
        row.name
        for row, spec in _policy_specs(session)
        if any(t.kind == "schedule" and t.ref == name for s in spec.steps for t in s.targets)
    ]


def update_schedule(session: Session, *, schedule_id: int, data: ScheduleUpdate) -> OncallSchedule:
    row = get_schedule_or_raise(session, schedule_id=schedule_id)
    changes = data.model_dump(exclude_unset=True)
    if "team_id" in changes:
        _check_team(session, changes["team_id"])
        row.team_id = changes["team_id"]
    if changes.get("spec") is not None:
        spec = _schedule_spec(changes["spec"])
        if spec.name != row.name:
            if _name_taken(session, OncallSchedule, spec.name, row.id):
                raise Conflict(f"schedule '{spec.name}' already exists", code="schedule_exists")
            users = _policies_using_schedule(session, row.name)
            if users:
                raise Conflict(
                    f"schedule '{row.name}' is used by policies {', '.join(users)}; "
                    "it cannot be renamed",
                    code="schedule_in_use",
                )
        row.name = spec.name
        row.spec = spec.model_dump(mode="json")
    session.flush()
    return row


def delete_schedule(session: Session, *, schedule_id: int) -> None:
    row = get_schedule_or_raise(session, schedule_id=schedule_id)
    users = _policies_using_schedule(session, row.name)
    if users:
        raise Conflict(
            f"schedule '{row.name}' is used by policies {', '.join(users)}",
            code="schedule_in_use",
        )
    session.delete(row)
    session.flush()


def who_is_on_call(session: Session, *, schedule_id: int, at: datetime | None = None) -> str | None:
    """Who ``schedule_id`` puts on call at ``at`` (overrides first, then the top layer)."""
    row = get_schedule_or_raise(session, schedule_id=schedule_id)
    return oncall.on_call(oncall.Schedule.model_validate(row.spec), _aware(at))


def schedule_resolver(session: Session) -> oncall.ScheduleResolver:
    """``resolve_schedule`` for ``oncall.next_action``: every stored schedule, by name."""
    specs = {
        row.name: oncall.Schedule.model_validate(row.spec)
        for row in session.scalars(select(OncallSchedule))
    }
    return oncall.schedule_resolver(specs)


# ---------------------------------------------------------------- escalation policies


def list_policies(session: Session) -> Sequence[EscalationPolicy]:
    return session.scalars(select(EscalationPolicy).order_by(EscalationPolicy.name)).all()


def get_policy_or_raise(session: Session, *, policy_id: int) -> EscalationPolicy:
    return _get_or_raise(session, EscalationPolicy, policy_id, "escalation policy")


def get_policy_by_name(session: Session, *, name: str) -> oncall.EscalationPolicy | None:
    row = session.scalars(
        select(EscalationPolicy).where(EscalationPolicy.name == name)
    ).one_or_none()
    return None if row is None else oncall.EscalationPolicy.model_validate(row.spec)


def _policy_spec(session: Session, spec: Mapping[str, Any]) -> oncall.EscalationPolicy:
    policy = _validate(oncall.EscalationPolicy, spec, code="invalid_policy", what="policy")
    schedules = set(session.scalars(select(OncallSchedule.name)))
    for step in policy.steps:
        for target in step.targets:
            if target.kind == "schedule" and target.ref not in schedules:
                raise Invalid(f"unknown schedule '{target.ref}'", code="unknown_schedule")
            if (
                target.kind == "team"
                and access_service.get_team_by_slug(session, slug=target.ref) is None
            ):
                raise Invalid(f"unknown team '{target.ref}'", code="unknown_team")
    return policy


def _chains_using_policy(session: Session, name: str) -> list[str]:
    return [row.name for row, spec in _chain_specs(session) if spec.policy == name]


def create_policy(session: Session, *, data: PolicyCreate) -> EscalationPolicy:
    _check_team(session, data.team_id)
    spec = _policy_spec(session, data.spec)
    if _name_taken(session, EscalationPolicy, spec.name):
        raise Conflict(f"escalation policy '{spec.name}' already exists", code="policy_exists")
    row = EscalationPolicy(name=spec.name, team_id=data.team_id, spec=spec.model_dump(mode="json"))
    session.add(row)
    _flush_unique(session, "policy_exists", f"escalation policy '{spec.name}' already exists")
    return row


def update_policy(session: Session, *, policy_id: int, data: PolicyUpdate) -> EscalationPolicy:
    row = get_policy_or_raise(session, policy_id=policy_id)
    changes = data.model_dump(exclude_unset=True)
    if "team_id" in changes:
        _check_team(session, changes["team_id"])
        row.team_id = changes["team_id"]
    if changes.get("spec") is not None:
        spec = _policy_spec(session, changes["spec"])
        if spec.name != row.name:
            if _name_taken(session, EscalationPolicy, spec.name, row.id):
                raise Conflict(
                    f"escalation policy '{spec.name}' already exists", code="policy_exists"
                )
            if _chains_using_policy(session, row.name):
                raise Conflict(
                    f"escalation policy '{row.name}' is used by chains; it cannot be renamed",
                    code="policy_in_use",
                )
        row.name = spec.name
        row.spec = spec.model_dump(mode="json")
    session.flush()
    return row


def delete_policy(session: Session, *, policy_id: int) -> None:
    row = get_policy_or_raise(session, policy_id=policy_id)
    users = _chains_using_policy(session, row.name)
    if users:
        raise Conflict(
            f"escalation policy '{row.name}' is used by chain(s) {', '.join(users)}",
            code="policy_in_use",
        )
    session.delete(row)
    session.flush()


# ---------------------------------------------------------------- notification chains


def list_chains(session: Session) -> Sequence[NotificationChain]:
    return session.scalars(
        select(NotificationChain).order_by(NotificationChain.position, NotificationChain.id)
    ).all()


def get_chain_or_raise(session: Session, *, chain_id: int) -> NotificationChain:
    return _get_or_raise(session, NotificationChain, chain_id, "notification chain")


def _chain_spec(session: Session, spec: Mapping[str, Any]) -> oncall.NotificationChain:
    chain = _validate(oncall.NotificationChain, spec, code="invalid_chain", what="chain")
    if chain.team is not None and access_service.get_team_by_slug(session, slug=chain.team) is None:
        raise Invalid(f"unknown team '{chain.team}'", code="unknown_team")
    if not _name_taken(session, EscalationPolicy, chain.policy):
        raise Invalid(f"unknown escalation policy '{chain.policy}'", code="unknown_policy")
    known = set(session.scalars(select(NotificationChannel.name)))
    missing = [c for c in chain.channels if c not in known]
    if missing:
        raise Invalid(f"unknown channel(s): {', '.join(missing)}", code="unknown_channel")
    return chain


def create_chain(session: Session, *, data: ChainCreate) -> NotificationChain:
    _check_team(session, data.team_id)
    spec = _chain_spec(session, data.spec)
    if _name_taken(session, NotificationChain, data.name):
        raise Conflict(f"notification chain '{data.name}' already exists", code="chain_exists")
    row = NotificationChain(
        name=data.name,
        team_id=data.team_id,
        position=data.position,
        spec=spec.model_dump(mode="json"),
    )
    session.add(row)
    _flush_unique(session, "chain_exists", f"notification chain '{data.name}' already exists")
    return row


def update_chain(session: Session, *, chain_id: int, data: ChainUpdate) -> NotificationChain:
    row = get_chain_or_raise(session, chain_id=chain_id)
    changes = data.model_dump(exclude_unset=True)
    if "team_id" in changes:
        _check_team(session, changes["team_id"])
        row.team_id = changes["team_id"]
    if changes.get("name") is not None:
        if _name_taken(session, NotificationChain, changes["name"], row.id):
            raise Conflict(
                f"notification chain '{changes['name']}' already exists", code="chain_exists"
            )
        row.name = changes["name"]
    if changes.get("position") is not None:
        row.position = changes["position"]
    if changes.get("spec") is not None:
        row.spec = _chain_spec(session, changes["spec"]).model_dump(mode="json")
    session.flush()
    return row


def delete_chain(session: Session, *, chain_id: int) -> None:
    session.delete(get_chain_or_raise(session, chain_id=chain_id))
    session.flush()


def route_alert(session: Session, *, team: str, severity: Severity | str) -> oncall.ChainMatch:
    """The chain (policy and channels) for a team's alert; raises ``NoRoute`` (404)."""
    return oncall.route([spec for _, spec in _chain_specs(session)], team, severity)


# ---------------------------------------------------------------- acknowledge links


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _ack_signature(secret: bytes, alert_id: int, expires: int, recipient: str) -> str:
    message = f"ack.{alert_id}.{expires}.{recipient}".encode()
    return _b64(hmac.new(secret, message, hashlib.sha256).digest())


def ack_token(*, alert_id: int, recipient: str, expires_at: datetime, secret: bytes) -> str:
    """A signed, expiring token that lets ``recipient`` acknowledge ``alert_id`` from a link."""
    expires = int(clock.ensure_utc(expires_at).timestamp())
    signature = _ack_signature(secret, alert_id, expires, recipient)
    return f"{expires}.{_b64(recipient.encode())}.{signature}"


def check_ack_token(
    token: str, *, alert_id: int, secret: bytes, now: datetime | None = None
) -> str:
    """The recipient a valid token names; raises :class:`Invalid` for a forged, altered or
    expired token (``invalid_ack_link`` / ``ack_link_expired``)."""
    try:
        expires_text, recipient_text, signature = token.split(".")
        expires = int(expires_text)
        recipient = _unb64(recipient_text).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid("this acknowledge link is not valid", code="invalid_ack_link") from exc
    expected = _ack_signature(secret, alert_id, expires, recipient)
    if not hmac.compare_digest(expected, signature):
        raise Invalid("this acknowledge link is not valid", code="invalid_ack_link")
    if _aware(now).timestamp() >= expires:
        raise Invalid(
            "this acknowledge link has expired; open the alert and sign in",
            code="ack_link_expired",
        )
    return recipient


# ---------------------------------------------------------------- response times (for KPIs)


@dataclass(frozen=True)
class ResponseTimes:
    """When an alert started, was acknowledged and resolved (for MTTA and MTTR)."""

    started_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    severity: str
    services: tuple[str, ...]
    customer_facing: bool


def response_times(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    severity: str | None = None,
    service: str | None = None,
    customer_facing: bool | None = None,
) -> list[ResponseTimes]:
    """Alerts that started in [start, end), with their acknowledge and resolve times."""
    query = select(
        Alert.started_at,
        Alert.acknowledged_at,
        Alert.resolved_at,
        Alert.severity,
        Alert.services,
        Alert.customer_facing,
    ).where(Alert.started_at >= start, Alert.started_at < end)
    if severity is not None:
        query = query.where(Alert.severity == severity)
    if customer_facing is not None:
        query = query.where(Alert.customer_facing.is_(customer_facing))
    out = []
    for row in session.execute(query):
        services = tuple(row[4] or ())
        if service is not None and service not in services:
            continue
        out.append(ResponseTimes(row[0], row[1], row[2], row[3], services, bool(row[5])))
    return out
