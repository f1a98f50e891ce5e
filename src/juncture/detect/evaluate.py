"""The alert engine's evaluation: read each enabled rule's series, decide, raise or clear.

``evaluate_rules`` reads the rule's target over ``[now - lookback, now)`` from rollups
(complete minutes of metric, funnel and ticket series; hours of a KPI), runs the matching
pure rule of :mod:`juncture.analytics.alerting` and looks at the **last** bucket only: the
rules are causal, so the state of the last bucket is what the rule says now. A firing state
calls :func:`service.raise_alert_ex` (same dedup key each tick: the alert is joined), a
quiet one :func:`service.clear_alert` (which resolves after ``CLEAR_DELAY``). An alert that
must notify people gets its escalation cursor set to "due now"; the ``detect.notify`` job
routes and sends it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from juncture.analytics import alerting
from juncture.catalog import service as catalog_service
from juncture.config import Settings
from juncture.detect import service
from juncture.detect.models import AlertRule
from juncture.detect.schemas import (
    BaselineParams,
    BurnRateParams,
    CustomerImpactParams,
    RuleTarget,
    ThresholdParams,
)
from juncture.kit import clock
from juncture.kpis import service as kpi_service
from juncture.signals import reads

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
MINUTE = timedelta(minutes=1)
MINUTE_MS = 60_000
#: Operational metrics the customer-impact rule watches on the services of a step.
OPS_METRICS = ("latency_p95_ms", "error_rate")
#: Trailing points of the quick causal baseline of the customer-impact sides (other than a
#: funnel drop-off, whose baseline is the ratio over ``baseline_hours``).
BASELINE_WINDOW = 60
#: History of the operational baselines, read before the evaluated window: their trailing
#: median and MAD span this much time at the series' native grain (36 readings every 10
#: minutes, 360 readings every minute).
OPS_HISTORY = timedelta(hours=6)
#: Readings an operational baseline needs before it is known (half of 6 h of 10-minute
#: readings; 18 minutes of history when the series reports every minute).
OPS_BASELINE_MIN_READINGS = 18
#: A customer-impact finding whose customer side has not been abnormal for this long no
#: longer fires, though the rule still calls it ongoing (a step with too few sessions at
#: night has only missing points, which never clear it).
STALE_IMPACT = timedelta(minutes=60)
#: A funnel step's drop-off is read over ``window_minutes`` and over this many times that
#: (5 and 15 minutes with the defaults): the slower series holds enough sessions to see a
#: fault that costs a few percent of a quiet step, which the short window's handful of
#: sessions cannot (bench/customer_impact.py, docs/benchmarks.md, issue 7).
SLOW_WINDOW_FACTOR = 3
#: A customer-impact finding also ends once its customer side has not deviated for this long
#: (``analytics.alerting.ImpactParams.quiet_end``), so a finding on a quiet, noisy step does
#: not stay open for hours and take in every later incident of the step.
QUIET_END_MINUTES = 60
#: Metric series whose value is a mean per reading (the others count events).
COUNT_TYPES = frozenset({"funnel", "ticket", "review", "deploy"})


@dataclass
class Verdict:
    """What a rule says now about one group of its target."""

    group: str
    firing: bool
    title: str
    summary: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    services: list[str] = field(default_factory=list)
    journeys: list[str] = field(default_factory=list)
    customer_facing: bool = False


@dataclass
class Summary:
    rules: int = 0
    firing: int = 0
    opened: int = 0
    joined: int = 0
    reopened: int = 0
    clearing: int = 0
    resolved: int = 0
    to_notify: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rules": self.rules,
            "firing": self.firing,
            "opened": self.opened,
            "joined": self.joined,
            "reopened": self.reopened,
            "clearing": self.clearing,
            "resolved": self.resolved,
            "to_notify": self.to_notify,
            "errors": self.errors[:20],
        }


# ---------------------------------------------------------------- reading series


def _ms(at: datetime) -> int:
    return int(clock.ensure_utc(at).timestamp() * 1000)


def _floor_minute(at: datetime) -> datetime:
    at = clock.ensure_utc(at)
    return at.replace(second=0, microsecond=0)


@dataclass(frozen=True)
class Grid:
    """Minute buckets ``start_ms + i * 60 000`` for ``i < n``."""

    start_ms: int
    n: int

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.n * MINUTE_MS

    def minutes(self) -> npt.NDArray[np.int64]:
        return (self.start_ms // MINUTE_MS + np.arange(self.n)).astype(np.int64)

    def at(self, i: int) -> datetime:
        return datetime.fromtimestamp((self.start_ms + i * MINUTE_MS) / 1000, tz=UTC)


@dataclass(frozen=True)
class Sums:
    count: FloatArray
    total: FloatArray

    def mean(self) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            out: FloatArray = np.where(self.count > 0, self.total / self.count, np.nan)
        return out


def _minute_sums(
    session: Any,
    grid: Grid,
    *,
    signal_type: str,
    metric: str,
    subjects: Sequence[str] | None,
    filters: Mapping[str, str],
    by_subject: bool,
) -> dict[str, Sums]:
    """Count and sum per minute of the matching series, per subject or all together."""
    found = reads.find_series(
        session,
        signal_type=signal_type,
        metrics=[metric],
        subjects=subjects,
        region=filters.get("region"),
        channel=filters.get("channel"),
        segment=filters.get("segment"),
    )
    groups: dict[str, list[int]] = {}
    for ref in found:
        groups.setdefault(ref.subject if by_subject else "all", []).append(ref.id)
    out: dict[str, Sums] = {}
    if not groups:
        return out
    for label in groups:
        out[label] = Sums(np.zeros(grid.n), np.zeros(grid.n))
    rows = reads.rollup_sums(
        session, groups=groups, grain="m", start_ms=grid.start_ms, end_ms=grid.end_ms
    )
    for label, bucket_ms, count, total, _sumsq in rows:
        i = (bucket_ms - grid.start_ms) // MINUTE_MS
        if 0 <= i < grid.n:
            out[label].count[i] += count
            out[label].total[i] += total
    return out


#: A reading stands for the minutes after it until the next one, up to this many minutes
#: (services often report every 10 or 15 minutes, not every minute).
HOLD_MINUTES = 15


def _hold(values: FloatArray, limit: int = HOLD_MINUTES) -> FloatArray:
    """Carry each reading forward over the empty minutes after it (at most ``limit``): causal,
    so a rule's "for N minutes" means minutes, whatever the reporting interval."""
    out = values.copy()
    last = np.nan
    age = limit + 1
    for i in range(out.size):
        if np.isfinite(out[i]):
            last, age = out[i], 0
        else:
            age += 1
            if age <= limit:
                out[i] = last
    return out


