"""KPI logic for other rooms and the edges: values, series, baselines, comparisons, consistency.

Every function takes a half-open UTC window ``[start, end)`` read at hour resolution (rollups
are hourly and daily) and optional slice filters (``service``, ``journey``, ``region``,
``channel``, ``team``, ``segment``, ``location``, and ``step`` for drop-off). See
``docs/kpis.md`` for each definition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pandas as pd
from sqlalchemy.orm import Session

from juncture.access import service as access_service
from juncture.analytics import kpimath
from juncture.catalog import service as catalog_service
from juncture.config import Settings, get_settings
from juncture.kit import clock
from juncture.kit.errors import Conflict, Invalid, NotFound
from juncture.kpis import compute as c
from juncture.kpis.catalogue import CATALOGUE, SLICES, KpiDef
from juncture.signals import service as signals_service

Result = c.Result
EXTRA_FILTERS = ("step", "priority", "category", "severity")

# ---------------------------------------------------------------- context


_CONTEXTS: dict[tuple[int, str, str, str], c.Context] = {}


def context(session: Session, settings: Settings | None = None) -> c.Context:
    """Catalog facts and settings the computations need.

    Teams, services and journeys are audited objects, so the newest audit event id says
    whether any of them changed: the context is rebuilt only then (one indexed query
    otherwise)."""
    settings = settings or get_settings()
    key = (
        access_service.latest_audit_id(session),
        str(access_service.latest_change(session)),
        str(session.get_bind().engine.url),
        orjson.dumps(
            [settings.business_hours, settings.holidays, settings.order_step, settings.slo_targets],
            option=orjson.OPT_SORT_KEYS,
        ).decode(),
    )
    cached = _CONTEXTS.get(key)
    if cached is None:
        if len(_CONTEXTS) > 64:
            _CONTEXTS.clear()
        cached = _CONTEXTS[key] = _build_context(session, settings)
    return cached


def _build_context(session: Session, settings: Settings) -> c.Context:
    default_hours = settings.business_hours.get("*", {"mon-fri": "08:00-18:00"})
    calendars = {}
    for team in access_service.list_teams(session):
        hours = settings.business_hours.get(team.slug, default_hours)
        holidays = [*settings.holidays.get("*", []), *settings.holidays.get(team.slug, [])]
        calendars[team.slug] = c.parse_calendar(team.timezone or "UTC", hours, holidays)
    default = c.parse_calendar("UTC", default_hours, settings.holidays.get("*", []))
    services = catalog_service.list_services(session)
    targets = {svc.slug: settings.slo_targets.get(str(svc.tier), 99.5) / 100.0 for svc in services}
    journey_steps: dict[str, list[str]] = {}
    service_journeys: dict[str, list[str]] = {}
    slug_of_service = {s.id: s.slug for s in services}
    for journey in catalog_service.list_journeys(session):
        ordered = sorted(journey.steps, key=lambda st: st.position)
        journey_steps[journey.slug] = [st.slug for st in ordered]
        for st in ordered:
            for sid in st.service_ids:
                service_journeys.setdefault(slug_of_service.get(sid, ""), []).append(
                    f"{journey.slug}/{st.slug}"
                )
    return c.Context(
        order_step=settings.order_step,
        team_calendars=calendars,
        default_calendar=default,
        service_targets=targets,
        journey_steps=journey_steps,
        service_journeys=service_journeys,
    )


# ---------------------------------------------------------------- reducers


def _pct(p: kpimath.Proportion) -> Result:
    return Result(c._f(p.value * 100), c._f(p.low * 100), c._f(p.high * 100), p.n)


def _prop(stat: Any) -> Result:
    if stat.n <= 0:
        return c.EMPTY
    n = round(stat.n)
    s = round(min(max(stat.successes, 0.0), stat.n))
    return _pct(kpimath.proportion(s, n))


def _hist_counts(stat: c.Hist) -> np.ndarray:
    return stat.counts.astype(np.int64)


def _csat(stat: c.Hist) -> Result:
    if stat.n == 0:
        return c.EMPTY
    r = kpimath.csat(_hist_counts(stat))
    return Result(c._f(r.value * 100), c._f(r.low * 100), c._f(r.high * 100), r.n)


def _csat_mean(stat: c.Hist) -> Result:
    if stat.n == 0:
        return c.EMPTY
    r = kpimath.csat(_hist_counts(stat))
    return Result(c._f(r.mean), c._f(r.mean_low), c._f(r.mean_high), r.n)


def _nps(stat: c.Hist) -> Result:
    if stat.n == 0:
        return c.EMPTY
    r = kpimath.nps(_hist_counts(stat))
    return Result(c._f(r.value), c._f(r.low), c._f(r.high), r.n)


def _ces(stat: c.Hist) -> Result:
    if stat.n == 0:
        return c.EMPTY
    r = kpimath.ces(_hist_counts(stat))
    return Result(c._f(r.mean), c._f(r.mean_low), c._f(r.mean_high), r.n)


def _ces_easy(stat: c.Hist) -> Result:
    if stat.n == 0:
        return c.EMPTY
    r = kpimath.ces(_hist_counts(stat))
    return Result(c._f(r.value * 100), c._f(r.low * 100), c._f(r.high * 100), r.n)


def _negative(stat: c.Hist) -> Result:
    if stat.n == 0:
        return c.EMPTY
    counts = _hist_counts(stat)
    return _pct(kpimath.proportion(int(counts[:2].sum()), int(counts.sum())))


def _median(stat: c.Values) -> Result:
    s = kpimath.duration_summary(stat.array())
    return Result(c._f(s.median), None, None, s.n) if s.n else c.EMPTY


def _p90(stat: c.Values) -> Result:
    s = kpimath.duration_summary(stat.array())
    return Result(c._f(s.p90), None, None, s.n) if s.n else c.EMPTY


def _mean_values(stat: c.Values) -> Result:
    s = kpimath.duration_summary(stat.array())
    return Result(c._f(s.mean), None, None, s.n) if s.n else c.EMPTY


def _count(stat: c.Mom) -> Result:
    return Result(float(stat.n), None, None, int(stat.n))


def _total(stat: c.Mom) -> Result:
    return Result(float(stat.total), None, None, int(stat.n)) if stat.n else c.EMPTY


def _incidents(measure: str) -> Callable[[Session, c.Query, c.Context], list[c.Cell]]:
    def fetch(session: Session, q: c.Query, ctx: c.Context) -> list[c.Cell]:
        return c.incident_cells(session, q, measure=measure)

    return fetch


def _per_1k(stat: c.Ratio) -> Result:
    if stat.n <= 0:
        return Result(None, None, None, 0)
    return Result(stat.successes / stat.n * 1000.0, None, None, int(stat.n))


def _mean(scale: float) -> Callable[[c.Mom], Result]:
    def reduce(stat: c.Mom) -> Result:
        if stat.n <= 0:
            return c.EMPTY
        return Result(stat.total / stat.n * scale, None, None, int(stat.n))

    return reduce


def _budget(stat: c.Budget) -> Result:
    worst: float | None = None
    n = 0
    for count, total, target in stat.per.values():
        if count <= 0 or target >= 1.0:
            continue
        availability = total / count
        remaining = 1.0 - (1.0 - availability) / (1.0 - target)
        worst = remaining if worst is None else min(worst, remaining)
        n += int(count)
    return Result(None if worst is None else worst * 100.0, None, None, n)


# ---------------------------------------------------------------- fetchers


_SURVEY_SPEC = ("region", "channel", "segment", "location")


def _survey(kind: str, low: int, high: int) -> Callable[..., list[c.Cell]]:
    spec = c.RollupSpec("survey", (kind,), None, _SURVEY_SPEC)

    def fetch(session: Session, q: c.Query, ctx: c.Context) -> list[c.Cell]:
        return c.rollup_hists(session, spec, q, ctx, low=low, high=high)

    return fetch


def _reviews(session: Session, q: c.Query, ctx: c.Context) -> list[c.Cell]:
    spec = c.RollupSpec("review", ("review",), None, ("region", "location"))
    return c.rollup_hists(session, spec, q, ctx, low=1, high=5)


def _metric(name: str) -> Callable[..., list[c.Cell]]:
    spec = c.RollupSpec("metric", (name,), "service", ("region", "location"))

    def fetch(session: Session, q: c.Query, ctx: c.Context) -> list[c.Cell]:
        return [
            (label, c.bucket_of(b, q.bucket), c.Mom(n, s, ss))
            for label, b, n, s, ss in c.rollup_sums(session, spec, q, ctx)
        ]

    return fetch


_AVAILABILITY = c.RollupSpec("metric", ("availability",), "service", ("region", "location"))


def _slo_attainment(session: Session, q: c.Query, ctx: c.Context) -> list[c.Cell]:
    """Hourly availability per service (regions merged) against the service's target."""
    cells: list[c.Cell] = []
    for label, b, n, s, _ in c.rollup_sums(
        session, _AVAILABILITY, q, ctx, by_subject=True, hourly=True
    ):
        group, subject = label.split("\x00", 1)
        if n <= 0:
            continue
        target = ctx.service_targets.get(subject, 0.995)
        met = 1.0 if s / n >= target - 1e-12 else 0.0
        cells.append((group, c.bucket_of(b, q.bucket), c.Ratio(met, 1.0)))
    return _merge_hourly_services(cells)


