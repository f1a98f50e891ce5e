"""Tables of the signals room: raw append-only signals, derived ticket state, quarantine, rollups.

Raw signal tables are written through the driver in batches (never ORM objects) and keep event
time as integer epoch milliseconds (`ts_ms`): cheap to insert, compare and bucket on every
engine. Every raw row carries its idempotency key (`key`, unique per table).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from juncture.kit import clock
from juncture.store.base import Base, BigId

KEY = String(40)


class MetricPoint(Base):
    __tablename__ = "signal_metrics"
    __table_args__ = (Index("ix_signal_metrics_service_ts", "service_id", "ts_ms"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(KEY, unique=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    metric: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    region: Mapped[str | None] = mapped_column(String(64))
    labels: Mapped[str | None] = mapped_column(Text)  # JSON object, as sent


class FunnelEvent(Base):
    __tablename__ = "signal_funnel"
    __table_args__ = (Index("ix_signal_funnel_step_ts", "step_id", "ts_ms"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(KEY, unique=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id", ondelete="CASCADE"))
    step_id: Mapped[int] = mapped_column(ForeignKey("journey_steps.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[str | None] = mapped_column(String(128))
    region: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(64))
    device: Mapped[str | None] = mapped_column(String(16))
    segment: Mapped[str | None] = mapped_column(String(32))
    value: Mapped[float | None] = mapped_column(Float)


class TicketEvent(Base):
    __tablename__ = "signal_ticket_events"
    __table_args__ = (Index("ix_signal_ticket_events_ticket_ts", "ticket_ref", "ts_ms"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(KEY, unique=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    ticket_ref: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(24))
    actor_kind: Mapped[str] = mapped_column(String(16))
    team: Mapped[str | None] = mapped_column(String(64))
    agent_id: Mapped[str | None] = mapped_column(String(128))
    channel: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[str | None] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    customer_id: Mapped[str | None] = mapped_column(String(128))
    region: Mapped[str | None] = mapped_column(String(64))
    segment: Mapped[str | None] = mapped_column(String(32))
    service: Mapped[str | None] = mapped_column(String(64))


class Ticket(Base):
    """A ticket's current state, derived from its events by event time (never arrival order)."""

    __tablename__ = "tickets"
    __table_args__ = (
        # KPI cohorts read tickets by creation time; repeat contacts by customer and time.
        Index("ix_tickets_created_ms", "created_ms"),
        Index("ix_tickets_customer_created", "customer_id", "created_ms"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    status_ms: Mapped[int] = mapped_column(BigInteger)  # event time of the status now shown
    created_ms: Mapped[int | None] = mapped_column(BigInteger)
    first_response_ms: Mapped[int | None] = mapped_column(BigInteger)
    resolved_ms: Mapped[int | None] = mapped_column(BigInteger)
    last_event_ms: Mapped[int] = mapped_column(BigInteger)
    team: Mapped[str | None] = mapped_column(String(64))
    team_ms: Mapped[int | None] = mapped_column(BigInteger)
    agent_id: Mapped[str | None] = mapped_column(String(128))
    channel: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[str | None] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(128))
    region: Mapped[str | None] = mapped_column(String(64))
    segment: Mapped[str | None] = mapped_column(String(32))
    service: Mapped[str | None] = mapped_column(String(64))
    field_ms: Mapped[dict[str, Any]] = mapped_column(
        default=dict
    )  # event time of each field's value
    reopen_count: Mapped[int] = mapped_column(default=0)
    reassign_count: Mapped[int] = mapped_column(default=0)
    reply_count: Mapped[int] = mapped_column(default=0)
    event_count: Mapped[int] = mapped_column(default=0)


class SurveyResponse(Base):
    __tablename__ = "signal_surveys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(KEY, unique=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(8))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    customer_id: Mapped[str | None] = mapped_column(String(128), index=True)
    touchpoint_kind: Mapped[str | None] = mapped_column(String(16))
    touchpoint_ref: Mapped[str | None] = mapped_column(String(128))
    region: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(64))
    segment: Mapped[str | None] = mapped_column(String(32))


class Review(Base):
    __tablename__ = "signal_reviews"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(KEY, unique=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    source: Mapped[str] = mapped_column(String(64))
    rating: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    region: Mapped[str | None] = mapped_column(String(64))
    author_id: Mapped[str | None] = mapped_column(String(128))


class Deploy(Base):
    __tablename__ = "signal_deploys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(KEY, unique=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[str] = mapped_column(String(128))
    actor: Mapped[str] = mapped_column(String(200))
    change_id: Mapped[str | None] = mapped_column(String(128))
    region: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))


class Quarantined(Base):
    """A record that was refused, with why, and the original payload so it can be replayed."""

    __tablename__ = "signal_quarantine"
    __table_args__ = (Index("ix_signal_quarantine_open", "resolved", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(default=clock.now)
    last_seen: Mapped[datetime] = mapped_column(default=clock.now)
    seen_count: Mapped[int] = mapped_column(default=1)
    source: Mapped[str] = mapped_column(String(200))
    signal_type: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(48), index=True)
    detail: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    payload_hash: Mapped[str] = mapped_column(String(40), unique=True)
    resolved: Mapped[str | None] = mapped_column(String(16), default=None)  # replayed | dropped
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)


class Series(Base):
    """One rolled-up series: a signal type, its subject and metric, and a dimension tuple."""

    __tablename__ = "signal_series"
    __table_args__ = (UniqueConstraint("series_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_key: Mapped[str] = mapped_column(String(40))
    signal_type: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(128), index=True)
    metric: Mapped[str] = mapped_column(String(64))
    region: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(64))
    segment: Mapped[str | None] = mapped_column(String(32))
    dims: Mapped[dict[str, Any]] = mapped_column()


class Rollup(Base):
    """Aggregates of one series over one bucket (minute, hour or day)."""

    __tablename__ = "signal_rollups"

    series_id: Mapped[int] = mapped_column(
        ForeignKey("signal_series.id", ondelete="CASCADE"), primary_key=True
    )
    grain: Mapped[str] = mapped_column(String(1), primary_key=True)  # m | h | d
    bucket_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    sum: Mapped[float] = mapped_column(Float)
    sumsq: Mapped[float] = mapped_column(Float)
    min: Mapped[float] = mapped_column(Float)
    max: Mapped[float] = mapped_column(Float)
    sketch: Mapped[str] = mapped_column(Text)  # DDSketch-style bins, JSON


class ImportProgress(Base):
    """How far an import of one file got: the byte offset and counts of the last committed batch."""

    __tablename__ = "signal_import_progress"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(Text)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    accepted: Mapped[int] = mapped_column(BigInteger, default=0)
    duplicates: Mapped[int] = mapped_column(BigInteger, default=0)
    quarantined: Mapped[int] = mapped_column(BigInteger, default=0)
    reasons: Mapped[dict[str, Any]] = mapped_column(default=dict)
    done: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class SurveyWidget(Base):
    """A public survey widget: its token lets a web page post responses without an API token."""

    __tablename__ = "survey_widgets"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(8))  # nps | csat | ces
    touchpoint_kind: Mapped[str] = mapped_column(String(16), default="journey_step")
    touchpoint_ref: Mapped[str | None] = mapped_column(String(128), default=None)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64), info={"redact": True})
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