def _values(signal_type: str, sums: Sums) -> FloatArray:
    """Events per minute for event series, the mean reading for metrics and surveys (held
    over the minutes between readings)."""
    if signal_type in COUNT_TYPES:
        return sums.count.astype(np.float64)
    mean = sums.mean()
    return _hold(mean) if signal_type == "metric" else mean


def _kpi_values(
    session: Any, target: RuleTarget, now: datetime, lookback: timedelta, settings: Settings
) -> tuple[list[datetime], FloatArray]:
    assert target.kpi is not None
    start = clock.ensure_utc(now) - lookback
    series = kpi_service.kpi_series(
        session,
        kpi=target.kpi,
        start=start,
        end=clock.ensure_utc(now),
        bucket="hour",
        filters=target.filters or None,
        settings=settings,
    )
    points = next(iter(series.values()), [])
    values = np.array([np.nan if p.value is None else p.value for p in points], dtype=np.float64)
    return [p.bucket for p in points], values


# ---------------------------------------------------------------- the rules


def _round(x: float) -> float | None:
    return None if not math.isfinite(x) else float(f"{x:.6g}")


def _tail(values: FloatArray, k: int = 15) -> list[float | None]:
    return [_round(float(v)) for v in values[-k:]]


def _run_at_end(mask: npt.NDArray[np.bool_]) -> int:
    """How many points at the end of ``mask`` are true in a row."""
    if not mask.size or not mask[-1]:
        return 0
    false = np.flatnonzero(~mask)
    return int(mask.size - (false[-1] + 1 if false.size else 0))


def _threshold(
    values: FloatArray, params: ThresholdParams, step_minutes: int
) -> tuple[bool, dict[str, Any]]:
    for_points = max(1, math.ceil(params.for_minutes / step_minutes))
    states = alerting.threshold_states(
        values,
        op=params.op,
        threshold=params.threshold,
        for_points=for_points,
        clear_threshold=params.clear_threshold,
    )
    firing = bool(states[-1]) if states.size else False
    last = values[np.isfinite(values)]
    evidence = {
        "component": "threshold",
        "value": _round(float(last[-1])) if last.size else None,
        "op": params.op,
        "threshold": params.threshold,
        "clear_threshold": params.clear_threshold,
        "for_minutes": params.for_minutes,
        "values": _tail(values),
    }
    return firing, evidence


def _baseline(
    values: FloatArray, params: BaselineParams, step_minutes: int
) -> tuple[bool, dict[str, Any]]:
    directions: tuple[alerting.Direction, ...] = (
        ("up", "down") if params.direction == "both" else (params.direction,)
    )
    for_points = max(1, math.ceil(params.for_minutes / step_minutes))
    best: tuple[int, alerting.DeviationStates, str] | None = None
    for direction in directions:
        states = alerting.deviation_states(values, direction=direction, min_score=params.min_score)
        run = _run_at_end(states.firing)
        if best is None or run > best[0]:
            best = (run, states, direction)
    assert best is not None
    run, states, worse = best
    firing = run >= for_points
    i = values.size - 1
    evidence = {
        "component": str(states.component[i]) if i >= 0 and states.component[i] else "baseline",
        "direction": worse,
        "score": _round(float(states.score[i])) if i >= 0 else None,
        "min_score": params.min_score,
        "value": _round(float(values[i])) if i >= 0 else None,
        "baseline": _round(float(values[i] - states.excess[i] * (1 if worse == "up" else -1)))
        if i >= 0
        else None,
        "values": _tail(values),
    }
    return firing, evidence