def _merge_hourly_services(cells: list[c.Cell]) -> list[c.Cell]:
    return [
        (label, b, stat)
        for (label, b), stat in c.merge_cells(cells, by_label=True, by_bucket=True).items()
    ]


def _error_budget(session: Session, q: c.Query, ctx: c.Context) -> list[c.Cell]:
    cells: list[c.Cell] = []
    for label, b, n, s, _ in c.rollup_sums(session, _AVAILABILITY, q, ctx, by_subject=True):
        group, subject = label.split("\x00", 1)
        target = ctx.service_targets.get(subject, 0.995)
        cells.append((group, c.bucket_of(b, q.bucket), c.Budget({subject: (n, s, target)})))
    return cells


def _ticket_volume(session: Session, q: c.Query, ctx: c.Context) -> list[c.Cell]:
    return [(label, b, c.Mom(n, n, n)) for label, b, n in c.ticket_counts(session, q)]


def _per_1k_orders(session: Session, q: c.Query, ctx: c.Context) -> list[c.Cell]:
    cells: list[c.Cell] = [
        (label, b, c.Ratio(n, 0.0)) for label, b, n in c.ticket_counts(session, q)
    ]
    funnel = c.RollupSpec(
        "funnel", ("reached",), "journey", ("region", "channel", "segment", "location")
    )
    order_q = c.Query(
        q.start_ms, q.end_ms, q.bucket, q.group_by, {**q.filters, "step": ctx.order_step}
    )
    cells.extend(
        (label, c.bucket_of(b, q.bucket), c.Ratio(0.0, n))
        for label, b, n, _, _ in c.rollup_sums(session, funnel, order_q, ctx)
    )
    return cells


