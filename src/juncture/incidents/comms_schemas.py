"""Pydantic models of the communications, status page and post-mortem APIs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from juncture.incidents.enums import Audience, ComponentStatus
from juncture.kit.schemas import ReadModel, WriteModel

Phase = Literal["declared", "investigating", "identified", "monitoring", "resolved"]


# ---------------------------------------------------------------- templates and updates


class TemplateCreate(WriteModel):
    name: str = Field(default="default", min_length=1, max_length=120)
    phase: Phase
    audience: Audience
    subject: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=20_000)


class TemplateUpdate(WriteModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    phase: Phase | None = None
    audience: Audience | None = None
    subject: str | None = Field(default=None, min_length=1, max_length=300)
    body: str | None = Field(default=None, min_length=1, max_length=20_000)


class TemplateRead(ReadModel):
    id: int
    name: str
    phase: str
    audience: str
    subject: str
    body: str
    created_at: datetime
    updated_at: datetime


class UpdateDraft(WriteModel):
    """Draft an update; without ``body`` the template of the current phase is rendered."""

    audience: Audience
    template_id: int | None = None
    subject: str | None = Field(default=None, max_length=300)
    body: str | None = Field(default=None, max_length=20_000)
    component_status: ComponentStatus = ComponentStatus.DEGRADED
    services: list[str] | None = None
    regions: list[str] | None = None


class UpdateReview(WriteModel):
    approve: bool
    comment: str = Field(default="", max_length=2000)


class UpdateRead(ReadModel):
    id: int
    incident_id: int
    audience: str
    phase: str
    template_id: int | None
    subject: str
    body: str
    component_status: str
    services: list[str]
    regions: list[str]
    state: str
    author: str
    submitted_at: datetime | None
    reviewer: str | None
    reviewed_at: datetime | None
    review_comment: str
    published_at: datetime | None
    published_by: str | None
    created_at: datetime


class MacroRead(BaseModel):
    incident_id: int
    subject: str
    body: str
    ticket_tag: str
    source: Literal["update", "template"]
    update_id: int | None
    phase: str


# ---------------------------------------------------------------- status page


class PublicUpdateRead(ReadModel):
    id: int
    subject: str
    body: str
    phase: str
    component_status: str
    published_at: datetime


class PublicIncidentRead(ReadModel):
    id: int
    title: str
    status: str
    component_status: str
    services: list[str]
    regions: list[str]
    started_at: datetime
    resolved_at: datetime | None
    updates: list[PublicUpdateRead]


class DayStatus(BaseModel):
    day: date
    status: str


class ComponentRead(BaseModel):
    slug: str
    name: str
    status: str
    history: list[DayStatus] = Field(default_factory=list)


class StatusPageRead(BaseModel):
    generated_at: datetime
    status: str
    days: int
    services: list[ComponentRead]
    regions: list[ComponentRead]
    open_incidents: list[PublicIncidentRead]
    past_incidents: list[PublicIncidentRead]


class BannerRead(BaseModel):
    active: bool
    status: str
    subject: str | None
    body: str | None
    published_at: str | None
    incident_ids: list[int]
    updated_at: str | None
    status_url: str


class SubscriptionCreate(WriteModel):
    kind: Literal["email", "webhook"]
    target: str = Field(min_length=3, max_length=500)
    services: list[str] = Field(default_factory=list, max_length=100)
    regions: list[str] = Field(default_factory=list, max_length=100)


class SubscriptionCreated(BaseModel):
    """For a webhook, the token unsubscribes (``DELETE .../subscriptions/{token}``) and is the
    signing secret: keep it. An e-mail address gets a confirmation link instead (double
    opt-in: no token here, so nobody can confirm an address they do not read)."""

    kind: str
    target: str
    services: list[str]
    regions: list[str]
    token: str | None
    confirmed: bool


# ---------------------------------------------------------------- post-mortems


class PostmortemUpdate(WriteModel):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    summary: str | None = None
    customer_experience: str | None = None
    customer_experience_by: str | None = Field(default=None, max_length=200)
    what_went_well: str | None = None
    what_went_wrong: str | None = None
    lessons: str | None = None
    authors: list[str] | None = None
    reviewers: list[str] | None = None


class FactorCreate(WriteModel):
    category: str = Field(min_length=1, max_length=80)
    description: str = Field(min_length=1, max_length=5000)
    primary: bool = False


class FactorRead(ReadModel):
    id: int
    category: str
    description: str
    primary: bool


class ActionCreate(WriteModel):
    title: str = Field(min_length=1, max_length=300)
    owner: str = Field(min_length=1, max_length=200)
    due_on: date | None = None
    kind: Literal["fix", "detect", "mitigate", "process", "cx"] = "fix"
    owner_team_id: int | None = None


class ActionUpdate(WriteModel):
    status: Literal["open", "done", "wont_do"] | None = None
    title: str | None = Field(default=None, min_length=1, max_length=300)
    owner: str | None = Field(default=None, min_length=1, max_length=200)
    due_on: date | None = None


class ActionRead(ReadModel):
    id: int
    postmortem_id: int
    title: str
    owner: str
    owner_team_id: int | None
    kind: str
    due_on: date | None
    status: str
    done_at: datetime | None


class PostmortemSummary(ReadModel):
    id: int
    incident_id: int
    state: str
    title: str
    submitted_at: datetime | None
    published_at: datetime | None
    created_at: datetime


class PostmortemRead(PostmortemSummary):
    summary: str
    customer_experience: str
    customer_experience_by: str | None
    what_went_well: str
    what_went_wrong: str
    lessons: str
    facts: dict[str, Any]
    authors: list[str]
    reviewers: list[str]
    published_by: str | None
    factors: list[FactorRead] = Field(default_factory=list)
    actions: list[ActionRead] = Field(default_factory=list)
