"""Wire contract of OKRs: objectives, key results and check-ins."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field, model_validator

from juncture.kit.schemas import ReadModel, WriteModel

ObjectiveStatus = Literal["active", "achieved", "missed", "cancelled"]
KeyResultKind = Literal["kpi", "manual"]
Direction = Literal["up", "down"]
KrStatus = Literal["ahead", "on_track", "at_risk", "off_track", "no_data"]
StatusBasis = Literal["reached", "deadline", "trend", "pace"]
CheckinSource = Literal["computed", "manual"]

OBJECTIVE_STATUSES: tuple[str, ...] = ("active", "achieved", "missed", "cancelled")


class ObjectiveCreate(WriteModel):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    ops_team_id: int = Field(description="The owning operations team (kind `ops`)")
    cx_team_id: int = Field(description="The owning customer-experience team (kind `cx`)")
    period_start: date
    period_end: date
    status: ObjectiveStatus = "active"

    @model_validator(mode="after")
    def _check(self) -> ObjectiveCreate:
        if self.period_end < self.period_start:
            raise ValueError("period_end must not be before period_start")
        if self.ops_team_id == self.cx_team_id:
            raise ValueError("the ops and CX owner teams must be two different teams")
        return self


class ObjectiveUpdate(WriteModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    ops_team_id: int | None = None
    cx_team_id: int | None = None
    period_start: date | None = None
    period_end: date | None = None
    status: ObjectiveStatus | None = None


class KeyResultCreate(WriteModel):
    title: str = Field(min_length=1, max_length=200)
    kind: KeyResultKind = "kpi"
    kpi: str | None = Field(
        default=None, max_length=64, description="KPI key from the catalogue (kind `kpi`)"
    )
    filters: dict[str, str] = Field(
        default_factory=dict, description='Slice of the KPI, e.g. `{"region": "eu"}`'
    )
    baseline: float = Field(allow_inf_nan=False)
    target: float = Field(allow_inf_nan=False)
    direction: Direction | None = Field(
        default=None, description="Which way is good; defaults to the KPI's (manual: `up`)"
    )
    deadline: date | None = Field(default=None, description="Defaults to the objective's end")
    unit: str | None = Field(default=None, max_length=32, description="Defaults to the KPI's")
    current_value: float | None = Field(
        default=None, allow_inf_nan=False, description="Manual key results: a first value"
    )


class KeyResultUpdate(WriteModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    kpi: str | None = Field(default=None, max_length=64)
    filters: dict[str, str] | None = None
    baseline: float | None = Field(default=None, allow_inf_nan=False)
    target: float | None = Field(default=None, allow_inf_nan=False)
    direction: Direction | None = None
    deadline: date | None = None
    unit: str | None = Field(default=None, max_length=32)


class CheckinCreate(WriteModel):
    value: float = Field(allow_inf_nan=False)
    note: str = Field(default="", max_length=2000)
    at: datetime | None = Field(
        default=None, description="When the value was observed (aware); defaults to now"
    )

    @model_validator(mode="after")
    def _aware(self) -> CheckinCreate:
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("at must carry a time zone, e.g. 2026-11-02T09:15:00Z")
        return self


class CheckinRead(ReadModel):
    id: int
    key_result_id: int
    at: datetime
    value: float
    note: str
    source: CheckinSource
    actor: str


class KeyResultRead(ReadModel):
    id: int
    objective_id: int
    title: str
    kind: KeyResultKind
    kpi: str | None
    filters: dict[str, str]
    baseline: float
    target: float
    direction: Direction
    deadline: date
    unit: str
    current: float | None = Field(description="Latest value (None: no value yet)")
    current_at: datetime | None
    progress: float | None = Field(
        description="(current - baseline) / (target - baseline), clamped to 0..1"
    )
    status: KrStatus
    status_basis: StatusBasis | None = Field(
        description="What the status rests on: target reached, deadline passed, the trend of "
        "the check-ins (3+), or the pace since the period start (fewer check-ins)"
    )
    on_track: bool | None = Field(description="Will the target be met? None without data")
    projection: float | None = Field(
        description="Theil–Sen trend of the check-ins projected to the deadline (3+ check-ins)"
    )
    projection_low: float | None
    projection_high: float | None
    checkins: int = Field(description="Number of check-ins in the history")


class ObjectiveRead(ReadModel):
    id: int
    title: str
    description: str
    ops_team_id: int
    cx_team_id: int
    period_start: date
    period_end: date
    status: ObjectiveStatus
    progress: float | None = Field(description="Mean progress of the key results with a value")
    key_results: list[KeyResultRead]
    created_at: datetime
    updated_at: datetime