def _change_failures(session: Session, q: c.Query, ctx: c.Context) -> list[c.Cell]:
    spec = c.RollupSpec("deploy", ("deploy",), "service", ("region", "location"))
    failed_ids = {
        sid
        for sid, dims in c.series_dims(session, spec).items()
        if dims.get("status") in ("failed", "rolled_back")
    }
    cells: list[c.Cell] = []
    rows = c.rollup_sums(
        session, spec, q, ctx, tag=lambda ref: "failed" if ref.id in failed_ids else "ok"
    )
    for label, b, n, _, _ in rows:
        group, outcome = label.rsplit("\x00", 1)
        failed = n if outcome == "failed" else 0.0
        cells.append((group, c.bucket_of(b, q.bucket), c.Ratio(failed, n)))
    return cells


_FUNNEL = c.RollupSpec(
    "funnel", ("reached",), "journey", ("region", "channel", "segment", "location")
)


def _journey_of(q: c.Query, ctx: c.Context) -> str:
    journey = q.filters.get("journey") or ctx.order_step.split("/", 1)[0]
    if journey not in ctx.journey_steps or not ctx.journey_steps[journey]:
        raise NotFound(f"journey '{journey}' does not exist or has no steps")
    return journey


def _funnel_pairs(
    session: Session, q: c.Query, ctx: c.Context, pairs: Mapping[str, tuple[str, str]]
) -> list[c.Cell]:
    """Ratio cells from (numerator step, denominator step) pairs of sessions reaching steps.

    ``pairs`` maps a journey to its (numerator, denominator) subjects. Grouped by journey,
    each journey's cells use its own pair; otherwise every pair adds to the same cells. Only
    the series of those steps are read."""
    filters = {k: v for k, v in q.filters.items() if k not in ("journey", "step", "service")}
    subjects = sorted({s for pair in pairs.values() for s in pair})
    fq = c.Query(q.start_ms, q.end_ms, q.bucket, q.group_by, filters)
    rows = c.rollup_sums(session, _FUNNEL, fq, ctx, by_subject=True, subjects=subjects)
    counts: dict[tuple[str, int | None, str], float] = {}
    for label, bucket_ms, n, _, _ in rows:
        group, subject = label.split("\x00", 1)
        key = (group, c.bucket_of(bucket_ms, q.bucket), subject)
        counts[key] = counts.get(key, 0.0) + n
    groups = {(g, b) for g, b, _ in counts}
    cells: list[c.Cell] = []
    for g, b in groups:
        chosen = [pairs[g]] if q.group_by == "journey" and g in pairs else list(pairs.values())
        for num, den in chosen:
            cells.append(
                (g, b, c.Ratio(counts.get((g, b, num), 0.0), counts.get((g, b, den), 0.0)))
            )
    return cells


def _conversion(session: Session, q: c.Query, ctx: c.Context) -> list[c.Cell]:
    journeys = list(ctx.journey_steps) if q.group_by == "journey" else [_journey_of(q, ctx)]
    pairs = {
        j: (f"{j}/{ctx.journey_steps[j][-1]}", f"{j}/{ctx.journey_steps[j][0]}")
        for j in journeys
        if ctx.journey_steps.get(j)
    }
    return _funnel_pairs(session, q, ctx, pairs)


def _dropoff(session: Session, q: c.Query, ctx: c.Context) -> list[c.Cell]:
    step = q.filters.get("step")
    if step:
        journey, _, slug = step.partition("/")
        steps = ctx.journey_steps.get(journey)
        if not steps or slug not in steps:
            raise NotFound(f"journey step '{step}' does not exist")
        i = steps.index(slug)
        if i == 0:
            raise Invalid("the first step has no drop-off before it", code="first_step")
        reached, before = step, f"{journey}/{steps[i - 1]}"
    else:
        journey = _journey_of(q, ctx)
        steps = ctx.journey_steps[journey]
        reached, before = f"{journey}/{steps[-1]}", f"{journey}/{steps[0]}"
    cells = _funnel_pairs(session, q, ctx, {"x": (reached, before)})
    # drop-off: those who reached the step before but not this one
    return [
        (g, b, c.Ratio(max(s.n - s.successes, 0.0), s.n))
        for g, b, s in cells
        if isinstance(s, c.Ratio)
    ]


def _tickets(
    rule: Callable[[list[Any]], tuple[np.ndarray, np.ndarray]], *cols: Any
) -> Callable[..., list[c.Cell]]:
    def fetch(session: Session, q: c.Query, ctx: c.Context) -> list[c.Cell]:
        return c.ticket_ratio_cells(session, q, list(cols), rule)

    return fetch