def _burn(sums: Sums, metric: str, params: BurnRateParams) -> tuple[bool, dict[str, Any]]:
    # Ratio metrics are means of readings: weight each minute by its readings. Availability
    # counts the good share, every other ratio (error_rate) the bad one.
    bad = sums.count - sums.total if metric == "availability" else sums.total
    policies = [
        alerting.BurnPolicy("page", w.long_minutes, w.short_minutes, w.factor)
        for w in params.windows
    ]
    res = alerting.burn_rate_alerts(bad, sums.count, params.slo, policies)
    i = sums.count.size - 1
    firing = bool(i >= 0 and res.policy[i] >= 0)
    evidence: dict[str, Any] = {"component": "burn_rate", "slo": params.slo}
    if firing:
        p = res.policies[int(res.policy[i])]
        evidence |= {
            "long_minutes": p.long_minutes,
            "short_minutes": p.short_minutes,
            "factor": p.factor,
            "long_burn": _round(float(res.long_burn[i])),
            "short_burn": _round(float(res.short_burn[i])),
        }
    else:
        evidence["burn"] = {
            str(w): _round(float(b[i])) if i >= 0 else None for w, b in res.burn.items()
        }
    return firing, evidence


def _side(
    name: str,
    grid: Grid,
    values: FloatArray,
    *,
    direction: alerting.Direction,
    volume: FloatArray | None = None,
    unit: str = "",
    service_slug: str | None = None,
    region: str | None = None,
    journey: str | None = None,
) -> alerting.SideSeries:
    expected, scale = alerting.trailing_baseline(values, BASELINE_WINDOW)
    # A flat history has no spread: a small floor keeps tiny wobbles from counting as large.
    floor = np.maximum(0.02 * np.abs(np.nan_to_num(expected)), 1e-3)
    scale = np.where(np.isfinite(scale), np.maximum(scale, floor), np.nan)
    return alerting.SideSeries(
        name=name,
        timestamps=grid.minutes(),
        values=values,
        expected=expected,
        scale=scale,
        direction=direction,
        volume=volume,
        unit=unit,
        service=service_slug,
        region=region,
        journey=journey,
    )


@dataclass(frozen=True)
class _Customer:
    side: alerting.SideSeries
    services: list[str]  # the services of the step (named on the alert)
    watched: list[str]  # the services whose operational series are joined to it
    journeys: list[str]
    order_step: bool
    region: str | None  # the region of the customer series (None: all of them)
    # The regions whose operational series are joined to it (None: unfiltered): its own
    # region, or every region for the all-regions series of a step read per region (a
    # fault in one region moves that region's latency, not an average over regions).
    ops_regions: tuple[str | None, ...]


def customer_windows(params: CustomerImpactParams) -> tuple[int, ...]:
    """The drop-off windows of a funnel target: ``window_minutes`` and the slow one."""
    return (params.window_minutes, SLOW_WINDOW_FACTOR * params.window_minutes)


