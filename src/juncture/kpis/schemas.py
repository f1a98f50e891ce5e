"""Wire shapes of the kpis room."""

from __future__ import annotations

from datetime import datetime

from juncture.kit.schemas import ReadModel


class KpiInfo(ReadModel):
    key: str
    name: str
    family: str
    unit: str
    direction: str
    source: str
    formula: str
    slices: list[str]
    interval: bool
    available: bool
    unavailable_reason: str


class ValueRead(ReadModel):
    value: float | None
    low: float | None
    high: float | None
    n: int


class PointRead(ReadModel):
    bucket: datetime
    value: float | None
    low: float | None
    high: float | None
    n: int
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None


class ComparisonRead(ReadModel):
    previous: ValueRead
    previous_from: datetime
    previous_to: datetime
    delta: float | None
    relative: float | None
    delta_low: float | None
    delta_high: float | None
    p_value: float | None
    significant: bool
    test: str | None
    better: bool | None


class KpiRead(ReadModel):
    kpi: KpiInfo
    start: datetime
    end: datetime
    bucket: str
    group_by: str | None
    filters: dict[str, str]
    value: ValueRead
    comparison: ComparisonRead
    groups: dict[str, list[PointRead]]


class StandingRead(ReadModel):
    label: str
    value: float | None
    adjusted: float | None
    low: float | None
    high: float | None
    n: int
    rank: int


class ConsistencyRead(ReadModel):
    kpi: str
    by: str
    start: datetime
    end: datetime
    overall: float | None
    groups: list[StandingRead]
    gap: float | None
    iqr: float | None
    cv: float | None
    best: str | None
    worst: str | None
    method: str
