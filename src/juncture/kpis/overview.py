"""The overview both teams open in the morning: Ops health beside customer signals.

``overview()`` computes every number the overview page shows (the page and
``GET /api/v1/overview`` render the same result). It is built from few calls: one
``context()``, one compare and one baselined daily series per headline KPI (Ops:
availability, latency p95, error rate; customers: CSAT, NPS, negative sentiment, tickets), and
for the
per-service and per-journey rows grouped series (``group_by="service"`` / ``"journey"``), one
for the period and one for the period before, rather than one call per service.

Per-group values are the groups' daily points merged by their counts (``sum(value * n) /
sum(n)``), which is exact for the means and rates shown there; per-group deltas carry the
direction of the change only (``tested=False``), the headline deltas are tested by
``compare()``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from juncture.access import service as access_service
from juncture.catalog import service as catalog_service
from juncture.config import Settings
from juncture.kit import clock
from juncture.kpis import compute as c
from juncture.kpis import service
from juncture.kpis.catalogue import CATALOGUE
from juncture.signals import service as signals_service

OPS_KPIS = ("availability", "latency_p95", "error_rate")
CX_KPIS = ("csat", "nps", "negative_sentiment", "ticket_volume")
SERVICE_KPIS = ("availability", "latency_p95", "error_rate")
SPARK_DAYS = 14


@dataclass(frozen=True)
class Headline:
    """One company-wide KPI over the period, against the period before, with its sparkline."""

    kpi: str
    name: str
    family: str
    unit: str
    direction: str
    value: float | None
    low: float | None
    high: float | None
    n: int
    previous: float | None
    delta: float | None
    relative: float | None
    p_value: float | None
    significant: bool
    better: bool | None
    series: list[service.Point]  # daily, with the seasonal baseline band


@dataclass(frozen=True)
class GroupValue:
    """One KPI for one service or journey: merged from the grouped daily series."""

    kpi: str
    value: float | None
    previous: float | None
    delta: float | None
    better: bool | None  # the direction of the change only: not a significance test
    n: int
    series: list[service.Point]  # daily, the period before and this one
    tested: bool = False


@dataclass(frozen=True)
class ServiceRow:
    slug: str
    name: str
    tier: int
    owner: str
    requests: float | None
    kpis: dict[str, GroupValue]
    journeys: list[str]  # "journey/step" the service carries


@dataclass(frozen=True)
class StepCount:
    slug: str
    name: str
    reached: int
    share: float | None  # of the sessions entering the first step, 0-1


@dataclass(frozen=True)
class JourneyRow:
    slug: str
    name: str
    conversion: GroupValue
    dropoff: float | None  # 100 - conversion: entered the first step, never reached the last
    steps: list[StepCount]
    services: list[str]


@dataclass(frozen=True)
class KeyResultSummary:
    id: int
    title: str
    kpi: str | None
    current: float | None
    target: float
    unit: str
    progress: float | None
    status: str


@dataclass(frozen=True)
class ObjectiveSummary:
    id: int
    title: str
    status: str
    progress: float | None
    key_results: list[KeyResultSummary]


@dataclass(frozen=True)
class Overview:
    start: datetime
    end: datetime
    previous_start: datetime
    has_data: bool
    ops: list[Headline]
    cx: list[Headline]
    services: list[ServiceRow]
    journeys: list[JourneyRow]
    objectives: list[ObjectiveSummary]
    objectives_total: int
    active: ActiveWork


@dataclass(frozen=True)
class ActiveWork:
    """Open alerts and incidents, and the latest incident with what it cost customers."""

    open_alerts: int
    open_incidents: int
    latest_incident: dict[str, Any] | None


def active_work(session: Session) -> ActiveWork:
    """Count open alerts and incidents; summarise the most recently declared incident."""
    from juncture.detect import service as detect_service
    from juncture.incidents import service as incident_service

    _, open_alerts = detect_service.list_alerts(session, state="open", limit=1)
    open_incidents = incident_service.count_incidents(session, open_only=True)
    latest = incident_service.latest_incident(session)
    summary: dict[str, Any] | None = None
    if latest is not None:
        impact = latest.impact or {}
        summary = {
            "id": latest.id,
            "title": latest.title,
            "severity": latest.severity,
            "status": latest.status,
            "services": list(latest.services),
            "regions": list(latest.regions),
            "started_at": latest.started_at,
            "resolved_at": latest.resolved_at,
            "customers_affected": impact.get("customers_affected"),
            "lost_conversions": impact.get("lost_conversions"),
            "estimated_lost_revenue": impact.get("estimated_lost_revenue"),
            "extra_tickets": (impact.get("tickets") or {}).get("extra"),
            "customer_minutes_lost": impact.get("customer_minutes_lost"),
        }
    return ActiveWork(open_alerts, open_incidents, summary)


def _merge(points: Iterable[service.Point]) -> tuple[float | None, int]:
    """The value of several buckets together, weighted by their counts."""
    total = 0.0
    n = 0
    for p in points:
        if p.value is None or p.n <= 0:
            continue
        total += p.value * p.n
        n += p.n
    return (total / n if n else None), n


def _join(before: Sequence[service.Point], current: Sequence[service.Point]) -> list[service.Point]:
    """Daily points of two adjacent windows; a day split between them is merged."""
    out = list(before)
    for p in current:
        if out and out[-1].bucket == p.bucket:
            value, n = _merge((out[-1], p))
            out[-1] = service.Point(p.bucket, value, None, None, n)
        else:
            out.append(p)
    return out


def _direction(kpi: str, delta: float | None) -> bool | None:
    if delta is None or delta == 0:
        return None
    return (delta > 0) == (CATALOGUE[kpi].direction == "up")


def _group_values(
    kpi: str,
    now: dict[str, list[service.Point]],
    before: dict[str, list[service.Point]],
) -> dict[str, GroupValue]:
    out: dict[str, GroupValue] = {}
    for label in sorted(set(now) | set(before)):
        cur, n = _merge(now.get(label, []))
        prev, _ = _merge(before.get(label, []))
        delta = None if cur is None or prev is None else cur - prev
        out[label] = GroupValue(
            kpi,
            cur,
            prev,
            delta,
            _direction(kpi, delta),
            n,
            _join(before.get(label, []), now.get(label, [])),
        )
    return out


def _empty_group(kpi: str) -> GroupValue:
    return GroupValue(kpi, None, None, None, None, 0, [])


def _headline(
    session: Session, *, kpi: str, start: datetime, end: datetime, ctx: c.Context
) -> Headline:
    definition = CATALOGUE[kpi]
    cmp = service.compare(session, kpi=kpi, start=start, end=end, ctx=ctx)
    series = service.kpi_series(
        session,
        kpi=kpi,
        start=end - timedelta(days=SPARK_DAYS),
        end=end,
        bucket="day",
        baseline=True,
        ctx=ctx,
    )
    name = definition.name
    return Headline(
        kpi=kpi,
        name=name,
        family=definition.family,
        unit=definition.unit,
        direction=definition.direction,
        value=cmp.current.value,
        low=cmp.current.low,
        high=cmp.current.high,
        n=cmp.current.n,
        previous=cmp.previous.value,
        delta=cmp.delta,
        relative=cmp.relative,
        p_value=cmp.p_value,
        significant=cmp.significant,
        better=cmp.better,
        series=series.get("all", []),
    )


def _grouped(
    session: Session,
    *,
    kpi: str,
    group_by: str,
    start: datetime,
    end: datetime,
    previous_start: datetime,
    ctx: c.Context,
) -> dict[str, GroupValue]:
    def read(a: datetime, b: datetime) -> dict[str, list[service.Point]]:
        return service.kpi_series(
            session, kpi=kpi, start=a, end=b, bucket="day", group_by=group_by, ctx=ctx
        )

    return _group_values(kpi, read(start, end), read(previous_start, start))


def _objectives(session: Session, now: datetime) -> tuple[list[ObjectiveSummary], int]:
    from juncture.kpis import okrs

    rows, total = okrs.list_objectives(session, status="active", limit=6)
    out = []
    for obj in okrs.read_objectives(session, rows, now=now):
        out.append(
            ObjectiveSummary(
                id=obj.id,
                title=obj.title,
                status=obj.status,
                progress=obj.progress,
                key_results=[
                    KeyResultSummary(
                        id=kr.id,
                        title=kr.title,
                        kpi=kr.kpi,
                        current=kr.current,
                        target=kr.target,
                        unit=kr.unit,
                        progress=kr.progress,
                        status=kr.status,
                    )
                    for kr in obj.key_results
                ],
            )
        )
    return out, total


def overview(
    session: Session, *, start: datetime, end: datetime, settings: Settings | None = None
) -> Overview:
    """Everything the overview shows for the period ``[start, end)`` (whole hours, UTC) against
    the period of the same length just before it."""
    from juncture.kit.errors import Invalid

    if start.tzinfo is None or end.tzinfo is None:
        raise Invalid("'from' and 'to' need a time zone (e.g. Z)", code="naive_time")
    if end <= start:
        raise Invalid("'to' must be after 'from'", code="bad_range")
    if end - start > timedelta(days=93):
        raise Invalid("the overview covers at most 93 days", code="range_too_long")
    start = c.from_ms(c.to_ms(start) // c.HOUR_MS * c.HOUR_MS)
    end = c.from_ms(-(-c.to_ms(end) // c.HOUR_MS) * c.HOUR_MS)
    previous_start = start - (end - start)
    ctx = service.context(session, settings)

    tasks: list[Callable[[Session], Any]] = [
        *(functools.partial(_headline, kpi=k, start=start, end=end, ctx=ctx) for k in OPS_KPIS),
        *(functools.partial(_headline, kpi=k, start=start, end=end, ctx=ctx) for k in CX_KPIS),
        *(
            functools.partial(
                _grouped, kpi=k, group_by="service", start=start, end=end,
                previous_start=previous_start, ctx=ctx,
            )
            for k in SERVICE_KPIS
        ),
        functools.partial(
            _grouped, kpi="conversion", group_by="journey", start=start, end=end,
            previous_start=previous_start, ctx=ctx,
        ),
    ]  # fmt: skip
    results = [task(session) for task in tasks]
    ops = results[: len(OPS_KPIS)]
    cx = results[len(OPS_KPIS) : len(OPS_KPIS) + len(CX_KPIS)]
    grouped = results[len(OPS_KPIS) + len(CX_KPIS) :]
    per_service = dict(zip(SERVICE_KPIS, grouped[: len(SERVICE_KPIS)], strict=True))
    conversion = grouped[-1]
    requests = signals_service.totals_by_subject(
        session, signal_type="metric", metric="requests", start=start, end=end
    )
    reached = signals_service.totals_by_subject(
        session, signal_type="funnel", metric="reached", start=start, end=end
    )

    teams = {t.id: t.name for t in access_service.list_teams(session)}
    services = catalog_service.list_services(session)
    slug_of = {s.id: s.slug for s in services}
    rows = [
        ServiceRow(
            slug=s.slug,
            name=s.name,
            tier=s.tier,
            owner=teams.get(s.owner_team_id, ""),
            requests=requests[s.slug][1] if s.slug in requests else None,
            kpis={k: per_service[k].get(s.slug, _empty_group(k)) for k in SERVICE_KPIS},
            journeys=ctx.service_journeys.get(s.slug, []),
        )
        for s in sorted(services, key=lambda s: (s.tier, s.name))
    ]
    journeys = []
    for j in catalog_service.list_journeys(session):
        steps = []
        first: int | None = None
        for st in sorted(j.steps, key=lambda st: st.position):
            count = reached.get(f"{j.slug}/{st.slug}", (0, 0.0))[0]
            first = count if first is None else first
            steps.append(StepCount(st.slug, st.name, count, count / first if first else None))
        conv = conversion.get(j.slug, _empty_group("conversion"))
        journeys.append(
            JourneyRow(
                slug=j.slug,
                name=j.name,
                conversion=conv,
                dropoff=None if conv.value is None else 100.0 - conv.value,
                steps=steps,
                services=sorted(
                    {slug_of[sid] for st in j.steps for sid in st.service_ids if sid in slug_of}
                ),
            )
        )
    objectives, total = _objectives(session, clock.now())
    has_data = any(h.n for h in (*ops, *cx)) or bool(requests) or bool(reached)
    return Overview(
        start=start,
        end=end,
        previous_start=previous_start,
        has_data=has_data,
        ops=ops,
        cx=cx,
        services=rows,
        journeys=journeys,
        objectives=objectives,
        objectives_total=total,
        active=active_work(session),
    )
