"""Wire contract of the catalog room."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, model_validator

from juncture.access.schemas import SLUG_PATTERN
from juncture.kit.schemas import ReadModel, WriteModel


class RegionCreate(WriteModel):
    slug: str = Field(pattern=SLUG_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field(default="UTC", max_length=64)


class RegionUpdate(WriteModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(default=None, max_length=64)


class RegionRead(ReadModel):
    id: int
    slug: str
    name: str
    timezone: str


class ChannelCreate(WriteModel):
    slug: str = Field(pattern=SLUG_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(default="digital", pattern="^(digital|assisted)$")


class ChannelUpdate(WriteModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: str | None = Field(default=None, pattern="^(digital|assisted)$")


class ChannelRead(ReadModel):
    id: int
    slug: str
    name: str
    kind: str


class ServiceCreate(WriteModel):
    slug: str = Field(pattern=SLUG_PATTERN, description="Short unique id, e.g. `checkout`")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    owner_team_id: int
    tier: int = Field(default=2, ge=1, le=4, description="1 = most critical")
    customer_facing: bool = True


class ServiceUpdate(WriteModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    owner_team_id: int | None = None
    tier: int | None = Field(default=None, ge=1, le=4)
    customer_facing: bool | None = None


class ServiceRead(ReadModel):
    id: int
    slug: str
    name: str
    description: str
    owner_team_id: int
    tier: int
    customer_facing: bool
    created_at: datetime


class StepIn(WriteModel):
    slug: str = Field(pattern=SLUG_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    service_ids: list[int] = Field(default_factory=list)


class StepRead(ReadModel):
    id: int
    position: int
    slug: str
    name: str
    service_ids: list[int]


class JourneyCreate(WriteModel):
    slug: str = Field(pattern=SLUG_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    owner_team_id: int | None = None
    steps: list[StepIn] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _unique_steps(self) -> JourneyCreate:
        slugs = [s.slug for s in self.steps]
        if len(set(slugs)) != len(slugs):
            raise ValueError("step slugs must be unique within a journey")
        return self


class JourneyUpdate(WriteModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    owner_team_id: int | None = None
    steps: list[StepIn] | None = Field(
        default=None, min_length=1, max_length=50, description="Replaces all steps when given"
    )

    @model_validator(mode="after")
    def _unique_steps(self) -> JourneyUpdate:
        if self.steps is not None:
            slugs = [s.slug for s in self.steps]
            if len(set(slugs)) != len(slugs):
                raise ValueError("step slugs must be unique within a journey")
        return self


class JourneyRead(ReadModel):
    id: int
    slug: str
    name: str
    description: str
    owner_team_id: int | None
    steps: list[StepRead]
    created_at: datetime
