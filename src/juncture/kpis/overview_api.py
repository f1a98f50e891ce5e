"""GET /api/v1/overview: every number of the overview page, from the same ``overview()``."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import Field

from juncture.api.deps import ReadActor, SessionDep, SettingsDep
from juncture.kit.schemas import ReadModel
from juncture.kpis.api import FROM, TO
from juncture.kpis.overview import overview
from juncture.kpis.schemas import PointRead
from juncture.kpis.service import window

router = APIRouter()


class HeadlineRead(ReadModel):
    kpi: str
    name: str
    family: str
    unit: str
    direction: str
    value: float | None
    low: float | None
    high: float | None
    n: int
    previous: float | None = Field(description="The value over the period just before")
    delta: float | None
    relative: float | None
    p_value: float | None
    significant: bool
    better: bool | None = Field(description="The change goes the KPI's good way (tested)")
    series: list[PointRead] = Field(description="Daily, last 14 days, with the baseline band")


class GroupValueRead(ReadModel):
    kpi: str
    value: float | None
    previous: float | None
    delta: float | None
    better: bool | None = Field(description="Direction of the change only (not tested)")
    n: int
    series: list[PointRead] = Field(description="Daily: the period before and this one")
    tested: bool


class ServiceRowRead(ReadModel):
    slug: str
    name: str
    tier: int
    owner: str
    requests: float | None
    kpis: dict[str, GroupValueRead]
    journeys: list[str]


class StepCountRead(ReadModel):
    slug: str
    name: str
    reached: int
    share: float | None


class JourneyRowRead(ReadModel):
    slug: str
    name: str
    conversion: GroupValueRead
    dropoff: float | None
    steps: list[StepCountRead]
    services: list[str]


class KeyResultSummaryRead(ReadModel):
    id: int
    title: str
    kpi: str | None
    current: float | None
    target: float
    unit: str
    progress: float | None
    status: str


class ObjectiveSummaryRead(ReadModel):
    id: int
    title: str
    status: str
    progress: float | None
    key_results: list[KeyResultSummaryRead]


class ActiveWorkRead(ReadModel):
    open_alerts: int
    open_incidents: int
    latest_incident: dict[str, Any] | None = Field(
        description="The most recently declared incident and what it cost customers "
        "(customers affected, lost conversions and revenue, extra tickets, customer-minutes)"
    )


class OverviewRead(ReadModel):
    start: datetime
    end: datetime
    previous_start: datetime
    has_data: bool
    ops: list[HeadlineRead]
    cx: list[HeadlineRead]
    services: list[ServiceRowRead]
    journeys: list[JourneyRowRead]
    objectives: list[ObjectiveSummaryRead]
    objectives_total: int
    active: ActiveWorkRead


@router.get("/overview", response_model=OverviewRead, tags=["kpis"])
def get_overview(
    session: SessionDep,
    actor: ReadActor,
    settings: SettingsDep,
    start: FROM = None,
    end: TO = None,
) -> OverviewRead:
    """Ops health and customer signals over a period (default: the last 7 days up to the
    newest stored hour) against the period before: headline KPIs with tested deltas and
    baselined sparklines, per-service and per-journey rows, and the active objectives."""
    start, end = window(session, start, end)
    return OverviewRead.model_validate(overview(session, start=start, end=end, settings=settings))


OVERVIEW_CSV_COLUMNS = ("scope", "subject", "kpi", "value", "low", "high", "n", "previous", "delta")


def _num(value: float | None) -> str:
    return "" if value is None else repr(float(value))


@router.get(
    "/overview.csv",
    tags=["kpis"],
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "One row per number shown"}},
)
def get_overview_csv(
    session: SessionDep,
    actor: ReadActor,
    settings: SettingsDep,
    start: FROM = None,
    end: TO = None,
) -> Response:
    """The overview's numbers as CSV: company-wide KPIs, then per service and per journey."""
    start, end = window(session, start, end)
    ov = OverviewRead.model_validate(overview(session, start=start, end=end, settings=settings))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(OVERVIEW_CSV_COLUMNS)
    for h in [*ov.ops, *ov.cx]:
        writer.writerow(
            ["company", "all", h.kpi, _num(h.value), _num(h.low), _num(h.high), h.n,
             _num(h.previous), _num(h.delta)]
        )  # fmt: skip
    for row in ov.services:
        for key, g in row.kpis.items():
            writer.writerow(
                ["service", row.slug, key, _num(g.value), "", "", g.n, _num(g.previous),
                 _num(g.delta)]
            )  # fmt: skip
    for j in ov.journeys:
        g = j.conversion
        writer.writerow(
            ["journey", j.slug, g.kpi, _num(g.value), "", "", g.n, _num(g.previous), _num(g.delta)]
        )
    return Response(
        buffer.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="overview.csv"'},
    )