def _resolved(rows: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    ok = np.array([r[1] in c.RESOLVED for r in rows], dtype=bool)
    return ok, np.ones(len(rows), dtype=bool)


def _fcr(rows: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    resolved = np.array([r[1] in c.RESOLVED for r in rows], dtype=bool)
    first = np.array(
        [(r[2] or 0) <= 1 and (r[3] or 0) == 0 and (r[4] or 0) == 0 for r in rows], dtype=bool
    )
    return resolved & first, resolved


def _reopened(rows: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    # counted: resolved at some point (a resolution time), success: reopened at least once
    ever = np.array([r[1] is not None for r in rows], dtype=bool)
    reopened = np.array([(r[2] or 0) > 0 for r in rows], dtype=bool)
    return ever & reopened, ever


def _handoff(rows: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([(r[1] or 0) > 0 for r in rows], dtype=bool), np.ones(len(rows), dtype=bool)


@dataclass(frozen=True)
class Impl:
    fetch: Callable[[Session, c.Query, c.Context], list[c.Cell]]
    reduce: Callable[[Any], Result]


IMPLS: dict[str, Impl] = {
    "csat": Impl(_survey("csat", 1, 5), _csat),
    "csat_mean": Impl(_survey("csat", 1, 5), _csat_mean),
    "nps": Impl(_survey("nps", 0, 10), _nps),
    "ces": Impl(_survey("ces", 1, 7), _ces),
    "ces_easy": Impl(_survey("ces", 1, 7), _ces_easy),
    "frt_median": Impl(c.frt_cells, _median),
    "frt_p90": Impl(c.frt_cells, _p90),
    "ttr_median": Impl(lambda s, q, ctx: c.ttr_cells(s, q), _median),
    "resolution_rate": Impl(_tickets(_resolved, "status"), _prop),
    "fcr": Impl(
        _tickets(_fcr, "status", "reply_count", "reassign_count", "reopen_count"),
        _prop,
    ),
    "reopen_rate": Impl(_tickets(_reopened, "resolved_ms", "reopen_count"), _prop),
    "repeat_contact_rate": Impl(lambda s, q, ctx: c.repeat_cells(s, q), _prop),
    "escalation_rate": Impl(c.escalation_cells, _prop),
    "handoff_rate": Impl(_tickets(_handoff, "reassign_count"), _prop),
    "ticket_volume": Impl(_ticket_volume, _count),
    "tickets_per_1k_orders": Impl(_per_1k_orders, _per_1k),
    "negative_sentiment": Impl(_reviews, _negative),
    "availability": Impl(_metric("availability"), _mean(100.0)),
    "slo_attainment": Impl(_slo_attainment, _prop),
    "error_budget_remaining": Impl(_error_budget, _budget),
    "latency_p95": Impl(_metric("latency_p95_ms"), _mean(1.0)),
    "error_rate": Impl(_metric("error_rate"), _mean(100.0)),
    "change_failure_rate": Impl(_change_failures, _prop),
    "mtta": Impl(lambda s, q, ctx: c.response_cells(s, q, until="ack"), _mean_values),
    "mttr": Impl(lambda s, q, ctx: c.response_cells(s, q, until="resolve"), _mean_values),
    "incidents": Impl(_incidents("count"), _count),
    "incident_mtta": Impl(_incidents("ack"), _mean_values),
    "incident_mttr": Impl(_incidents("resolve"), _mean_values),
    "customer_minutes_lost": Impl(_incidents("minutes_lost"), _total),
    "conversion": Impl(_conversion, _prop),
    "dropoff": Impl(_dropoff, _prop),
}


# ---------------------------------------------------------------- public functions


def get_kpi_or_raise(kpi: str) -> KpiDef:
    definition = CATALOGUE.get(kpi)
    if definition is None:
        raise NotFound(f"unknown KPI '{kpi}'; GET /api/v1/kpis lists them", code="unknown_kpi")
    if not definition.available:
        raise Conflict(
            f"{definition.name} is not available yet: {definition.unavailable_reason}",
            code="kpi_unavailable",
        )
    return definition


def _query(
    definition: KpiDef,
    start: datetime,
    end: datetime,
    bucket: c.Bucket | None,
    group_by: str | None,
    filters: Mapping[str, str] | None,
) -> c.Query:
    if start.tzinfo is None or end.tzinfo is None:
        raise Invalid("'from' and 'to' need a time zone (e.g. Z)", code="naive_time")
    start_ms = c.to_ms(start) // c.HOUR_MS * c.HOUR_MS
    end_ms = -(-c.to_ms(end) // c.HOUR_MS) * c.HOUR_MS
    if end_ms <= start_ms:
        raise Invalid("'to' must be after 'from'", code="bad_range")
    if bucket == "hour" and end_ms - start_ms > 93 * c.DAY_MS:
        raise Invalid(
            "hourly buckets cover at most 93 days; use day or week", code="range_too_long"
        )
    clean = {k: v for k, v in (filters or {}).items() if v not in (None, "")}
    for name in clean:
        if name not in definition.slices and name not in EXTRA_FILTERS:
            raise Invalid(
                f"{definition.name} cannot be sliced by '{name}'; it supports "
                f"{', '.join(definition.slices) or 'no slices'}",
                code="bad_filter",
            )
    if group_by is not None and group_by not in definition.slices and group_by not in EXTRA_FILTERS:
        raise Invalid(
            f"{definition.name} cannot be grouped by '{group_by}'; it supports "
            f"{', '.join(definition.slices) or 'no slices'}",
            code="bad_group_by",
        )
    return c.Query(start_ms, end_ms, bucket, group_by, clean)


def kpi_value(
    session: Session,
    *,
    kpi: str,
    start: datetime,
    end: datetime,
    filters: Mapping[str, str] | None = None,
    settings: Settings | None = None,
    ctx: c.Context | None = None,
) -> Result:
    """One KPI over [start, end) with its 95% interval where it has one."""
    definition = get_kpi_or_raise(kpi)
    q = _query(definition, start, end, None, None, filters)
    impl = IMPLS[kpi]
    ctx = ctx or context(session, settings)
    merged = c.merge_cells(impl.fetch(session, q, ctx), by_label=False, by_bucket=False)
    stat = merged.get(("all", None))
    return c.EMPTY if stat is None else impl.reduce(stat)


@dataclass(frozen=True)
class Point:
    bucket: datetime
    value: float | None
    low: float | None
    high: float | None
    n: int
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None


def kpi_series(
    session: Session,
    *,
    kpi: str,
    start: datetime,
    end: datetime,
    bucket: c.Bucket = "day",
    group_by: str | None = None,
    filters: Mapping[str, str] | None = None,
    baseline: bool = False,
    settings: Settings | None = None,
    ctx: c.Context | None = None,
) -> dict[str, list[Point]]:
    """The KPI per bucket (every bucket of the window, empty ones with ``value=None``), per group.

    With ``baseline=True`` each point also carries the seasonal expected value and band, built
    from the weeks before each bucket only (see ``kpimath.seasonal_baseline``)."""
    if bucket not in ("hour", "day", "week"):
        raise Invalid("bucket must be hour, day or week", code="bad_bucket")
    definition = get_kpi_or_raise(kpi)
    q = _query(definition, start, end, bucket, group_by, filters)
    impl = IMPLS[kpi]
    ctx = ctx or context(session, settings)
    history_ms = 10 * c.WEEK_MS if baseline and bucket != "week" else 0
    fetch_q = c.Query(q.start_ms - history_ms, q.end_ms, bucket, group_by, q.filters)
    merged = c.merge_cells(impl.fetch(session, fetch_q, ctx), by_label=True, by_bucket=True)
    labels = sorted({label for label, _ in merged}) or (["all"] if group_by is None else [])
    step = {"hour": c.HOUR_MS, "day": c.DAY_MS, "week": c.WEEK_MS}[bucket]
    first = c.bucket_of(fetch_q.start_ms, bucket) or 0
    keys = list(range(first, q.end_ms, step))
    out: dict[str, list[Point]] = {}
    for label in labels:
        results = []
        for key in keys:
            stat = merged.get((label, key))
            results.append(c.EMPTY if stat is None else impl.reduce(stat))
        bands: list[tuple[float | None, float | None, float | None]] = [(None, None, None)] * len(
            keys
        )
        if baseline and bucket != "week" and len(keys) >= 2:
            bands = _bands(
                keys, [r.value for r in results], nonnegative=definition.unit != "points"
            )
        points = []
        for key, r, band in zip(keys, results, bands, strict=True):
            if key < c.bucket_of(q.start_ms, bucket):  # type: ignore[operator]
                continue
            points.append(Point(c.from_ms(key), r.value, r.low, r.high, r.n, *band))
        out[label] = points
    return out


def _bands(
    keys: list[int], values: list[float | None], *, nonnegative: bool
) -> list[tuple[float | None, float | None, float | None]]:
    index = pd.DatetimeIndex(pd.to_datetime(keys, unit="ms", utc=True))
    series = pd.Series([np.nan if v is None else v for v in values], index=index, dtype=float)
    try:
        base = kpimath.seasonal_baseline(series, "UTC", nonnegative=nonnegative)
    except ValueError:
        return [(None, None, None)] * len(keys)
    return [
        (c._f(e), c._f(lo), c._f(hi))
        for e, lo, hi in zip(
            base.expected.tolist(), base.lower.tolist(), base.upper.tolist(), strict=True
        )
    ]


@dataclass(frozen=True)
class Comparison:
    current: Result
    previous: Result
    previous_start: datetime
    previous_end: datetime
    delta: float | None
    relative: float | None
    delta_low: float | None
    delta_high: float | None
    p_value: float | None
    significant: bool
    test: str | None
    better: bool | None  # the change goes the KPI's good way (and is significant, when tested)


def compare(
    session: Session,
    *,
    kpi: str,
    start: datetime,
    end: datetime,
    previous_start: datetime | None = None,
    filters: Mapping[str, str] | None = None,
    settings: Settings | None = None,
    ctx: c.Context | None = None,
) -> Comparison:
    """This window against an earlier one of the same length (by default the one just before;
    pass ``previous_start`` a year earlier for year over year)."""
    definition = get_kpi_or_raise(kpi)
    q = _query(definition, start, end, None, None, filters)
    length = q.end_ms - q.start_ms
    prev_start_ms = (
        q.start_ms - length
        if previous_start is None
        else c.to_ms(previous_start) // c.HOUR_MS * c.HOUR_MS
    )
    pq = c.Query(prev_start_ms, prev_start_ms + length, None, None, q.filters)
    impl = IMPLS[kpi]
    ctx = ctx or context(session, settings)
    cur = c.merge_cells(impl.fetch(session, q, ctx), by_label=False, by_bucket=False).get(
        ("all", None)
    )
    prev = c.merge_cells(impl.fetch(session, pq, ctx), by_label=False, by_bucket=False).get(
        ("all", None)
    )
    cur_r = c.EMPTY if cur is None else impl.reduce(cur)
    prev_r = c.EMPTY if prev is None else impl.reduce(prev)
    delta = None if cur_r.value is None or prev_r.value is None else cur_r.value - prev_r.value
    test = _test(kpi, cur, prev) if cur is not None and prev is not None else None
    scale = 100.0 if definition.unit == "%" else 1.0
    relative = None
    if delta is not None and prev_r.value:
        relative = delta / abs(prev_r.value)
    low = high = p = None
    significant = False
    name = None
    if test is not None:
        low, high = c._f(test.low * scale), c._f(test.high * scale)
        p = c._f(test.p_value)
        significant = bool(test.significant)
        name = test.test
    better = None
    if delta is not None and delta != 0:
        good = (delta > 0) == (definition.direction == "up")
        better = good if (test is None or significant) else None
    return Comparison(
        cur_r,
        prev_r,
        c.from_ms(prev_start_ms),
        c.from_ms(prev_start_ms + length),
        delta,
        relative,
        low,
        high,
        p,
        significant,
        name,
        better,
    )


def _test(kpi: str, cur: Any, prev: Any) -> kpimath.PeriodDelta | None:
    try:
        if kpi == "nps":
            return kpimath.compare_nps(_hist_counts(cur), _hist_counts(prev))
        if kpi in ("csat", "ces_easy", "negative_sentiment"):
            s1, n1 = _share(kpi, cur)
            s0, n0 = _share(kpi, prev)
            return kpimath.compare_rates(s1, n1, s0, n0)
        if kpi in ("csat_mean", "ces"):
            high = 5 if kpi == "csat_mean" else 7
            return kpimath.compare_means(
                kpimath.Moments.from_histogram(_hist_counts(cur), 1, high),
                kpimath.Moments.from_histogram(_hist_counts(prev), 1, high),
            )
        if isinstance(cur, c.Ratio) and CATALOGUE[kpi].unit == "%" and cur.n > 0 and prev.n > 0:
            s1 = round(min(max(cur.successes, 0), cur.n))
            s0 = round(min(max(prev.successes, 0), prev.n))
            return kpimath.compare_rates(s1, round(cur.n), s0, round(prev.n))
        counts = ("ticket_volume", "incidents")  # counts: no test of means
        if isinstance(cur, c.Mom) and kpi not in counts and cur.n > 1 and prev.n > 1:
            return kpimath.compare_means(cur.moments(), prev.moments())
    except ValueError:
        return None
    return None


def _share(kpi: str, stat: c.Hist) -> tuple[int, int]:
    counts = _hist_counts(stat)
    n = int(counts.sum())
    if kpi == "csat":
        return int(counts[3:].sum()), n
    if kpi == "ces_easy":
        return int(counts[4:].sum()), n
    return int(counts[:2].sum()), n


@dataclass(frozen=True)
class Standing:
    label: str
    value: float | None
    adjusted: float | None  # shrunk toward the overall value (empirical Bayes)
    low: float | None
    high: float | None
    n: int
    rank: int


@dataclass(frozen=True)
class Spread:
    kpi: str
    by: str
    overall: float | None
    groups: list[Standing]
    gap: float | None
    iqr: float | None
    cv: float | None
    best: str | None
    worst: str | None
    method: str


def consistency(
    session: Session,
    *,
    kpi: str,
    by: str,
    start: datetime,
    end: datetime,
    filters: Mapping[str, str] | None = None,
    settings: Settings | None = None,
) -> Spread:
    """Rank locations, teams or any slice on a KPI and summarise the spread between them.

    Rates and means are shrunk toward the overall value by how much data each group has
    (empirical Bayes), so a group with three answers does not top the table by chance."""
    definition = get_kpi_or_raise(kpi)
    if by not in SLICES or by not in definition.slices:
        raise Invalid(
            f"{definition.name} cannot be compared by '{by}'; "
            f"it supports {', '.join(definition.slices)}",
            code="bad_group_by",
        )
    q = _query(definition, start, end, None, by, filters)
    impl = IMPLS[kpi]
    ctx = context(session, settings)
    merged = c.merge_cells(impl.fetch(session, q, ctx), by_label=True, by_bucket=False)
    labels = sorted(label for label, _ in merged)
    stats = [merged[(label, None)] for label in labels]
    higher = definition.direction == "up"
    scale = 100.0 if definition.unit == "%" else 1.0
    rate_kpi = all(isinstance(s, c.Ratio) for s in stats) and definition.unit == "%"
    share_kpi = kpi in ("csat", "ces_easy", "negative_sentiment")
    mean_kpi = kpi in ("csat_mean", "ces", "nps") or all(isinstance(s, c.Mom) for s in stats)
    if labels and (rate_kpi or share_kpi):
        if share_kpi:
            pairs = [_share(kpi, s) for s in stats]  # type: ignore[arg-type]
        else:
            ratios = [s for s in stats if isinstance(s, c.Ratio)]
            pairs = [(round(min(max(s.successes, 0), s.n)), round(s.n)) for s in ratios]
        result = kpimath.rate_consistency(
            labels, [p[0] for p in pairs], [p[1] for p in pairs], higher_is_better=higher
        )
        return _spread(kpi, by, result, scale, "rate, empirical-Bayes shrinkage")
    if labels and mean_kpi and kpi != "ticket_volume":
        moments = [_moments(kpi, s) for s in stats]
        result = kpimath.mean_consistency(labels, moments, higher_is_better=higher)
        return _spread(
            kpi,
            by,
            result,
            scale if kpi not in ("nps",) else 1.0,
            "mean, empirical-Bayes shrinkage",
        )
    # medians, counts, budgets: plain ranking of the values
    values = [impl.reduce(s) for s in stats]
    order = sorted(
        range(len(labels)),
        key=lambda i: (
            values[i].value is None,
            -(values[i].value or 0) if higher else (values[i].value or 0),
        ),
    )
    groups = [
        Standing(
            labels[i],
            values[i].value,
            values[i].value,
            values[i].low,
            values[i].high,
            values[i].n,
            rank + 1,
        )
        for rank, i in enumerate(order)
    ]
    finite = [g.value for g in groups if g.value is not None]
    overall = (
        impl.reduce(
            c.merge_cells(
                ((lb, None, st) for lb, st in zip(labels, stats, strict=True)),
                by_label=False,
                by_bucket=False,
            )[("all", None)]
        ).value
        if stats
        else None
    )
    return Spread(
        kpi,
        by,
        overall,
        groups,
        gap=(max(finite) - min(finite)) if finite else None,
        iqr=float(np.subtract(*np.percentile(finite, [75, 25]))) if finite else None,
        cv=(float(np.std(finite) / abs(np.mean(finite))) if finite and np.mean(finite) else None),
        best=groups[0].label if finite else None,
        worst=[g for g in groups if g.value is not None][-1].label if finite else None,
        method="ranked by value (no shrinkage for medians, counts and budgets)",
    )


def _moments(kpi: str, stat: Any) -> kpimath.Moments:
    if kpi == "nps":
        counts = _hist_counts(stat)
        promoters, detractors = float(counts[9:].sum()), float(counts[:7].sum())
        return kpimath.Moments(
            float(counts.sum()),
            100.0 * (promoters - detractors),
            10_000.0 * (promoters + detractors),
        )
    if kpi == "csat_mean":
        return kpimath.Moments.from_histogram(_hist_counts(stat), 1, 5)
    if kpi == "ces":
        return kpimath.Moments.from_histogram(_hist_counts(stat), 1, 7)
    m: c.Mom = stat
    return m.moments()


def _spread(kpi: str, by: str, result: kpimath.Consistency, scale: float, method: str) -> Spread:
    groups = [
        Standing(
            g.label,
            c._f(g.raw * scale),
            c._f(g.shrunk * scale),
            c._f(g.low * scale),
            c._f(g.high * scale),
            g.n,
            g.rank,
        )
        for g in result.groups
    ]
    return Spread(
        kpi,
        by,
        c._f(result.overall * scale),
        groups,
        c._f(result.gap * scale),
        c._f(result.iqr * scale),
        c._f(result.cv),
        result.best or None,
        result.worst or None,
        method,
    )


def window(
    session: Session, start: datetime | None, end: datetime | None, *, days: int = 7
) -> tuple[datetime, datetime]:
    """The window a KPI read covers when ``from``/``to`` are left out: ``days`` days up to the
    current hour, or up to the newest stored hour when that is earlier (so a demo or an
    archive shows its own last week, not an empty one)."""
    for moment in (start, end):
        if moment is not None and moment.tzinfo is None:
            raise Invalid(
                "'from' and 'to' need a time zone, e.g. 2026-11-01T00:00:00Z", code="naive_time"
            )
    now = clock.now().astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    latest = signals_service.latest_bucket(session, grain="h")
    newest = now if latest is None else min(now, latest + timedelta(hours=1))
    if end is None:
        end = newest if start is None else min(start + timedelta(days=days), newest)
    if start is None:
        start = end - timedelta(days=days)
    return start, end