def _funnel_sides(
    session: Any,
    grid: Grid,
    target: RuleTarget,
    settings: Settings,
    params: CustomerImpactParams,
) -> list[_Customer]:
    """Drop-off at a funnel step over trailing windows: per region and over all regions
    together without a region filter, each over ``window_minutes`` and the slow window
    (:func:`customer_windows`).

    ``grid`` must reach ``baseline_hours`` and the slow window before the evaluated window:
    the expectation is the drop-off over the previous ``baseline_hours`` (see
    :func:`~juncture.analytics.alerting.window_dropoff`)."""
    assert target.subject is not None
    extra = target.customer or {}
    if "/" not in target.subject:
        raise ValueError("a funnel target needs subject 'journey/step'")
    journey_slug, step_slug = target.subject.split("/", 1)
    journey = catalog_service.get_journey_by_slug(session, slug=journey_slug)
    if journey is None:
        raise ValueError(f"unknown journey '{journey_slug}'")
    steps = sorted(journey.steps, key=lambda s: s.position)
    index = next((i for i, s in enumerate(steps) if s.slug == step_slug), None)
    if index is None or index == 0:
        raise ValueError(f"'{target.subject}' is not a step after the first of its journey")
    prev = steps[index - 1]
    services = [str(s) for s in extra.get("services", [])] or sorted(
        {svc.slug for svc in steps[index].services}
    )
    watched = list(services)
    if index == 1 and not extra.get("services"):
        # The entry step has no drop-off of its own: its services act on the first
        # transition (broken search stops people reaching the cart).
        watched = sorted({*services, *(svc.slug for svc in prev.services)})
    subjects = [f"{journey_slug}/{prev.slug}", target.subject]
    regions: list[str | None]
    if target.filters.get("region"):
        regions = [target.filters["region"]]
    else:
        found = reads.find_series(
            session,
            signal_type="funnel",
            metrics=["reached"],
            subjects=subjects,
            channel=target.filters.get("channel"),
            segment=target.filters.get("segment"),
        )
        named = sorted({ref.region for ref in found if ref.region})
        regions = list(named) if named else [None]
    per_region = not target.filters.get("region") and regions != [None]
    named_regions = tuple(str(r) for r in regions if r is not None)
    if per_region and len(regions) > 1:
        # All regions together as well: a fault spread thin over regions adds up there.
        regions = [*regions, None]
    empty = Sums(np.zeros(grid.n), np.zeros(grid.n))
    out = []
    hi = np.arange(1, grid.n + 1)
    for region in regions:
        filters = dict(target.filters)
        if region is not None:
            filters["region"] = region
        both = _minute_sums(
            session,
            grid,
            signal_type="funnel",
            metric="reached",
            subjects=subjects,
            filters=filters,
            by_subject=True,
        )
        before = both.get(subjects[0], empty).count
        reached = both.get(target.subject, empty).count
        # Sessions at the previous step per minute over a window: the excess of the
        # overlapping windows then adds up to extra drop-offs, each counted once.
        c = np.concatenate([[0.0], np.cumsum(before)])
        ops_regions = named_regions if per_region and region is None else (region,)
        for window in customer_windows(params):
            drop, expected, scale = alerting.window_dropoff(
                before,
                reached,
                window=window,
                baseline_minutes=params.baseline_hours * 60,
                min_sessions=params.min_sessions,
            )
            volume = c[hi] - c[np.maximum(hi - window, 0)]
            name = f"funnel {target.subject} drop-off"
            if per_region:
                name += f" {region}" if region is not None else " all regions"
            if window != params.window_minutes:
                name += f" over {window} min"
            side = alerting.SideSeries(
                name=name,
                timestamps=grid.minutes(),
                values=drop,
                expected=expected,
                scale=scale,
                direction="up",
                volume=volume / window,
                unit="customers",
                region=region,
                journey=journey_slug,
            )
            out.append(
                _Customer(
                    side,
                    services,
                    watched,
                    [journey_slug],
                    target.subject == settings.order_step,
                    region,
                    ops_regions,
                )
            )
    return out


def _customer_sides(
    session: Any,
    grid: Grid,
    long_grid: Grid,
    target: RuleTarget,
    settings: Settings,
    params: CustomerImpactParams,
) -> list[_Customer]:
    assert target.signal_type is not None
    assert target.metric is not None
    extra = target.customer or {}
    region = target.filters.get("region")
    services = [str(s) for s in extra.get("services", [])]
    if target.signal_type == "funnel":
        if not target.subject:
            raise ValueError("a funnel target needs subject 'journey/step'")
        return _funnel_sides(session, long_grid, target, settings, params)
    sums = _minute_sums(
        session,
        grid,
        signal_type=target.signal_type,
        metric=target.metric,
        subjects=[target.subject] if target.subject else None,
        filters=target.filters,
        by_subject=False,
    ).get("all", Sums(np.zeros(grid.n), np.zeros(grid.n)))
    direction: alerting.Direction = "down" if extra.get("direction") == "down" else "up"
    unit = "tickets" if target.signal_type == "ticket" else str(extra.get("unit", ""))
    label = f"{target.signal_type} {target.metric}" + (
        f" {target.subject}" if target.subject else ""
    )
    side = _side(
        label,
        grid,
        _values(target.signal_type, sums),
        direction=direction,
        unit=unit,
        region=region,
    )
    journeys = [str(j) for j in extra.get("journeys", [])]
    return [_Customer(side, services, services, journeys, False, region, (region,))]


def native_step(positions: npt.NDArray[np.int64]) -> int:
    """The reporting interval of a series, in minutes: the median gap between the minutes
    that hold a reading (1 with fewer than two readings). Services scraped every 15-60 s
    give 1; the simulator's default scenario gives 10."""
    if positions.size < 2:
        return 1
    return max(round(float(np.median(np.diff(positions)))), 1)


@dataclass(frozen=True)
class _OpsSide:
    side: alerting.SideSeries
    step: int  # native reporting interval, minutes


def _ops_points(ops_points: int, sides: Sequence[_OpsSide]) -> int:
    """Minute points of the held series that span ``ops_points`` readings in a row: the
    current reading's first minute and every minute of the ``ops_points - 1`` before it
    (readings every ``step`` minutes, the coarsest of ``sides``)."""
    step = max((o.step for o in sides), default=1)
    return (ops_points - 1) * step + 1


