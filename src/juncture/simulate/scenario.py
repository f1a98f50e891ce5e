"""The scenario: every tunable parameter of the simulated world, loaded and validated from TOML."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from juncture.kit.errors import Invalid
from juncture.simulate.catalog import DEFAULT_CATALOG

CAUSES = ("deploy", "dependency", "capacity", "network", "config")
Cause = Literal["deploy", "dependency", "capacity", "network", "config"]
FaultKind = Literal["latency", "errors", "both"]

_REGIONS = tuple(r.slug for r in DEFAULT_CATALOG.regions)
_SERVICES = tuple(s.slug for s in DEFAULT_CATALOG.services)
_JOURNEYS = tuple(j.slug for j in DEFAULT_CATALOG.journeys)
_SUPPORT_TEAMS = tuple(t.slug for t in DEFAULT_CATALOG.teams if t.handles)
_SEGMENTS = ("new", "returning", "vip")
_DIGITAL = ("web", "app")
_CONTACT = ("phone", "email", "chat", "web", "app")

# Hour-of-day weights in local time (00..23) and day-of-week weights (Mon..Sun).
DEFAULT_DAILY = [
    0.25, 0.15, 0.10, 0.08, 0.08, 0.12, 0.30, 0.55, 0.80, 0.95, 1.00, 1.00,
    1.05, 1.00, 0.95, 0.95, 1.00, 1.10, 1.25, 1.40, 1.45, 1.30, 0.95, 0.55,
]  # fmt: skip
DEFAULT_WEEKLY = [1.00, 0.97, 0.95, 0.97, 1.02, 1.10, 1.15]


class ScenarioError(Invalid):
    """The scenario file is unreadable or invalid; the message names the offending field."""

    code = "invalid_scenario"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_shares(shares: dict[str, float], allowed: tuple[str, ...], what: str) -> None:
    unknown = sorted(set(shares) - set(allowed))
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; expected some of {list(allowed)}")
    if any(v < 0 for v in shares.values()):
        raise ValueError(f"{what} shares must be non-negative")
    total = sum(shares.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"{what} shares must sum to 1 (they sum to {total:g})")


class Company(_Model):
    """Who the company is and how many customers it has."""

    name: str = Field(default="Northwind Outfitters", min_length=1, max_length=200)
    customers: int = Field(default=150_000, ge=100, le=50_000_000)


class Segment(_Model):
    """Order values (log-normal) and behaviour of one customer segment."""

    order_value_mean: float = Field(gt=0)
    order_value_sigma: float = Field(default=0.5, ge=0, le=2)
    conversion_multiplier: float = Field(default=1.0, gt=0, le=5)
    contact_multiplier: float = Field(default=1.0, gt=0, le=5)


def _default_segments() -> dict[str, Segment]:
    return {
        "new": Segment(order_value_mean=55.0, conversion_multiplier=0.8),
        "returning": Segment(order_value_mean=72.0),
        "vip": Segment(order_value_mean=160.0, conversion_multiplier=1.5, contact_multiplier=1.3),
    }


class Traffic(_Model):
    """Sessions: volume, mix, seasonality in each region's local time, drift and noise."""

    sessions_per_day: float = Field(default=10_000, gt=0, le=5_000_000)
    region_share: dict[str, float] = Field(
        default_factory=lambda: {"eu": 0.45, "us": 0.35, "apac": 0.20}
    )
    channel_share: dict[str, float] = Field(default_factory=lambda: {"web": 0.58, "app": 0.42})
    segment_share: dict[str, float] = Field(
        default_factory=lambda: {"new": 0.35, "returning": 0.55, "vip": 0.10}
    )
    journey_share: dict[str, float] = Field(
        default_factory=lambda: {"purchase": 0.85, "track-order": 0.10, "return-item": 0.05}
    )
    daily_profile: list[float] = Field(default_factory=lambda: list(DEFAULT_DAILY))
    weekly_profile: list[float] = Field(default_factory=lambda: list(DEFAULT_WEEKLY))
    growth_per_week: float = Field(default=0.01, ge=-0.5, le=0.5)
    noise: float = Field(default=0.08, ge=0, le=1, description="sd of hourly log-noise")

    @model_validator(mode="after")
    def _check(self) -> Traffic:
        _check_shares(self.region_share, _REGIONS, "region")
        _check_shares(self.channel_share, _DIGITAL, "channel")
        _check_shares(self.segment_share, _SEGMENTS, "segment")
        _check_shares(self.journey_share, _JOURNEYS, "journey")
        if len(self.daily_profile) != 24 or min(self.daily_profile) < 0:
            raise ValueError("daily_profile needs 24 non-negative hourly weights")
        if len(self.weekly_profile) != 7 or min(self.weekly_profile) < 0:
            raise ValueError("weekly_profile needs 7 non-negative weights (Monday first)")
        return self


class ServiceHealth(_Model):
    """Overrides of a service's nominal health (defaults come from the catalog)."""

    latency_p50_ms: float | None = Field(default=None, gt=0)
    p95_ratio: float | None = Field(default=None, ge=1)
    error_rate: float | None = Field(default=None, ge=0, lt=1)
    requests_per_session: float | None = Field(default=None, gt=0)


class Metrics(_Model):
    """Operational series: resolution, noise, drift and load sensitivity."""

    step_minutes: int = Field(default=10, ge=1, le=60)
    latency_noise: float = Field(default=0.06, ge=0, le=1)
    error_noise: float = Field(default=0.25, ge=0, le=2)
    drift_per_day: float = Field(default=0.01, ge=0, le=0.2)
    load_sensitivity: float = Field(default=0.25, ge=0, le=5)
    services: dict[str, ServiceHealth] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Metrics:
        if 60 % self.step_minutes:
            raise ValueError("step_minutes must divide 60")
        unknown = sorted(set(self.services) - set(_SERVICES))
        if unknown:
            raise ValueError(f"unknown services {unknown}")
        return self


class Funnel(_Model):
    """Step conversion and its sensitivity to service health (see docs/simulator.md)."""

    conversion: dict[str, float] = Field(
        default_factory=lambda: {
            "purchase.cart": 0.22,
            "purchase.checkout": 0.55,
            "purchase.paid": 0.85,
            "track-order.delivery-notice": 0.70,
            "return-item.return-label": 0.80,
            "return-item.refund": 0.90,
        }
    )
    latency_sensitivity: float = Field(default=0.2, ge=0, le=10)
    step_gap_minutes: float = Field(default=1.5, gt=0, le=60)
    app_multiplier: float = Field(default=1.1, gt=0, le=5)

    @model_validator(mode="after")
    def _check(self) -> Funnel:
        valid = {f"{j.slug}.{s.slug}" for j in DEFAULT_CATALOG.journeys for s in j.steps[1:]}
        unknown = sorted(set(self.conversion) - valid)
        if unknown:
            raise ValueError(f"unknown journey steps {unknown}; expected some of {sorted(valid)}")
        missing = sorted(valid - set(self.conversion))
        if missing:
            raise ValueError(f"missing conversion for {missing}")
        if any(not 0 < v <= 1 for v in self.conversion.values()):
            raise ValueError("conversions must be in (0, 1]")
        return self


class Deploys(_Model):
    """Release cadence and how often releases go wrong."""

    per_service_per_weekday: float = Field(default=0.5, ge=0, le=20)
    weekend_factor: float = Field(default=0.1, ge=0, le=1)
    bad_fraction: float = Field(default=0.05, ge=0, le=1)
    failed_fraction: float = Field(default=0.03, ge=0, le=1)
    rollback_fraction: float = Field(default=0.6, ge=0, le=1)
    region_gap_minutes: float = Field(default=20.0, ge=0, le=600)


class Fault(_Model):
    """One scripted fault: what breaks, where, when, how much, and why."""

    service: str
    regions: list[str] = Field(min_length=1)
    start_day: float = Field(
        ge=-3660,
        description="days after the start (fractional); negative: days before the end",
    )
    duration_minutes: float = Field(gt=0, le=7 * 24 * 60)
    kind: FaultKind = "latency"
    latency_multiplier: float = Field(default=3.0, ge=1, le=100)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    cause: Cause = "deploy"
    title: str = ""

    @model_validator(mode="after")
    def _check(self) -> Fault:
        if self.service not in _SERVICES:
            raise ValueError(f"unknown service {self.service!r}; expected one of {list(_SERVICES)}")
        unknown = sorted(set(self.regions) - set(_REGIONS))
        if unknown:
            raise ValueError(f"unknown regions {unknown}; expected some of {list(_REGIONS)}")
        if self.kind in ("errors", "both") and self.error_rate <= 0:
            raise ValueError(f"a fault of kind {self.kind!r} needs error_rate > 0")
        if self.kind in ("latency", "both") and self.latency_multiplier <= 1:
            raise ValueError(f"a fault of kind {self.kind!r} needs latency_multiplier > 1")
        return self


class Incidents(_Model):
    """Random faults (besides bad deploys) and scripted ones."""

    random_per_week: float = Field(default=0.7, ge=0, le=50)
    propagation: float = Field(
        default=0.5, ge=0, le=1, description="share of a fault felt by dependent services"
    )
    scripted: list[Fault] = Field(default_factory=list)


