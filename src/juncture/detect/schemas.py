"""Wire contract of the detect room: rules, alerts, silences, channels, on-call objects."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from juncture.detect.enums import Severity
from juncture.kit.schemas import ReadModel, WriteModel

RULE_KINDS = ("threshold", "baseline", "burn_rate", "customer_impact")
ALERT_STATES = ("firing", "acknowledged", "resolved")
GROUP_BY = ("service", "journey", "none")
EVENT_KINDS = (
    "fired",
    "updated",
    "acknowledged",
    "unacknowledged",
    "resolved",
    "reopened",
    "notified",
    "silenced",
    "escalated",
)

RuleKind = Literal["threshold", "baseline", "burn_rate", "customer_impact"]
AlertState = Literal["firing", "acknowledged", "resolved"]
GroupBy = Literal["service", "journey", "none"]
CHANNEL_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,39}$"


# ---------------------------------------------------------------- rule params, per kind


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ThresholdParams(_Params):
    """Fire when the watched value compares to ``threshold`` for ``for_minutes``."""

    threshold: float
    op: Literal[">", ">=", "<", "<="] = ">"
    for_minutes: int = Field(default=0, ge=0, le=7 * 24 * 60)
    clear_threshold: float | None = Field(
        default=None,
        description="Recovery line (hysteresis): the alert clears only once the value is no "
        "longer beyond it; default the threshold itself",
    )

    @model_validator(mode="after")
    def _clear_on_normal_side(self) -> ThresholdParams:
        if self.clear_threshold is None:
            return self
        above = self.op in (">", ">=")
        if (above and self.clear_threshold > self.threshold) or (
            not above and self.clear_threshold < self.threshold
        ):
            raise ValueError("clear_threshold must be on the normal side of threshold")
        return self


class BaselineParams(_Params):
    """Fire when the anomaly score against the learned baseline reaches ``min_score``."""

    min_score: float = Field(default=0.5, gt=0, le=1)
    direction: Literal["up", "down", "both"] = "both"
    for_minutes: int = Field(default=0, ge=0, le=7 * 24 * 60)


class BurnWindow(_Params):
    long_minutes: int = Field(ge=1, le=60 * 24 * 31)
    short_minutes: int = Field(ge=1, le=60 * 24 * 31)
    factor: float = Field(gt=0)

    @model_validator(mode="after")
    def _short_is_shorter(self) -> BurnWindow:
        if self.short_minutes >= self.long_minutes:
            raise ValueError("short_minutes must be less than long_minutes")
        return self


def _default_windows() -> list[BurnWindow]:
    # The multiwindow, multi-burn-rate pair of the Google SRE workbook (page-worthy tier).
    return [
        BurnWindow(long_minutes=60, short_minutes=5, factor=14.4),
        BurnWindow(long_minutes=360, short_minutes=30, factor=6.0),
    ]


class BurnRateParams(_Params):
    """Fire when the error budget of ``slo`` burns at ``factor`` over both windows of a pair."""

    slo: float = Field(gt=0, lt=1, description="Objective as a fraction, e.g. 0.999")
    windows: list[BurnWindow] = Field(default_factory=_default_windows, min_length=1)


class CustomerImpactParams(_Params):
    """Fire when an operational change is joined by a customer effect of at least this size."""

    min_customers: int | None = Field(default=None, ge=0)
    min_orders: int | None = Field(default=None, ge=0)
    min_tickets: int | None = Field(default=None, ge=0)
    min_correlation: float = Field(default=0.5, ge=-1, le=1)
    max_lag_minutes: int = Field(default=60, ge=0, le=24 * 60)
    min_score: float = Field(default=0.5, gt=0, le=1)
    # How the rule reads its sides (defaults: chosen on the simulated company, seeds 1-3,
    # with metrics every minute, and checked on fresh seeds with metrics every minute and
    # every 10 minutes: bench/customer_impact.py, docs/benchmarks.md). A point is abnormal
    # beyond k scales from its baseline; the customer side deviates when customer_points of
    # its last customer_of_points minutes are abnormal; an operational series must be
    # abnormal in ops_points readings in a row (at its own reporting interval).
    k_customer: float = Field(default=1.5, gt=0, le=20)
    customer_points: int = Field(default=2, ge=1, le=60)
    customer_of_points: int = Field(default=3, ge=1, le=60)
    k_ops: float = Field(default=10.0, gt=0, le=50)
    ops_points: int = Field(default=1, ge=1, le=10)
    # An error rate reported more often is pooled over this many minutes (errors over
    # requests); no effect on a series reported every 10 minutes.
    error_window_minutes: int = Field(default=5, ge=1, le=60)
    # Funnel drop-off: over the trailing window_minutes (and three times that), against the
    # previous baseline_hours, counting only windows of at least min_sessions sessions.
    window_minutes: int = Field(default=5, ge=1, le=120)
    baseline_hours: int = Field(default=24, ge=1, le=7 * 24)
    min_sessions: int = Field(default=3, ge=1, le=10_000)

    @model_validator(mode="after")
    def _some_effect(self) -> CustomerImpactParams:
        if self.min_customers is None and self.min_orders is None and self.min_tickets is None:
            raise ValueError("give at least one of min_customers, min_orders, min_tickets")
        if self.customer_points > self.customer_of_points:
            raise ValueError("customer_points must not exceed customer_of_points")
        return self


PARAMS_BY_KIND: dict[str, type[_Params]] = {
    "threshold": ThresholdParams,
    "baseline": BaselineParams,
    "burn_rate": BurnRateParams,
    "customer_impact": CustomerImpactParams,
}


class RuleTarget(_Params):
    """What a rule watches: a KPI (with filters), or a metric/signal series of a subject."""

    kpi: str | None = Field(default=None, min_length=1, max_length=64)
    filters: dict[str, str] = Field(default_factory=dict)
    signal_type: str | None = Field(default=None, min_length=1, max_length=32)
    metric: str | None = Field(default=None, min_length=1, max_length=128)
    subject: str | None = Field(default=None, min_length=1, max_length=200)
    # customer_impact rules join an operational side to a customer side
    customer: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_series(self) -> RuleTarget:
        if (self.kpi is None) == (self.metric is None):
            raise ValueError("name exactly one of kpi or metric")
        if self.metric is not None and self.signal_type is None:
            raise ValueError("a metric target needs signal_type")
        return self


# ---------------------------------------------------------------- rules


class AlertRuleCreate(WriteModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    kind: RuleKind
    target: dict[str, Any]
    params: dict[str, Any] = Field(default_factory=dict)
    severity: Severity = Severity.WARNING
    owner_team_id: int
    enabled: bool = True
    group_by: GroupBy = "service"


class AlertRuleUpdate(WriteModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    kind: RuleKind | None = None
    target: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    severity: Severity | None = None
    owner_team_id: int | None = None
    enabled: bool | None = None
    group_by: GroupBy | None = None


class AlertRuleRead(ReadModel):
    id: int
    name: str
    description: str
    kind: str
    target: dict[str, Any]
    params: dict[str, Any]
    severity: str
    owner_team_id: int
    enabled: bool
    group_by: str
    created_at: datetime
    updated_at: datetime


# ---------------------------------------------------------------- alerts


class AlertRead(ReadModel):
    id: int
    rule_id: int | None
    group_key: str
    dedup_key: str
    title: str
    summary: str
    severity: str
    state: str
    customer_facing: bool
    services: list[str]
    journeys: list[str]
    started_at: datetime
    last_seen_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    occurrences: int
    flap_count: int
    escalation_policy: str | None
    escalation_sent_steps: int
    next_escalation_at: datetime | None


class AlertEventRead(ReadModel):
    id: int
    at: datetime
    kind: str
    actor: str
    detail: dict[str, Any]


class DeliveryRead(ReadModel):
    id: int
    channel_id: int
    alert_state: str
    dedup_key: str
    attempt: int
    started_at: datetime
    duration_ms: int
    ok: bool
    status_code: int | None
    error: str | None
    retryable: bool
    retry_in_s: float | None


class AlertDetail(AlertRead):
    evidence: dict[str, Any]
    history: list[AlertEventRead]
    deliveries: list[DeliveryRead]


class AlertAction(WriteModel):
    """Body of acknowledge / unacknowledge / resolve (optional)."""

    note: str = Field(default="", max_length=2000)


# ---------------------------------------------------------------- silences


class SilenceMatchers(WriteModel):
    """Every non-empty list must match (one of its values); empty lists match anything."""

    services: list[str] = Field(default_factory=list, max_length=100)
    journeys: list[str] = Field(default_factory=list, max_length=100)
    rule_ids: list[int] = Field(default_factory=list, max_length=100)
    severities: list[Severity] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.services or self.journeys or self.rule_ids or self.severities)


class SilenceCreate(WriteModel):
    matchers: SilenceMatchers
    starts_at: datetime
    ends_at: datetime
    reason: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _ordered(self) -> SilenceCreate:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class SilenceUpdate(WriteModel):
    matchers: SilenceMatchers | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    reason: str | None = Field(default=None, max_length=2000)


class SilenceRead(ReadModel):
    id: int
    matchers: dict[str, Any]
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime


# ---------------------------------------------------------------- channels


class ChannelCreate(WriteModel):
    name: str = Field(pattern=CHANNEL_NAME_PATTERN, description="The ref chains use")
    config: dict[str, Any] = Field(description="A channel document with a `kind`")
    enabled: bool = True


class ChannelUpdate(WriteModel):
    name: str | None = Field(default=None, pattern=CHANNEL_NAME_PATTERN)
    config: dict[str, Any] | None = Field(default=None, description="Replaces the whole config")
    enabled: bool | None = None


class ChannelRead(BaseModel):
    id: int
    name: str
    kind: str
    config: dict[str, Any] = Field(description="Secrets and webhook URL paths are masked")
    enabled: bool
    created_at: datetime
    updated_at: datetime


# ---------------------------------------------------------------- schedules, policies, chains


class ScheduleCreate(WriteModel):
    team_id: int | None = None
    spec: dict[str, Any] = Field(description="An on-call schedule; its `name` is the ref")


class ScheduleUpdate(WriteModel):
    team_id: int | None = None
    spec: dict[str, Any] | None = None


class ScheduleRead(ReadModel):
    id: int
    name: str
    team_id: int | None
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class OnCallRead(BaseModel):
    schedule_id: int
    schedule: str
    at: datetime
    user: str | None


class PolicyCreate(WriteModel):
    team_id: int | None = None
    spec: dict[str, Any] = Field(description="An escalation policy; its `name` is the ref")


class PolicyUpdate(WriteModel):
    team_id: int | None = None
    spec: dict[str, Any] | None = None


class PolicyRead(ScheduleRead):
    pass


class ChainCreate(WriteModel):
    name: str = Field(min_length=1, max_length=200)
    team_id: int | None = None
    position: int = Field(default=0, ge=0, le=10_000)
    spec: dict[str, Any] = Field(description="A notification chain: team, severities, ...")


class ChainUpdate(WriteModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    team_id: int | None = None
    position: int | None = Field(default=None, ge=0, le=10_000)
    spec: dict[str, Any] | None = None


class ChainRead(ReadModel):
    id: int
    name: str
    team_id: int | None
    position: int
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime
