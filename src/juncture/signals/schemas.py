"""Wire contract of the signals room (the record schemas themselves are in docs/signals.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from juncture.kit.schemas import ReadModel, WriteModel


class RecordError(BaseModel):
    index: int = Field(description="Position of the record in the request (0-based)")
    reason: str = Field(description="Stable reason code, e.g. `out_of_range`, `unknown_service`")
    detail: str


class IngestSummary(BaseModel):
    """received = accepted + duplicates + quarantined, always."""

    received: int
    accepted: int
    duplicates: int
    quarantined: int
    reasons: dict[str, int] = Field(description="Quarantined records per reason code")
    errors: list[RecordError] = Field(description="The first 1,000 quarantined records' reasons")
    accepted_by_type: dict[str, int]


class QuarantinedRead(ReadModel):
    id: int
    first_seen: datetime
    last_seen: datetime
    seen_count: int
    source: str
    signal_type: str | None
    reason: str
    detail: str
    payload: str
    resolved: str | None
    resolved_at: datetime | None


class QuarantineAction(WriteModel):
    ids: list[int] | None = Field(default=None, max_length=10_000)
    reason: str | None = Field(default=None, description="Every open record with this reason code")


class ReplayRead(BaseModel):
    replayed: int
    accepted: int
    duplicates: int
    still_quarantined: int


class PointRead(BaseModel):
    bucket: datetime
    count: int
    sum: float
    mean: float | None
    min: float | None
    max: float | None
    p50: float | None
    p95: float | None
    p99: float | None


class SeriesRead(BaseModel):
    type: str
    metric: str
    subject: str | None
    grain: str
    group_by: str | None
    groups: dict[str, list[PointRead]]


class SeriesInfo(ReadModel):
    id: int
    signal_type: str
    subject: str
    metric: str
    region: str | None
    channel: str | None
    segment: str | None
    dims: dict[str, Any]


class WidgetCreate(WriteModel):
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(pattern="^(nps|csat|ces)$")
    touchpoint_kind: str = Field(
        default="journey_step", pattern="^(ticket|incident|journey_step|periodic)$"
    )
    touchpoint_ref: str | None = Field(default=None, max_length=128)


class WidgetRead(ReadModel):
    id: int
    name: str
    kind: str
    touchpoint_kind: str
    touchpoint_ref: str | None
    prefix: str
    active: bool
    created_at: datetime


class WidgetCreated(WidgetRead):
    token: str = Field(description="Embed this in the page; shown once")


class WidgetResponse(WriteModel):
    score: int
    comment: str | None = Field(default=None, max_length=8000)
    customer_id: str | None = Field(default=None, max_length=128)
    ref: str | None = Field(default=None, max_length=128, description="Touchpoint reference")
    region: str | None = Field(default=None, max_length=64)
    channel: str | None = Field(default=None, max_length=64)
    id: str | None = Field(default=None, max_length=128, description="Idempotency key")
