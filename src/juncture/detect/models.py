"""Tables of the detect room: alert rules, alerts and their history, silences, notification
channels and deliveries, on-call schedules, escalation policies and notification chains."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from juncture.kit import clock
from juncture.store.base import Base, BigId, IdMixin, JSONType, TimestampMixin, UTCDateTime

# Columns an evaluation tick rewrites on every run: not worth an audit row each time.
_NOISY = {"audit": False}


class AlertRule(IdMixin, TimestampMixin, Base):
    """What the alert engine watches, how it decides, and who owns the result."""

    __tablename__ = "alert_rules"
    __audited__ = True

    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(32))  # threshold|baseline|burn_rate|customer_impact
    target: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    severity: Mapped[str] = mapped_column(String(16))
    owner_team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="RESTRICT"), index=True
    )
    enabled: Mapped[bool] = mapped_column(default=True)
    group_by: Mapped[str] = mapped_column(String(16), default="service")  # service|journey|none


class Alert(IdMixin, TimestampMixin, Base):
    """One problem, open or past. Joined by every later firing with the same dedup key.

    ``open_dedup_key`` equals ``dedup_key`` while the alert is not resolved and is NULL
    afterwards: its unique constraint keeps one open alert per dedup key on both engines.
    Columns an evaluation rewrites each tick are left out of the audit log (``audit: False``);
    creation and state changes are audited.
    """

    __tablename__ = "alerts"
    __audited__ = True
    __table_args__ = (Index("ix_alerts_state_started", "state", "started_at"),)

    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("alert_rules.id", ondelete="SET NULL"), default=None, index=True
    )
    group_key: Mapped[str] = mapped_column(String(200), index=True)
    dedup_key: Mapped[str] = mapped_column(String(200), index=True)
    open_dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    title: Mapped[str] = mapped_column(String(300), info=_NOISY)
    summary: Mapped[str] = mapped_column(Text, default="", info=_NOISY)
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="firing")
    customer_facing: Mapped[bool] = mapped_column(default=False)
    services: Mapped[list[str]] = mapped_column(JSONType, default=list)
    journeys: Mapped[list[str]] = mapped_column(JSONType, default=list)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), info=_NOISY)
    clear_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None, info=_NOISY)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(200), default=None)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, info=_NOISY)
    occurrences: Mapped[int] = mapped_column(Integer, default=1, info=_NOISY)
    flap_count: Mapped[int] = mapped_column(Integer, default=0)
    escalation_policy: Mapped[str | None] = mapped_column(String(200), default=None)
    escalation_sent_steps: Mapped[int] = mapped_column(Integer, default=0, info=_NOISY)
    next_escalation_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), default=None, index=True, info=_NOISY
    )


class AlertEvent(Base):
    """The append-only history of an alert (never updated, never audited: it is the record)."""

    __tablename__ = "alert_events"
    __table_args__ = (Index("ix_alert_events_alert_at", "alert_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    # fired|updated|acknowledged|unacknowledged|resolved|reopened|notified|silenced|escalated
    kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200), default="system")
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class Silence(IdMixin, Base):
    """A maintenance window: matching alerts still open and update, but notify nobody."""

    __tablename__ = "silences"
    __audited__ = True
    __table_args__ = (Index("ix_silences_window", "starts_at", "ends_at"),)

    matchers: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200), default="system")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class NotificationChannel(IdMixin, TimestampMixin, Base):
    """Where notifications go (Slack, Teams, a signed webhook, e-mail).

    Named ``notification_channels`` (the catalog's ``channels`` are customer channels).
    ``config`` holds secrets (webhook URLs, signing secrets, SMTP passwords): redacted in the
    audit log and masked in every read.
    """

    __tablename__ = "notification_channels"
    __audited__ = True

    name: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, info={"redact": True})
    enabled: Mapped[bool] = mapped_column(default=True)


class Delivery(Base):
    """One attempt at delivering one alert state on one channel (``channels.Attempt``)."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (Index("ix_notification_deliveries_alert", "alert_id", "started_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("notification_channels.id", ondelete="CASCADE"), index=True
    )
    alert_state: Mapped[str] = mapped_column(String(16))
    dedup_key: Mapped[str] = mapped_column(String(200), default="")
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    ok: Mapped[bool] = mapped_column(default=False)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    retryable: Mapped[bool] = mapped_column(default=False)
    retry_in_s: Mapped[float | None] = mapped_column(Float, default=None)


class OncallSchedule(IdMixin, TimestampMixin, Base):
    """An on-call schedule: ``spec`` is an ``oncall.Schedule`` as JSON; ``name`` is its ref."""

    __tablename__ = "oncall_schedules"
    __audited__ = True

    name: Mapped[str] = mapped_column(String(200), unique=True)
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="RESTRICT"), default=None, index=True
    )
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType)


class EscalationPolicy(IdMixin, TimestampMixin, Base):
    """An escalation policy: ``spec`` is an ``oncall.EscalationPolicy`` as JSON."""

    __tablename__ = "escalation_policies"
    __audited__ = True

    name: Mapped[str] = mapped_column(String(200), unique=True)
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="RESTRICT"), default=None, index=True
    )
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType)


class NotificationChain(IdMixin, TimestampMixin, Base):
    """A routing rule: ``spec`` is an ``oncall.NotificationChain`` as JSON; ``position``
    orders chains (the first listed wins within one precedence level)."""

    __tablename__ = "notification_chains"
    __audited__ = True

    name: Mapped[str] = mapped_column(String(200), unique=True)
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="RESTRICT"), default=None, index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType)
