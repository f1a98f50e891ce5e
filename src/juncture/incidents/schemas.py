"""Wire contract of the incidents room's core: incidents, roles, timeline, severity tiers, the
root-cause taxonomy and playbooks."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from juncture.incidents.enums import Role, Sev, Status
from juncture.kit.schemas import ReadModel, WriteModel

#: Decisions the authority chart of a tier assigns to a role or a team.
DECISIONS = ("rollback", "customer_credits", "public_statement")
Decision = Literal["rollback", "customer_credits", "public_statement"]
StepKind = Literal["ops", "ux", "comms"]
Mitigation = Literal[
    "in_app_alert", "alternative_flow", "feature_flag_off", "proactive_outreach", "rollback"
]
ROOT_CAUSE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"
Slugs = list[str]


# ---------------------------------------------------------------- incidents


class IncidentCreate(WriteModel):
    """Declare an incident. Services, journeys and regions are catalog slugs."""

    title: str = Field(min_length=1, max_length=300)
    severity: Sev
    services: Slugs = Field(max_length=50)
    summary: str = Field(default="", max_length=20_000)
    kind: str = Field(default="", max_length=40, description="deploy, dependency, capacity...")
    journeys: Slugs = Field(default_factory=list, max_length=50)
    regions: Slugs = Field(default_factory=list, max_length=50)
    started_at: datetime | None = Field(
        default=None, description="When customers started to feel it (default: earliest alert)"
    )
    owner_team_id: int | None = None
    customer_facing: bool = True
    alert_ids: list[int] = Field(default_factory=list, max_length=50)


class IncidentPatch(WriteModel):
    """Change an incident's description; unset fields stay as they are."""

    title: str | None = Field(default=None, min_length=1, max_length=300)
    summary: str | None = Field(default=None, max_length=20_000)
    services: Slugs | None = Field(default=None, max_length=50)
    journeys: Slugs | None = Field(default=None, max_length=50)
    regions: Slugs | None = Field(default=None, max_length=50)
    kind: str | None = Field(default=None, max_length=40)
    root_cause: str | None = Field(default=None, max_length=80, description="A taxonomy code")
    public: bool | None = None
    impact_ended_at: datetime | None = None
    customer_facing: bool | None = None


class IncidentRead(ReadModel):
    id: int
    title: str
    summary: str
    severity: str
    suggested_severity: str | None
    impact_outgrown: bool
    status: str
    kind: str
    services: list[str]
    journeys: list[str]
    regions: list[str]
    customer_facing: bool
    owner_team_id: int | None
    declared_by: str
    source_alert_id: int | None
    started_at: datetime
    detected_at: datetime | None
    declared_at: datetime
    acknowledged_at: datetime | None
    investigating_at: datetime | None
    identified_at: datetime | None
    monitoring_at: datetime | None
    resolved_at: datetime | None
    reviewed_at: datetime | None
    impact_ended_at: datetime | None
    root_cause: str | None
    public: bool
    impact: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class RoleAssignmentRead(ReadModel):
    id: int
    incident_id: int
    role: str
    person: str
    user_id: int | None
    assigned_by: str
    assigned_at: datetime
    released_at: datetime | None


class RolesRead(BaseModel):
    current: dict[str, RoleAssignmentRead]
    history: list[RoleAssignmentRead]


class ChecklistItemRead(ReadModel):
    id: int
    incident_id: int
    playbook_id: int | None
    position: int
    title: str
    kind: str
    detail: str
    done_at: datetime | None
    done_by: str | None
    skipped: bool


class Durations(BaseModel):
    """Response times in seconds (None until both ends are known).

    ``time_to_detect``: started → detected; ``time_to_acknowledge``: detected → acknowledged;
    ``time_to_declare``: detected → declared; ``time_to_resolve``: started → resolved.
    """

    time_to_detect: float | None
    time_to_acknowledge: float | None
    time_to_declare: float | None
    time_to_resolve: float | None


class IncidentDetail(IncidentRead):
    """An incident with its roles, alerts, checklist and the rules of its severity tier."""

    roles: dict[str, RoleAssignmentRead]
    alert_ids: list[int]
    checklist: list[ChecklistItemRead]
    checklist_progress: float = Field(description="Share of items done or skipped (0..1)")
    authority: dict[str, Any] = Field(description="Decision → role or team, from the tier")
    escalation: list[Any] = Field(description="Who is involved, minutes after declaration")
    ack_minutes: int | None
    update_every_minutes: int | None
    durations: dict[str, float | None] = Field(
        description="Seconds: time_to_detect, time_to_acknowledge, time_to_declare, "
        "time_to_resolve (see Durations)"
    )


