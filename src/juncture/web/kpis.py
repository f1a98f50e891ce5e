"""KPI pages: the catalogue with current values, and one KPI in depth.

Every number comes from ``juncture.kpis.service``, the same functions as ``/api/v1/kpis``.
Charts are inline SVG built here (geometry only); the templates draw them, no JS library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from juncture.access import service as access_service
from juncture.api.deps import PageReader, SessionDep, SettingsDep
from juncture.catalog import service as catalog_service
from juncture.kit.errors import Invalid, JunctureError, NotFound
from juncture.kpis import service
from juncture.kpis.catalogue import CATALOGUE, KPIS, SLICES
from juncture.kpis.service import window
from juncture.signals import service as signals_service
from juncture.web.render import render

router = APIRouter(include_in_schema=False)

FAMILIES = (("ops", "Ops"), ("cx", "Customer experience"), ("journey", "Journeys"))
DAYS = (7, 28, 90)
BUCKETS = ("hour", "day", "week")
INDEX_SPARK_DAYS = 14

# ---------------------------------------------------------------- numbers


_DECIMALS = {"availability": 2, "error_rate": 2, "slo_attainment": 1}
_UNIT_DECIMALS = {
    "%": 1,
    "ms": 0,
    "points": 1,
    "score": 2,
    "count": 0,
    "minutes": 1,
    "hours": 1,
    "per 1k": 1,
}


def decimals(kpi: str) -> int:
    """How many decimals a KPI is shown with (pages and the browser test read this)."""
    if kpi in _DECIMALS:
        return _DECIMALS[kpi]
    return _UNIT_DECIMALS.get(CATALOGUE[kpi].unit, 1) if kpi in CATALOGUE else 1


def num(value: float | None, kpi: str) -> str:
    """The bare rounded number (``data-value``); '—' for none."""
    if value is None:
        return "—"
    d = decimals(kpi)
    text = f"{value:,.{d}f}"
    return text if text not in ("-0", "-0.0", "-0.00") else text[1:]


def fmt(value: float | None, kpi: str) -> str:
    """The number with its unit, as shown."""
    if value is None:
        return "—"
    unit = CATALOGUE[kpi].unit if kpi in CATALOGUE else ""
    if unit in ("count", "points", "score"):
        return num(value, kpi)
    return f"{num(value, kpi)} {unit}"


def fmt_delta(delta: float | None, kpi: str) -> str:
    if delta is None:
        return "—"
    unit = CATALOGUE[kpi].unit
    suffix = {"%": " pp", "count": "", "points": " pts", "score": ""}.get(unit, f" {unit}")
    text = num(delta, kpi)
    sign = "+" if delta > 0 and not text.startswith("-") and text.strip("0.,") else ""
    return f"{sign}{text}{suffix}"


def tone(better: bool | None) -> str:
    return "flat" if better is None else ("good" if better else "bad")


# ---------------------------------------------------------------- SVG geometry


@dataclass(frozen=True)
class Spark:
    width: int
    height: int
    line: str
    band: str
    last: tuple[float, float] | None
    points: int


def _bands(pairs: Sequence[tuple[float, float | None, float | None]]) -> str:
    """Closed polygons over runs where both bounds exist: (x, y_low, y_high)."""
    paths = []
    run: list[tuple[float, float, float]] = []
    for x, lo, hi in [*pairs, (0.0, None, None)]:
        if lo is None or hi is None:
            if run:
                top = " L".join(f"{px:.1f},{ph:.1f}" for px, _, ph in run)
                bottom = " L".join(f"{px:.1f},{pl:.1f}" for px, pl, _ in reversed(run))
                if len(run) == 1:
                    px, pl, ph = run[0]
                    top = f"{px - 1:.1f},{ph:.1f} L{px + 1:.1f},{ph:.1f}"
                    bottom = f"{px + 1:.1f},{pl:.1f} L{px - 1:.1f},{pl:.1f}"
                paths.append(f"M{top} L{bottom} Z")
            run = []
        else:
            run.append((x, lo, hi))
    return " ".join(paths)


def svg_line(pairs: Sequence[tuple[float, float | None]]) -> str:
    """An SVG path through (x, y) points; a None y lifts the pen (a gap in the line)."""
    out = []
    pen_down = False
    for x, y in pairs:
        if y is None:
            pen_down = False
            continue
        out.append(f"{'L' if pen_down else 'M'}{x:.1f},{y:.1f}")
        pen_down = True
    return " ".join(out)


def _scale(values: Sequence[float | None], top: float, bottom: float) -> Any:
    finite = [v for v in values if v is not None]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 1.0, hi + 1.0
    pad = (hi - lo) * 0.08
    lo, hi = lo - pad, hi + pad

    def y(v: float | None) -> float | None:
        return None if v is None else bottom - (v - lo) / (hi - lo) * (bottom - top)

    return y, lo, hi


def sparkline(points: Sequence[Any], width: int = 120, height: int = 32) -> Spark:
    """A line of the values over the baseline band (``lower``..``upper``), when it has one."""
    n = len(points)
    values = [p.value for p in points]
    bounds = [getattr(p, "lower", None) for p in points] + [
        getattr(p, "upper", None) for p in points
    ]
    y, _, _ = _scale(values + bounds, 2.0, height - 2.0)

    def x(i: int) -> float:
        return 2.0 + (width - 4.0) * (i / (n - 1) if n > 1 else 0.5)

    line = svg_line([(x(i), y(v)) for i, v in enumerate(values)])
    band = _bands(
        [
            (x(i), y(getattr(p, "lower", None)), y(getattr(p, "upper", None)))
            for i, p in enumerate(points)
        ]
    )
    last = None
    for i in range(n - 1, -1, -1):
        yy = y(values[i])
        if yy is not None:
            last = (round(x(i), 1), round(yy, 1))
            break
    return Spark(width, height, line, band, last, sum(v is not None for v in values))


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    line: str
    interval: str
    baseline: str
    expected: str
    ticks_y: list[tuple[float, str]]
    ticks_x: list[tuple[float, str]]
    markers: list[tuple[float, str]]
    incidents: list[tuple[float, str, int]] = field(default_factory=list)


def chart(
    points: Sequence[service.Point],
    kpi: str,
    start: datetime,
    end: datetime,
    bucket: str,
    markers: Sequence[tuple[datetime, str]] = (),
    incidents: Sequence[tuple[datetime, str, int]] = (),
) -> Chart:
    width, height, left, right, top, bottom = 760, 260, 56, 748, 12, 228
    span = (end - start).total_seconds() or 1.0
    half = {"hour": 1800, "day": 43200, "week": 302400}.get(bucket, 0)

    def x(moment: datetime, offset: float = 0.0) -> float:
        t = (moment - start).total_seconds() + offset
        return left + max(0.0, min(1.0, t / span)) * (right - left)

    everything: list[float | None] = []
    for p in points:
        everything += [p.value, p.low, p.high, p.lower, p.upper]
    y, lo, hi = _scale(everything, top, bottom)
    xs = [x(p.bucket, half) for p in points]
    ticks_y = []
    for i in range(5):
        v = lo + (hi - lo) * i / 4
        ticks_y.append((round(y(v), 1), num(v, kpi)))
    ticks_x = []
    count = 6
    for i in range(count + 1):
        moment = start + (end - start) * i / count
        label = moment.strftime("%d %b %H:%M" if bucket == "hour" else "%d %b")
        ticks_x.append((round(x(moment), 1), label))
    return Chart(
        width,
        height,
        left,
        right,
        top,
        bottom,
        line=svg_line([(xx, y(p.value)) for xx, p in zip(xs, points, strict=True)]),
        interval=_bands([(xx, y(p.low), y(p.high)) for xx, p in zip(xs, points, strict=True)]),
        baseline=_bands([(xx, y(p.lower), y(p.upper)) for xx, p in zip(xs, points, strict=True)]),
        expected=svg_line([(xx, y(p.expected)) for xx, p in zip(xs, points, strict=True)]),
        ticks_y=ticks_y,
        ticks_x=ticks_x,
        markers=[(round(x(m), 1), label) for m, label in markers],
        incidents=[(round(x(m), 1), label, iid) for m, label, iid in incidents],
    )


JINJA_HELPERS: dict[str, Any] = {
    "fmt": fmt,
    "num": num,
    "fmt_delta": fmt_delta,
    "decimals": decimals,
    "tone": tone,
    "sparkline": sparkline,
}


# ---------------------------------------------------------------- index


def _end(session: Session) -> datetime:
    return window(session, None, None)[1]


@router.get("/kpis")
def kpis_page(
    request: Request, session: SessionDep, actor: PageReader, settings: SettingsDep
) -> Response:
    start, end = window(session, None, None)
    ctx = service.context(session, settings)
    rows: dict[str, list[dict[str, Any]]] = {family: [] for family, _ in FAMILIES}
    for definition in KPIS:
        row: dict[str, Any] = {"kpi": definition, "comparison": None, "series": [], "error": None}
        if definition.available:
            try:
                row["comparison"] = service.compare(
                    session, kpi=definition.key, start=start, end=end, ctx=ctx
                )
                row["series"] = service.kpi_series(
                    session,
                    kpi=definition.key,
                    start=end - timedelta(days=INDEX_SPARK_DAYS),
                    end=end,
                    bucket="day",
                    ctx=ctx,
                ).get("all", [])
            except JunctureError as exc:  # e.g. the order step's journey is not in the catalog
                row["error"] = exc.detail
        rows[definition.family].append(row)
    return render(
        request,
        "kpis.html",
        {"families": FAMILIES, "rows": rows, "start": start, "end": end, **JINJA_HELPERS},
    )


# ---------------------------------------------------------------- detail


INCIDENT_KPIS = frozenset({"incidents", "incident_mtta", "incident_mttr", "customer_minutes_lost"})


def _options(session: Session, kpi: str = "") -> dict[str, list[tuple[str, str]]]:
    """Values each slice can take, from the catalog (segments are free text); incident KPIs
    slice by incident tier and root-cause category, alert KPIs by alert severity."""
    from juncture.incidents import service as incident_service

    regions = [(r.slug, r.name) for r in catalog_service.list_regions(session)]
    if kpi in INCIDENT_KPIS:
        severities = [(v, v.upper()) for v in ("sev1", "sev2", "sev3", "sev4")]
    else:
        severities = [(v, v) for v in ("critical", "high", "warning", "info")]
    causes = [
        (c.code, f"{c.code} — {c.name}")
        for c in incident_service.list_root_causes(session, active_only=True)
    ]
    return {
        "service": [(s.slug, s.name) for s in catalog_service.list_services(session)],
        "journey": [(j.slug, j.name) for j in catalog_service.list_journeys(session)],
        "region": regions,
        "location": regions,
        "channel": [(c.slug, c.name) for c in catalog_service.list_channels(session)],
        "team": [(t.slug, t.name) for t in access_service.list_teams(session)],
        "severity": severities,
        "root_cause": [*causes, ("unknown", "unknown (not classified)")],
    }


def _steps(session: Session) -> list[tuple[str, str]]:
    out = []
    for j in catalog_service.list_journeys(session):
        for st in sorted(j.steps, key=lambda st: st.position)[1:]:
            out.append((f"{j.slug}/{st.slug}", f"{j.name}: {st.name}"))
    return out


def _incidents(
    session: Session, start: datetime, end: datetime, service_slug: str | None
) -> list[Any]:
    """Incidents that started in the window (on the service, when the page is filtered)."""
    from juncture.incidents import service as incident_service

    found = incident_service.list_incidents(
        session, since=start - timedelta(days=7), until=end, service=service_slug, limit=200
    )
    return sorted((i for i in found if start <= i.started_at < end), key=lambda i: i.started_at)


def _deploys(
    session: Session, start: datetime, end: datetime, service_slug: str | None
) -> list[tuple[datetime, str, int]]:
    groups = signals_service.read_series(
        session,
        signal_type="deploy",
        metric="deploy",
        subject=service_slug,
        grain="h",
        start=start,
        end=end,
        group_by="subject",
        quantiles=False,
    )
    out = [
        (p.bucket, subject, int(p.count))
        for subject, points in groups.items()
        for p in points
        if p.count > 0
    ]
    return sorted(out)


def _int_param(raw: str | None, name: str, allowed: Sequence[int], default: int) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value not in allowed:
        raise Invalid(
            f"{name} must be one of {', '.join(str(a) for a in allowed)}", code=f"bad_{name}"
        )
    return value


@router.get("/kpis/{kpi}")
def kpi_page(
    request: Request,
    kpi: str,
    session: SessionDep,
    actor: PageReader,
    settings: SettingsDep,
) -> Response:
    definition = CATALOGUE.get(kpi)
    if definition is None:
        raise NotFound(f"unknown KPI '{kpi}'; /kpis lists them", code="unknown_kpi")
    if not definition.available:
        return render(request, "kpi.html", {"kpi": definition, "unavailable": True})
    q = request.query_params
    days = _int_param(q.get("days"), "days", DAYS, 28)
    bucket = q.get("bucket") or "day"
    if bucket not in BUCKETS:
        raise Invalid("bucket must be hour, day or week", code="bad_bucket")
    allowed = [*definition.slices, *(["step"] if kpi == "dropoff" else [])]
    for name in q:
        if name in SLICES and name not in allowed:
            raise Invalid(
                f"{definition.name} cannot be sliced by '{name}'; it supports "
                f"{', '.join(definition.slices) or 'no slices'}",
                code="bad_filter",
            )
    filters = {name: q[name] for name in allowed if q.get(name)}
    group_by = q.get("group_by") or None
    if group_by is not None and group_by not in definition.slices:
        raise Invalid(
            f"{definition.name} cannot be grouped by '{group_by}'; it supports "
            f"{', '.join(definition.slices) or 'no slices'}",
            code="bad_group_by",
        )
    consistency_slices = [s for s in ("location", "region", "team") if s in definition.slices]
    by = q.get("by") or (consistency_slices[0] if consistency_slices else None)
    if by is not None and by not in definition.slices:
        raise Invalid(
            f"{definition.name} cannot be compared by '{by}'; it supports "
            f"{', '.join(definition.slices) or 'no slices'}",
            code="bad_group_by",
        )
    end = _end(session)
    start = end - timedelta(days=days)
    ctx = service.context(session, settings)
    value = service.kpi_value(session, kpi=kpi, start=start, end=end, filters=filters, ctx=ctx)
    comparison = service.compare(session, kpi=kpi, start=start, end=end, filters=filters, ctx=ctx)
    overall = service.kpi_series(
        session,
        kpi=kpi,
        start=start,
        end=end,
        bucket=bucket,  # type: ignore[arg-type]
        filters=filters,
        baseline=bucket != "week",
        ctx=ctx,
    ).get("all", [])
    groups: list[dict[str, Any]] = []
    if group_by is not None:
        grouped = service.kpi_series(
            session,
            kpi=kpi,
            start=start,
            end=end,
            bucket=bucket,  # type: ignore[arg-type]
            group_by=group_by,
            filters=filters,
            ctx=ctx,
        )
        spread = service.consistency(
            session, kpi=kpi, by=group_by, start=start, end=end, filters=filters, settings=settings
        )
        standing = {g.label: g for g in spread.groups}
        for label, points in grouped.items():
            g = standing.get(label)
            groups.append(
                {
                    "label": label,
                    "value": g.value if g else None,
                    "n": g.n if g else 0,
                    "rank": g.rank if g else None,
                    "points": points,
                }
            )
        groups.sort(key=lambda row: (row["rank"] is None, row["rank"] or 0, row["label"]))
    spread_by = (
        service.consistency(
            session, kpi=kpi, by=by, start=start, end=end, filters=filters, settings=settings
        )
        if by is not None
        else None
    )
    deploys = _deploys(session, start, end, filters.get("service"))
    markers = [(moment, f"{subject} ×{count}") for moment, subject, count in deploys]
    incidents = _incidents(session, start, end, filters.get("service"))
    incident_marks = [(i.started_at, f"{i.severity.upper()} {i.title}", i.id) for i in incidents]
    query = {
        "from": start.isoformat().replace("+00:00", "Z"),
        "to": end.isoformat().replace("+00:00", "Z"),
        "bucket": bucket,
        **filters,
    }
    if group_by:
        query["group_by"] = group_by
    if bucket != "week":
        query["baseline"] = "true"
    return render(
        request,
        "kpi.html",
        {
            "kpi": definition,
            "unavailable": False,
            "start": start,
            "end": end,
            "days": days,
            "bucket": bucket,
            "days_options": DAYS,
            "buckets": BUCKETS,
            "filters": filters,
            "group_by": group_by,
            "by": by,
            "consistency_slices": [s for s in definition.slices if s in SLICES],
            "options": _options(session, kpi),
            "steps": _steps(session) if kpi == "dropoff" else [],
            "value": value,
            "comparison": comparison,
            "points": overall,
            "chart": chart(overall, kpi, start, end, bucket, markers, incident_marks),
            "groups": groups,
            "spread": spread_by,
            "deploys": deploys,
            "incidents": incidents,
            "csv_url": f"/api/v1/kpis/{kpi}.csv?{urlencode(query)}",
            "api_url": f"/api/v1/kpis/{kpi}?{urlencode(query)}",
            **JINJA_HELPERS,
        },
    )