class Shift(_Model):
    """Agents of one support team on one shift (local hours of the team's time zone)."""

    start_hour: int = Field(ge=0, le=23)
    hours: int = Field(ge=1, le=24)
    weekday_agents: int = Field(ge=0, le=1000)
    weekend_agents: int = Field(ge=0, le=1000)


class Team(_Model):
    """Staffing of one support team."""

    shifts: list[Shift] = Field(min_length=1)


def _default_teams() -> dict[str, Team]:
    # (weekday, weekend) agents on the early (06-14), late (14-22) and night (22-06) shifts.
    plan = {
        "support": ((2, 2), (3, 2), (1, 1)),
        "billing-support": ((2, 1), (2, 1), (1, 1)),
        "logistics-support": ((3, 2), (4, 3), (1, 1)),
        "tech-support": ((2, 1), (2, 1), (1, 1)),
    }
    return {
        team: Team(
            shifts=[
                Shift(start_hour=start, hours=8, weekday_agents=wd, weekend_agents=we)
                for start, (wd, we) in zip((6, 14, 22), shifts, strict=True)
            ]
        )
        for team, shifts in plan.items()
    }


class Support(_Model):
    """The contact centre: demand, routing, handling and the customers' patience."""

    tickets_per_1000_sessions: float = Field(default=22.0, ge=0, le=1000)
    contact_on_error_first: float = Field(default=0.03, ge=0, le=1)
    contact_on_error_last: float = Field(default=0.30, ge=0, le=1)
    contact_on_latency_abandon: float = Field(default=0.02, ge=0, le=1)
    contact_lag_minutes: float = Field(default=35.0, gt=0, le=7 * 24 * 60)
    channel_share: dict[str, float] = Field(
        default_factory=lambda: {
            "email": 0.35,
            "chat": 0.30,
            "phone": 0.20,
            "web": 0.10,
            "app": 0.05,
        }
    )
    category_share: dict[str, float] = Field(
        default_factory=lambda: {
            "delivery-status": 0.26,
            "returns": 0.16,
            "refund": 0.10,
            "payment-issue": 0.07,
            "order-change": 0.10,
            "product-question": 0.12,
            "account-access": 0.06,
            "website-problem": 0.04,
            "app-problem": 0.03,
            "complaint": 0.06,
        }
    )
    handle_minutes: float = Field(default=18.0, gt=0, le=600)
    misroute_rate: float = Field(default=0.08, ge=0, le=1)
    pending_rate: float = Field(default=0.35, ge=0, le=1)
    reopen_rate: float = Field(default=0.07, ge=0, le=1)
    phone_patience_minutes: float = Field(default=8.0, gt=0)
    chat_patience_minutes: float = Field(default=15.0, gt=0)
    teams: dict[str, Team] = Field(default_factory=_default_teams)

    @model_validator(mode="after")
    def _check(self) -> Support:
        _check_shares(self.channel_share, _CONTACT, "contact channel")
        _check_shares(self.category_share, DEFAULT_CATALOG.ticket_categories, "ticket category")
        missing = sorted(set(_SUPPORT_TEAMS) - set(self.teams))
        unknown = sorted(set(self.teams) - set(_SUPPORT_TEAMS))
        if missing or unknown:
            raise ValueError(
                f"teams must be exactly {list(_SUPPORT_TEAMS)} (missing {missing}, "
                f"unknown {unknown})"
            )
        return self


class Surveys(_Model):
    """Survey response rates and the weights of experience in the scores."""

    csat_response_rate: float = Field(default=0.32, ge=0, le=1)
    ces_response_rate: float = Field(default=0.10, ge=0, le=1)
    nps_per_week: int = Field(default=700, ge=0, le=1_000_000)
    nps_response_rate: float = Field(default=0.25, ge=0, le=1)
    csat_base: float = Field(default=4.55, ge=1, le=5)
    wait_weight: float = Field(default=0.35, ge=0, description="CSAT points per log(1+wait h)")
    incident_weight: float = Field(default=0.9, ge=0)
    reassign_weight: float = Field(default=0.5, ge=0)
    reopen_weight: float = Field(default=0.8, ge=0)


class Reviews(_Model):
    """Public reviews and mentions."""

    per_day: float = Field(default=25.0, ge=0, le=100_000)
    per_failed_session: float = Field(default=0.01, ge=0, le=1)