def _pool_errors(
    rates: FloatArray, requests: FloatArray | None, pool: int
) -> tuple[FloatArray, FloatArray | None]:
    """Error rate over the last ``pool`` readings (and their requests): errors over requests
    where the requests are known, the mean rate otherwise."""
    mean = _window_sum(np.nan_to_num(rates), pool) / _window_sum(np.isfinite(rates) * 1.0, pool)
    if requests is None:
        return mean, None
    known = np.isfinite(requests)
    req = _window_sum(np.where(known, requests, 0.0), pool)
    errors = _window_sum(np.where(known, np.nan_to_num(rates) * requests, 0.0), pool)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = np.where(req > 0, errors / req, mean)
    return pooled, np.where(req > 0, req, np.nan)


def _window_sum(x: FloatArray, w: int) -> FloatArray:
    c = np.concatenate([[0.0], np.cumsum(x)])
    hi = np.arange(1, x.size + 1)
    out: FloatArray = c[hi] - c[np.maximum(hi - w, 0)]
    return out


def _ops_side(
    name: str,
    grid: Grid,
    sums: Sums,
    requests: Sums | None,
    *,
    metric: str,
    service_slug: str,
    region: str | None,
    error_window_minutes: int = 1,
) -> _OpsSide:
    """An operational series at the minute grain, its baseline over the previous readings and
    the scale floors of :func:`~juncture.analytics.alerting.ops_scale_floor`; each reading
    (and its baseline) holds over the minutes until the next one. The baseline covers
    :data:`OPS_HISTORY` at the series' native reporting interval (:func:`native_step`), and
    a reading is taken as known from the minute it is stamped with (a scraped gauge; a
    bucket stamped with its start would be seen up to one interval early). An error rate
    reported more often than ``error_window_minutes`` is pooled over that many minutes of
    readings: errors over requests, as Prometheus' ``rate(errors[5m]) / rate(requests[5m])``
    (a service with a few requests a minute has no usable per-minute error rate)."""
    mean = sums.mean()
    at = np.flatnonzero(np.isfinite(mean))
    readings = mean[at]
    step = native_step(at)
    # The baseline spans OPS_HISTORY whatever the reporting interval.
    window = max(int(OPS_HISTORY / MINUTE) // step, 1)
    req = None
    if requests is not None:
        req = requests.total[at]
        req = np.where(requests.count[at] > 0, req, np.nan)
    pool = max(error_window_minutes // step, 1)
    if metric == "error_rate" and pool > 1:
        readings, req = _pool_errors(readings, req, pool)
        mean = np.full(grid.n, np.nan)
        mean[at] = readings
    expected_r, scale_r = alerting.trailing_baseline(
        readings, window, min_points=min(OPS_BASELINE_MIN_READINGS, window)
    )
    scale_r = alerting.ops_scale_floor(
        readings,
        expected_r,
        scale_r,
        kind="error_rate" if metric == "error_rate" else "latency",
        window=window,
        requests=req,
    )
    expected = np.full(grid.n, np.nan)
    scale = np.full(grid.n, np.nan)
    expected[at] = expected_r
    scale[at] = scale_r
    hold = max(HOLD_MINUTES, step)
    side = alerting.SideSeries(
        name=name,
        timestamps=grid.minutes(),
        values=_hold(mean, hold),
        expected=_hold(expected, hold),
        scale=_hold(scale, hold),
        direction="up",
        service=service_slug,
        region=region,
    )
    return _OpsSide(side, step)


def _ops_sides(
    session: Any,
    grid: Grid,
    services: Sequence[str],
    region: str | None,
    *,
    error_window_minutes: int = 1,
) -> list[_OpsSide]:
    sides = []
    filters = {"region": region} if region else {}
    requests = _minute_sums(
        session,
        grid,
        signal_type="metric",
        metric="requests",
        subjects=list(services),
        filters=filters,
        by_subject=True,
    )
    for metric in OPS_METRICS:
        sums = _minute_sums(
            session,
            grid,
            signal_type="metric",
            metric=metric,
            subjects=list(services),
            filters=filters,
            by_subject=True,
        )
        for slug in sorted(sums):
            sides.append(
                _ops_side(
                    f"{slug} {metric}" + (f" {region}" if region else ""),
                    grid,
                    sums[slug],
                    requests.get(slug) if metric == "error_rate" else None,
                    metric=metric,
                    service_slug=slug,
                    region=region,
                    error_window_minutes=error_window_minutes,
                )
            )
    return sides


def _iso(at: datetime) -> str:
    return clock.ensure_utc(at).isoformat()


def _impact_evidence(
    finding: alerting.ImpactFinding, customer: _Customer, values: FloatArray
) -> dict[str, Any]:
    ops = [
        {
            "series": ev.name,
            "service": ev.service,
            "region": ev.region,
            "onset": _iso(ev.onset),
            "lead_minutes": _round(ev.lead_minutes),
            "correlation": _round(ev.correlation),
            "correlation_lag_minutes": _round(ev.correlation_lag_minutes),
            "p_value": _round(ev.p_value),
            "peak_z": _round(ev.peak_z),
        }
        for ev in finding.ops
    ]
    correlations = [ev.correlation for ev in finding.ops if math.isfinite(ev.correlation)]
    effect: dict[str, Any] = {"excess": _round(finding.excess), "unit": finding.unit}
    if finding.unit == "customers":
        effect["customers"] = _round(finding.excess)
        if customer.order_step:
            effect["orders"] = _round(finding.excess)
    if finding.unit == "tickets":
        effect["tickets"] = _round(finding.excess)
    return {
        "component": "customer_impact",
        "customer": {
            "series": finding.customer,
            "journey": finding.journey,
            "onset": _iso(finding.start),
            "opened_at": _iso(finding.opened_at),
            "last_abnormal": _iso(finding.end),
            "peak_z": _round(finding.peak_z),
            "values": _tail(values),
        },
        "ops": ops,
        "ops_onset": _iso(finding.ops_start),
        "lag_minutes": _round((finding.start - finding.ops_start).total_seconds() / 60),
        "correlation": _round(max(correlations)) if correlations else None,
        "effect": effect,
        "services": list(finding.services),
    }


def _step_excess(
    firing: Sequence[tuple[alerting.ImpactFinding, _Customer]],
) -> tuple[float, dict[str, float]]:
    """The excess of a step's ongoing findings together, and per region.

    A region's windows (short and slow) see the same customers: the region counts its
    largest. The regions add up; the all-regions series sees them all again, so the total
    is the larger of the regions' sum and its excess."""
    by_region: dict[str, float] = {}
    whole = 0.0
    for f, c in firing:
        if c.region is not None:
            by_region[c.region] = max(by_region.get(c.region, -math.inf), f.excess)
        else:
            whole = max(whole, f.excess)
    total = max(sum(by_region.values()), whole) if by_region else whole
    return total, by_region


def _impact_big_enough(
    firing: Sequence[tuple[alerting.ImpactFinding, _Customer]], params: CustomerImpactParams
) -> bool:
    """Whether the ongoing findings of one step (per region, all regions, each window) are
    big enough together (:func:`_step_excess`), and the best lagged correlation of any of
    them counts."""
    findings = [f for f, _c in firing]
    customer = firing[0][1]
    unit = findings[0].unit
    excess, _by_region = _step_excess(firing)
    checks: list[bool] = []
    if unit == "customers" and params.min_customers is not None:
        checks.append(excess >= params.min_customers)
    if unit == "customers" and customer.order_step and params.min_orders is not None:
        checks.append(excess >= params.min_orders)
    if unit == "tickets" and params.min_tickets is not None:
        checks.append(excess >= params.min_tickets)
    correlations = [
        ev.correlation for f in findings for ev in f.ops if math.isfinite(ev.correlation)
    ]
    if correlations:
        checks.append(max(correlations) >= params.min_correlation)
    return all(checks)


def _impact_verdict(
    session: Any, rule: AlertRule, target: RuleTarget, grid: Grid, settings: Settings
) -> Verdict:
    """Customer impact: fires while a customer series (any region's, per region without a
    region filter) has an ongoing finding big enough."""
    params = CustomerImpactParams.model_validate(rule.params)
    if target.kpi is not None:
        raise ValueError("a customer-impact rule watches a metric, funnel or ticket series")
    history = timedelta(hours=params.baseline_hours, minutes=max(customer_windows(params)))
    long_grid = Grid(
        grid.start_ms - int(history / MINUTE) * MINUTE_MS, grid.n + int(history / MINUTE)
    )
    ops_history = int(OPS_HISTORY / MINUTE)
    ops_grid = Grid(grid.start_ms - ops_history * MINUTE_MS, grid.n + ops_history)
    impact = alerting.ImpactParams(
        k_customer=params.k_customer,
        n_customer=params.customer_points,
        m_customer=params.customer_of_points,
        k_ops=params.k_ops,
        n_ops=params.ops_points,
        m_ops=params.ops_points,
        clear_k=min(1.0, params.k_customer),
        lead=params.max_lag_minutes,
        quiet_end=QUIET_END_MINUTES,
    )
    customers = _customer_sides(session, grid, long_grid, target, settings, params)
    ops_cache: dict[tuple[tuple[str, ...], str | None], list[_OpsSide]] = {}
    firing: list[tuple[alerting.ImpactFinding, _Customer]] = []
    for customer in customers:
        # A per-region series is joined to its region's operational series, the all-regions
        # one to those of every region (a fault in one region moves that region's latency,
        # not an average over regions).
        ops: list[_OpsSide] = []
        for region in customer.ops_regions:
            key = (tuple(customer.watched), region)
            if key not in ops_cache:
                ops_cache[key] = _ops_sides(
                    session,
                    ops_grid,
                    customer.watched,
                    region,
                    error_window_minutes=params.error_window_minutes,
                )
            ops.extend(ops_cache[key])
        # ops_points counts readings: minutes of the held series at the native grain.
        points = _ops_points(params.ops_points, ops)
        findings = alerting.customer_impact(
            customer.side,
            [o.side for o in ops],
            params=replace(impact, n_ops=points, m_ops=points),
        )
        last = findings[-1] if findings else None
        now_minute = grid.at(grid.n - 1)
        if last is not None and last.ongoing and now_minute - last.end <= STALE_IMPACT:
            firing.append((last, customer))
    if firing and not _impact_big_enough(firing, params):
        firing = []
    services = sorted({s for c in customers for s in c.services})
    journeys = sorted({j for c in customers for j in c.journeys})
    if not firing:
        return Verdict(
            group="all",
            firing=False,
            title=_group_label(rule, "all"),
            evidence={"component": "customer_impact"},
            services=services,
            journeys=journeys,
            customer_facing=True,
        )
    last, customer = max(firing, key=lambda fc: fc[0].peak_z)
    values = np.asarray(customer.side.values, dtype=np.float64)
    evidence = _impact_evidence(last, customer, values)
    evidence["region"] = customer.region
    evidence["regions"] = sorted(
        {c.region for _f, c in firing if c.region} | {r for f, _c in firing for r in f.regions}
    )
    if len(firing) > 1:
        # The effect of the step: every region's ongoing finding together.
        total, by_region = _step_excess(firing)
        for field_name in ("excess", "customers", "orders", "tickets"):
            if field_name in evidence["effect"]:
                evidence["effect"][field_name] = _round(total)
        if by_region:
            evidence["effect"]["by_region"] = {r: _round(x) for r, x in by_region.items()}
        last = replace(last, excess=total)
    lag = evidence["lag_minutes"]
    summary = (
        f"{last.customer} rose (peak {last.peak_z:.1f}σ, {last.excess:.0f} extra "
        f"{last.unit}) {lag:g} min after " + ", ".join(ev.name for ev in last.ops) + " moved"
    )
    return Verdict(
        group="all",
        firing=True,
        title=_group_label(rule, "all"),
        summary=summary,
        evidence=evidence,
        services=sorted(set(services) | {s for f, _c in firing for s in f.services}),
        journeys=journeys,
        customer_facing=True,
    )


# ---------------------------------------------------------------- per rule


def _group_label(rule: AlertRule, group: str) -> str:
    return rule.name if group == "all" else f"{rule.name} ({group})"


def _verdicts(
    session: Any,
    rule: AlertRule,
    *,
    now: datetime,
    lookback: timedelta,
    settings: Settings,
) -> list[Verdict]:
    target = RuleTarget.model_validate(rule.target)
    end = _floor_minute(now)
    start = end - max(lookback, MINUTE)
    grid = Grid(_ms(start), int((end - start) / MINUTE))

    if rule.kind == "customer_impact":
        return [_impact_verdict(session, rule, target, grid, settings)]

    if target.kpi is not None:
        if rule.kind == "burn_rate":
            raise ValueError("a burn-rate rule watches a metric series, not a KPI")
        _buckets, values = _kpi_values(session, target, now, max(lookback, MINUTE), settings)
        series = {"all": values}
        step_minutes = 60
        sums_by_group: dict[str, Sums] = {}
    else:
        assert target.signal_type is not None
        assert target.metric is not None
        by_subject = (
            target.subject is None and rule.group_by == "service" and target.signal_type == "metric"
        )
        sums_by_group = _minute_sums(
            session,
            grid,
            signal_type=target.signal_type,
            metric=target.metric,
            subjects=[target.subject] if target.subject else None,
            filters=target.filters,
            by_subject=by_subject,
        )
        series = {g: _values(target.signal_type, s) for g, s in sums_by_group.items()}
        step_minutes = 1

    out = []
    for group, values in sorted(series.items()):
        if rule.kind == "threshold":
            firing, evidence = _threshold(
                values, ThresholdParams.model_validate(rule.params), step_minutes
            )
        elif rule.kind == "baseline":
            firing, evidence = _baseline(
                values, BaselineParams.model_validate(rule.params), step_minutes
            )
        elif rule.kind == "burn_rate":
            assert target.metric is not None
            firing, evidence = _burn(
                sums_by_group[group], target.metric, BurnRateParams.model_validate(rule.params)
            )
        else:
            raise ValueError(f"unknown rule kind {rule.kind!r}")
        name = target.kpi or f"{target.metric}"
        subject = target.subject or (group if group != "all" else "")
        evidence = {"series": f"{name} {subject}".strip(), **evidence}
        services: list[str] = []
        journeys: list[str] = []
        if target.signal_type == "metric" and subject:
            services = [subject]
        elif target.signal_type == "funnel" and subject:
            journeys = [subject.split("/", 1)[0]]
        if target.filters.get("service"):
            services = [target.filters["service"]]
        if target.filters.get("journey"):
            journeys = [target.filters["journey"]]
        summary = ""
        if firing:
            summary = f"{evidence['series']} is {evidence.get('value')}"
            if rule.kind == "threshold":
                summary += f" ({evidence['op']} {evidence['threshold']})"
            elif rule.kind == "baseline":
                summary += f", expected about {evidence.get('baseline')}"
            elif rule.kind == "burn_rate":
                summary = (
                    f"{evidence['series']} burns the error budget {evidence.get('long_burn')}x "
                    f"over {evidence.get('long_minutes')} min"
                )
        out.append(
            Verdict(
                group=group,
                firing=firing,
                title=_group_label(rule, group),
                summary=summary,
                evidence=evidence,
                services=services,
                journeys=journeys,
                customer_facing=target.signal_type in ("funnel", "ticket", "survey", "review"),
            )
        )
    return out


def dedup_key(rule_id: int, group: str) -> str:
    """One open alert per rule and group (a service, or ``all``)."""
    return f"rule:{rule_id}" if group == "all" else f"rule:{rule_id}:{group}"[:200]


def _apply(
    session: Any,
    rule: AlertRule,
    verdicts: Iterable[Verdict],
    *,
    now: datetime,
    notify: bool,
    summary: Summary,
) -> None:
    firing_keys: set[str] = set()
    for verdict in verdicts:
        if not verdict.firing:
            continue
        key = dedup_key(rule.id, verdict.group)
        firing_keys.add(key)
        summary.firing += 1
        result = service.raise_alert_ex(
            session,
            rule_id=rule.id,
            dedup_key=key,
            title=verdict.title,
            summary=verdict.summary,
            severity=rule.severity,
            evidence={**verdict.evidence, "evaluated_at": _iso(now)},
            at=now,
            customer_facing=verdict.customer_facing,
            services=verdict.services,
            journeys=verdict.journeys,
        )
        setattr(summary, result.action, getattr(summary, result.action) + 1)
        if result.notify and notify and result.alert.state == "firing":
            # (An acknowledged alert whose severity rises stays with its owner.)
            summary.to_notify += 1
            service.set_escalation(
                session, alert_id=result.alert.id, policy=None, sent_steps=0, next_at=now
            )
        elif result.action == "reopened":
            # Silenced (or catching up): no escalation, and none to resume later.
            service.set_escalation(
                session, alert_id=result.alert.id, policy=None, sent_steps=0, next_at=None
            )
    open_alerts, _ = service.list_alerts(session, rule_id=rule.id, state="open", limit=1000)
    for alert in open_alerts:
        if alert.dedup_key in firing_keys:
            continue
        cleared = service.clear_alert(session, dedup_key=alert.dedup_key, at=now)
        if cleared is not None and cleared.state == "resolved":
            summary.resolved += 1
        elif cleared is not None:
            summary.clearing += 1


def evaluate_rules(
    session: Any,
    *,
    now: datetime | None = None,
    settings: Settings | None = None,
    lookback: timedelta = timedelta(hours=6),
    notify: bool = True,
) -> dict[str, Any]:
    """Evaluate every enabled rule at ``now``; raise or clear their alerts.

    A rule that cannot be evaluated (a bad target, a missing journey) is skipped and named
    in ``errors``; the others still run. With ``notify=False`` (catch-up over history) no
    escalation is started.
    """
    now = clock.ensure_utc(now or clock.now())
    settings = settings or Settings()
    summary = Summary()
    for rule in service.list_rules(session, enabled=True):
        summary.rules += 1
        try:
            with session.begin_nested():
                verdicts = _verdicts(session, rule, now=now, lookback=lookback, settings=settings)
                _apply(session, rule, verdicts, now=now, notify=notify, summary=summary)
        except Exception as exc:
            logger.warning("alert rule %s (%s) failed: %s", rule.id, rule.name, exc)
            summary.errors.append(f"{rule.name}: {exc}")
    return summary.as_dict()


def catch_up(
    session: Any,
    *,
    start: datetime,
    end: datetime,
    step: timedelta = timedelta(minutes=5),
    settings: Settings | None = None,
    lookback: timedelta = timedelta(hours=6),
    after_tick: Callable[[Any, datetime], Any] | None = None,
) -> dict[str, Any]:
    """Walk ``[start, end)`` in ``step``s as if the engine had been running: alerts open,
    join and resolve with their history at the times they would have. Nobody is notified.

    ``after_tick(session, at)`` runs after each step (the demo's simulated on-call staff
    acknowledge alerts there)."""
    if step <= timedelta(0):
        raise ValueError("step must be positive")
    settings = settings or Settings()
    at = clock.ensure_utc(start)
    end = clock.ensure_utc(end)
    totals: dict[str, Any] = {"ticks": 0, "opened": 0, "reopened": 0, "resolved": 0, "errors": []}
    while at < end:
        with clock.use_clock(clock.FixedClock(at)):
            result = evaluate_rules(
                session, now=at, settings=settings, lookback=lookback, notify=False
            )
            if after_tick is not None:
                after_tick(session, at)
        totals["ticks"] += 1
        for key in ("opened", "reopened", "resolved"):
            totals[key] += result[key]
        for error in result["errors"]:
            if error not in totals["errors"] and len(totals["errors"]) < 20:
                totals["errors"].append(error)
        at += step
    return totals
