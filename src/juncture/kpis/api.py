"""HTTP routes of the kpis room: the catalogue, one KPI (value, comparison, series), CSV, spread."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from juncture.api.deps import ReadActor, SessionDep, SettingsDep
from juncture.config import Settings
from juncture.kpis import service
from juncture.kpis.catalogue import KPIS, KpiDef
from juncture.kpis.schemas import (
    ComparisonRead,
    ConsistencyRead,
    KpiInfo,
    KpiRead,
    PointRead,
    StandingRead,
    ValueRead,
)

router = APIRouter()


def info(definition: KpiDef) -> KpiInfo:
    data = asdict(definition)
    data["slices"] = list(definition.slices)
    return KpiInfo(**data)


Filters = dict[str, str]


def _filters(
    service_: str | None,
    journey: str | None,
    region: str | None,
    channel: str | None,
    team: str | None,
    segment: str | None,
    location: str | None,
) -> Filters:
    raw = {
        "service": service_,
        "journey": journey,
        "region": region,
        "channel": channel,
        "team": team,
        "segment": segment,
        "location": location,
    }
    return {k: v for k, v in raw.items() if v}


FROM = Annotated[
    datetime | None,
    Query(alias="from", description="Start (UTC, inclusive); default: 7 days before `to`"),
]
TO = Annotated[
    datetime | None, Query(alias="to", description="End (exclusive); default: the current hour")
]
SERVICE = Annotated[str | None, Query(alias="service", description="service slug")]
BUCKET = Annotated[Literal["hour", "day", "week"], Query(description="hour, day or week (UTC)")]


def read_kpi(
    session: Session,
    *,
    kpi: str,
    start: datetime | None,
    end: datetime | None,
    bucket: Literal["hour", "day", "week"],
    group_by: str | None,
    filters: Filters,
    baseline: bool,
    settings: Settings | None = None,
    compare_to: Literal["previous", "year"] = "previous",
) -> KpiRead:
    definition = service.get_kpi_or_raise(kpi)
    start, end = service.window(session, start, end)
    ctx = service.context(session, settings)
    # a year earlier: 52 weeks, so weekdays line up
    earlier = start - timedelta(weeks=52) if compare_to == "year" else None
    comparison = service.compare(
        session, kpi=kpi, start=start, end=end, previous_start=earlier, filters=filters, ctx=ctx
    )
    groups = service.kpi_series(
        session,
        kpi=kpi,
        start=start,
        end=end,
        bucket=bucket,
        group_by=group_by,
        filters=filters,
        baseline=baseline,
        ctx=ctx,
    )
    return KpiRead(
        kpi=info(definition),
        start=start,
        end=end,
        bucket=bucket,
        group_by=group_by,
        filters=filters,
        value=ValueRead(**asdict(comparison.current)),
        comparison=ComparisonRead(
            previous=ValueRead(**asdict(comparison.previous)),
            previous_from=comparison.previous_start,
            previous_to=comparison.previous_end,
            delta=comparison.delta,
            relative=comparison.relative,
            delta_low=comparison.delta_low,
            delta_high=comparison.delta_high,
            p_value=comparison.p_value,
            significant=comparison.significant,
            test=comparison.test,
            better=comparison.better,
        ),
        groups={
            label: [PointRead(**asdict(p)) for p in points] for label, points in groups.items()
        },
    )


@router.get("/kpis", response_model=list[KpiInfo], tags=["kpis"])
def list_kpis(actor: ReadActor) -> list[KpiInfo]:
    """The KPI catalogue: every definition, its unit, good direction, source and slices."""
    return [info(k) for k in KPIS]


CSV_COLUMNS = ("kpi", "group", "bucket", "value", "low", "high", "n", "expected", "lower", "upper")


def kpi_csv(result: KpiRead) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for label, points in result.groups.items():
        for p in points:
            writer.writerow(
                [
                    result.kpi.key,
                    label,
                    p.bucket.isoformat().replace("+00:00", "Z"),
                    *("" if v is None else repr(float(v)) for v in (p.value, p.low, p.high)),
                    p.n,
                    *("" if v is None else repr(float(v)) for v in (p.expected, p.lower, p.upper)),
                ]
            )
    return buffer.getvalue()


class SliceQuery:
    """The slice filters every KPI route takes as query parameters (only the given ones)."""

    def __init__(
        self,
        service_: SERVICE = None,
        journey: str | None = None,
        region: str | None = None,
        channel: str | None = None,
        team: str | None = None,
        segment: str | None = None,
        location: str | None = None,
    ) -> None:
        self.filters = _filters(service_, journey, region, channel, team, segment, location)


class SeriesQuery:
    """Window, bucket, group, baseline and comparison of GET /kpis/{kpi} and its CSV twin."""

    def __init__(
        self,
        start: FROM = None,
        end: TO = None,
        bucket: BUCKET = "day",
        group_by: Annotated[
            str | None,
            Query(
                description="a slice: service, journey, region, channel, team, segment, location"
            ),
        ] = None,
        baseline: Annotated[
            bool, Query(description="add the seasonal expected value and band")
        ] = False,
        compare_to: Annotated[
            Literal["previous", "year"],
            Query(
                description="previous: the window before; year: the same window 52 weeks earlier"
            ),
        ] = "previous",
        step: Annotated[str | None, Query(description="journey/step, for drop-off")] = None,
    ) -> None:
        self.start, self.end, self.bucket, self.group_by = start, end, bucket, group_by
        self.baseline, self.compare_to, self.step = baseline, compare_to, step

    def read(self, session: Session, kpi: str, slices: SliceQuery, settings: Settings) -> KpiRead:
        filters = {**slices.filters, **({"step": self.step} if self.step else {})}
        return read_kpi(
            session,
            kpi=kpi,
            start=self.start,
            end=self.end,
            bucket=self.bucket,
            group_by=self.group_by,
            filters=filters,
            baseline=self.baseline,
            settings=settings,
            compare_to=self.compare_to,
        )


Slices = Annotated[SliceQuery, Depends()]
SeriesParams = Annotated[SeriesQuery, Depends()]


@router.get(
    "/kpis/{kpi}.csv",
    tags=["kpis"],
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "One row per group and bucket"}},
)
def get_kpi_csv(
    kpi: str,
    session: SessionDep,
    actor: ReadActor,
    settings: SettingsDep,
    params: SeriesParams,
    slices: Slices,
) -> Response:
    """The same series as GET /kpis/{kpi}, as CSV (values with full precision)."""
    result = params.read(session, kpi, slices, settings)
    return Response(
        kpi_csv(result),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{result.kpi.key}.csv"'},
    )


@router.get("/kpis/{kpi}", response_model=KpiRead, tags=["kpis"])
def get_kpi(
    kpi: str,
    session: SessionDep,
    actor: ReadActor,
    settings: SettingsDep,
    params: SeriesParams,
    slices: Slices,
) -> KpiRead:
    """One KPI over a window: its value with interval, the comparison with the previous
    period of the same length, and the series per bucket (and per group)."""
    return params.read(session, kpi, slices, settings)


@router.get("/kpis/{kpi}/consistency", response_model=ConsistencyRead, tags=["kpis"])
def get_consistency(
    kpi: str,
    session: SessionDep,
    actor: ReadActor,
    settings: SettingsDep,
    by: Annotated[
        str, Query(description="the slice to rank: region, location, team, channel, ...")
    ],
    slices: Slices,
    start: FROM = None,
    end: TO = None,
) -> ConsistencyRead:
    """Rank groups (locations, teams, ...) on a KPI, with shrinkage, and the spread between them."""
    filters = slices.filters
    start, end = service.window(session, start, end)
    spread = service.consistency(
        session, kpi=kpi, by=by, start=start, end=end, filters=filters, settings=settings
    )
    data: dict[str, Any] = asdict(spread)
    data["groups"] = [StandingRead(**g) for g in data["groups"]]
    return ConsistencyRead(start=start, end=end, **data)