class Intervention(_Model):
    """A change with a known true effect, for attribution checks.

    ``csat_shift`` adds ``effect`` CSAT points to tickets of ``category`` in ``region`` from
    ``start_day``; ``staffing`` adds ``agents`` to ``team`` on weekdays between local hours
    ``from_hour`` and ``to_hour`` from ``start_day``.
    """

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    kind: Literal["csat_shift", "staffing"]
    description: str = ""
    start_day: float = Field(ge=0)
    region: str | None = None
    category: str | None = None
    effect: float = 0.0
    team: str | None = None
    agents: int = Field(default=0, ge=0, le=1000)
    from_hour: int = Field(default=8, ge=0, le=23)
    to_hour: int = Field(default=12, ge=1, le=24)

    @model_validator(mode="after")
    def _check(self) -> Intervention:
        if self.kind == "csat_shift":
            if self.region not in _REGIONS:
                raise ValueError(f"csat_shift needs region, one of {list(_REGIONS)}")
            if self.category not in DEFAULT_CATALOG.ticket_categories:
                raise ValueError("csat_shift needs a known ticket category")
            if self.effect == 0:
                raise ValueError("csat_shift needs a non-zero effect")
        else:
            if self.team not in _SUPPORT_TEAMS:
                raise ValueError(f"staffing needs team, one of {list(_SUPPORT_TEAMS)}")
            if self.agents <= 0:
                raise ValueError("staffing needs agents > 0")
            if self.to_hour <= self.from_hour:
                raise ValueError("to_hour must be after from_hour")
        return self


class Promotion(_Model):
    """A sale or seasonal peak, announced ahead of time."""

    name: str = Field(min_length=1, max_length=200)
    start_day: float = Field(ge=0)
    days: float = Field(gt=0, le=60)
    regions: list[str] = Field(min_length=1)
    traffic_multiplier: float = Field(default=1.8, ge=1, le=20)
    conversion_multiplier: float = Field(default=1.15, gt=0, le=5)
    announce_days_before: float = Field(default=14, ge=0, le=365)

    @model_validator(mode="after")
    def _check(self) -> Promotion:
        unknown = sorted(set(self.regions) - set(_REGIONS))
        if unknown:
            raise ValueError(f"unknown regions {unknown}; expected some of {list(_REGIONS)}")
        return self


class Scenario(_Model):
    """The whole scenario; every section has documented defaults (see default_scenario.toml)."""

    company: Company = Field(default_factory=Company)
    segments: dict[str, Segment] = Field(default_factory=_default_segments)
    traffic: Traffic = Field(default_factory=Traffic)
    metrics: Metrics = Field(default_factory=Metrics)
    funnel: Funnel = Field(default_factory=Funnel)
    deploys: Deploys = Field(default_factory=Deploys)
    incidents: Incidents = Field(default_factory=Incidents)
    support: Support = Field(default_factory=Support)
    surveys: Surveys = Field(default_factory=Surveys)
    reviews: Reviews = Field(default_factory=Reviews)
    interventions: list[Intervention] = Field(default_factory=list)
    promotions: list[Promotion] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        if set(self.segments) != set(_SEGMENTS):
            raise ValueError(f"segments must be exactly {list(_SEGMENTS)}")
        ids = [i.id for i in self.interventions]
        if len(set(ids)) != len(ids):
            raise ValueError("intervention ids must be unique")
        return self


def _format_error(exc: ValidationError, source: str) -> str:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = str(first["msg"]).removeprefix("Value error, ")
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"invalid scenario {source}: {loc}: {msg}{more}"


def parse_scenario(data: dict[str, Any], *, source: str = "<dict>") -> Scenario:
    """Validate a scenario given as plain data.

    Parameters
    ----------
    data : dict
        Parsed TOML (or equivalent) content.
    source : str
        Where the data came from, used in error messages.

    Returns
    -------
    Scenario
        The validated scenario.

    Raises
    ------
    ScenarioError
        When a field is invalid; the message names the field path (``support.teams.x``).
    """
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_error(exc, source)) from exc


def load_scenario(path: Path | str | None = None) -> Scenario:
    """Load and validate a scenario TOML file (the shipped default when ``path`` is None).

    Parameters
    ----------
    path : Path or str, optional
        A TOML file; missing sections take their defaults.

    Returns
    -------
    Scenario
        The validated scenario.

    Raises
    ------
    ScenarioError
        When the file cannot be read, is not TOML, or a field is invalid.
    """
    if path is None:
        text = (
            resources.files("juncture.simulate")
            .joinpath("default_scenario.toml")
            .read_text(encoding="utf-8")
        )
        source = "default_scenario.toml"
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ScenarioError(f"cannot read scenario {source}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"invalid scenario {source}: not valid TOML: {exc}") from exc
    return parse_scenario(data, source=source)