class TransitionIn(WriteModel):
    to: Status
    note: str = Field(default="", max_length=4000)


class RoleIn(WriteModel):
    role: Role
    person: str = Field(min_length=1, max_length=200)
    user_id: int | None = None


class SeverityIn(WriteModel):
    severity: Sev
    reason: str = Field(default="", max_length=4000)


class NoteIn(WriteModel):
    text: str = Field(min_length=1, max_length=20_000)
    at: datetime | None = None


class DeclareFromAlertIn(WriteModel):
    severity: Sev | None = None
    title: str | None = Field(default=None, min_length=1, max_length=300)


class AttachAlertIn(WriteModel):
    alert_id: int


class CheckItemIn(WriteModel):
    done: bool = True
    skipped: bool = False


class TimelineEntryRead(ReadModel):
    id: int
    incident_id: int
    at: datetime
    kind: str
    actor: str
    text: str
    data: dict[str, Any]
    source_key: str | None
    recorded_at: datetime


class CaptureResult(BaseModel):
    captured: int = Field(description="New timeline entries recorded by this run")


# ---------------------------------------------------------------- severity tiers


class TierCriteria(WriteModel):
    """Customer-impact criteria of a tier; any one met puts an incident in the tier."""

    customers_share: float | None = Field(default=None, ge=0, le=1)
    orders_share: float | None = Field(default=None, ge=0, le=1)
    journeys: list[str] = Field(default_factory=list)
    vip: bool = False
    regions: int | None = Field(default=None, ge=1)


class EscalationStep(WriteModel):
    who: str = Field(min_length=1, max_length=200, description="A role, team or person")
    minutes: int = Field(ge=0, le=7 * 24 * 60, description="Minutes after declaration")


class SeverityTierUpdate(WriteModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=4000)
    criteria: TierCriteria | None = None
    escalation: list[EscalationStep] | None = None
    authority: dict[Decision, str] | None = None
    ack_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    update_every_minutes: int | None = Field(default=None, ge=1, le=24 * 60)


class SeverityTierRead(ReadModel):
    id: int
    tier: str
    name: str
    description: str
    criteria: dict[str, Any]
    escalation: list[Any]
    authority: dict[str, Any]
    ack_minutes: int
    update_every_minutes: int
    updated_at: datetime


# ---------------------------------------------------------------- root-cause taxonomy


class RootCauseCreate(WriteModel):
    code: str = Field(min_length=1, max_length=80, pattern=ROOT_CAUSE_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)


class RootCauseUpdate(WriteModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    active: bool | None = None


class RootCauseRead(ReadModel):
    id: int
    code: str
    name: str
    parent: str | None
    description: str
    active: bool


# ---------------------------------------------------------------- playbooks


class PlaybookStep(WriteModel):
    title: str = Field(min_length=1, max_length=300)
    kind: StepKind = "ops"
    detail: str = Field(default="", max_length=4000)
    mitigation: Mitigation | None = None


class PlaybookCreate(WriteModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    services: Slugs = Field(default_factory=list, description="Empty: any service")
    kinds: list[str] = Field(default_factory=list, description="Empty: any incident kind")
    steps: list[PlaybookStep] = Field(min_length=1, max_length=100)
    enabled: bool = True


class PlaybookUpdate(WriteModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    services: Slugs | None = None
    kinds: list[str] | None = None
    steps: list[PlaybookStep] | None = Field(default=None, min_length=1, max_length=100)
    enabled: bool | None = None


class PlaybookRead(ReadModel):
    id: int
    name: str
    description: str
    services: list[str]
    kinds: list[str]
    steps: list[dict[str, Any]]
    enabled: bool
    created_at: datetime
    updated_at: datetime


class TicketLinkIn(WriteModel):
    ref: str = Field(min_length=1, max_length=200)


class TicketLinkRead(ReadModel):
    ticket_id: str
    linked_by: str
    score: float
    reasons: list[str]
    opened_at: datetime | None
    linked_at: datetime
