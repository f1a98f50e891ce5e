"""Tables of the incidents room: incidents, their linked alerts and tickets, roles, timeline,
communications and templates, status-page subscriptions, playbooks and checklists, severity
tiers, the root-cause taxonomy, post-mortems, contributing factors and action items."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from juncture.kit import clock
from juncture.store.base import Base, IdMixin, JSONType, TimestampMixin, UTCDateTime

# Columns recomputed by the impact job on every run: not worth an audit row each time.
_NOISY = {"audit": False}


class Incident(IdMixin, TimestampMixin, Base):
    """One incident. ``started_at`` is when customers started to feel it (the earliest linked
    alert, or given); each lifecycle transition has its own time column (NULL until reached)."""

    __tablename__ = "incidents"
    __audited__ = True
    __table_args__ = (Index("ix_incidents_status_declared", "status", "declared_at"),)

    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(8), index=True)
    suggested_severity: Mapped[str | None] = mapped_column(String(8), default=None, info=_NOISY)
    impact_outgrown: Mapped[bool] = mapped_column(default=False, info=_NOISY)
    status: Mapped[str] = mapped_column(String(16), default="declared")
    kind: Mapped[str] = mapped_column(String(40), default="")  # deploy|dependency|capacity|...
    services: Mapped[list[str]] = mapped_column(JSONType, default=list)
    journeys: Mapped[list[str]] = mapped_column(JSONType, default=list)
    regions: Mapped[list[str]] = mapped_column(JSONType, default=list)
    customer_facing: Mapped[bool] = mapped_column(default=True)
    owner_team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="RESTRICT"), default=None, index=True
    )
    declared_by: Mapped[str] = mapped_column(String(200), default="")
    source_alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="SET NULL"), default=None, index=True
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    detected_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    investigating_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    identified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    monitoring_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None, index=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # customer impact ends when customers stop feeling it (may precede resolution)
    impact_ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    root_cause: Mapped[str | None] = mapped_column(String(80), default=None, index=True)
    public: Mapped[bool] = mapped_column(default=False)
    impact: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, info=_NOISY)
    impact_computed_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), default=None, info=_NOISY
    )


class IncidentAlert(IdMixin, Base):
    """An alert attached to an incident (the one it was declared from, or joined later)."""

    __tablename__ = "incident_alerts"
    __table_args__ = (UniqueConstraint("incident_id", "alert_id"),)

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    attached_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    attached_by: Mapped[str] = mapped_column(String(200), default="")


class IncidentTicket(IdMixin, Base):
    """A ticket linked to an incident. ``linked_by`` is ``auto`` or the person who linked it;
    ``excluded`` keeps a ticket a person unlinked from being linked again automatically."""

    __tablename__ = "incident_tickets"
    __table_args__ = (UniqueConstraint("incident_id", "ticket_id"),)

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    ticket_id: Mapped[str] = mapped_column(String(200), index=True)
    linked_by: Mapped[str] = mapped_column(String(200), default="auto")
    score: Mapped[float] = mapped_column(Float, default=0.0)
    reasons: Mapped[list[str]] = mapped_column(JSONType, default=list)
    excluded: Mapped[bool] = mapped_column(default=False)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class RoleAssignment(IdMixin, Base):
    """Who held a role when. A hand-over ends the current holder's row (``released_at``) and
    starts a new one; the current holder is the row with ``released_at`` NULL."""

    __tablename__ = "incident_roles"
    __table_args__ = (Index("ix_incident_roles_incident_role", "incident_id", "role"),)

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    person: Mapped[str] = mapped_column(String(200))  # display name or e-mail
    assigned_by: Mapped[str] = mapped_column(String(200), default="")
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class TimelineEntry(IdMixin, Base):
    """One line of an incident's append-only timeline. ``source_key`` deduplicates entries
    captured automatically (for example ``alert:12:fired`` or ``deploy:<id>``)."""

    __tablename__ = "incident_timeline"
    __table_args__ = (
        Index("ix_incident_timeline_incident_at", "incident_id", "at"),
        UniqueConstraint("incident_id", "source_key"),
    )

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    source_key: Mapped[str | None] = mapped_column(String(200), default=None)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class CommTemplate(IdMixin, TimestampMixin, Base):
    """A communication template for one phase (incident status) and audience, rendered with the
    incident's fields in a sandboxed Jinja2 environment."""

    __tablename__ = "incident_comm_templates"
    __audited__ = True
    __table_args__ = (UniqueConstraint("phase", "audience", "name"),)

    name: Mapped[str] = mapped_column(String(120))
    phase: Mapped[str] = mapped_column(String(16))
    audience: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)


class IncidentUpdate(IdMixin, TimestampMixin, Base):
    """A communication about an incident. Customer-facing updates pass review before they are
    published; a published customer update is what the status page and the banner show."""

    __tablename__ = "incident_updates"
    __audited__ = True
    __table_args__ = (Index("ix_incident_updates_incident_state", "incident_id", "state"),)

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    audience: Mapped[str] = mapped_column(String(16))
    phase: Mapped[str] = mapped_column(String(16))
    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("incident_comm_templates.id", ondelete="SET NULL"), default=None
    )
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    component_status: Mapped[str] = mapped_column(String(16), default="degraded")
    services: Mapped[list[str]] = mapped_column(JSONType, default=list)
    regions: Mapped[list[str]] = mapped_column(JSONType, default=list)
    state: Mapped[str] = mapped_column(String(16), default="draft")
    author: Mapped[str] = mapped_column(String(200), default="")
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    reviewer: Mapped[str | None] = mapped_column(String(200), default=None)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    review_comment: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None, index=True)
    published_by: Mapped[str | None] = mapped_column(String(200), default=None)


class StatusSubscription(IdMixin, Base):
    """A subscriber of the public status page: an e-mail address or a webhook URL, optionally
    limited to some services and regions. ``token`` identifies it in the unsubscribe and
    confirmation links. An e-mail address subscribed through the public page gets updates only
    once ``confirmed_at`` is set (double opt-in: the address owner opened the link)."""

    __tablename__ = "status_subscriptions"
    __table_args__ = (UniqueConstraint("kind", "target"),)

    kind: Mapped[str] = mapped_column(String(16))  # email|webhook
    target: Mapped[str] = mapped_column(String(500))
    services: Mapped[list[str]] = mapped_column(JSONType, default=list)
    regions: Mapped[list[str]] = mapped_column(JSONType, default=list)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    last_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    confirm_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class StatusNotification(IdMixin, Base):
    """One delivery of a published update to one subscriber (sent or failed, with the error)."""

    __tablename__ = "status_notifications"
    __table_args__ = (UniqueConstraint("update_id", "subscription_id"),)

    update_id: Mapped[int] = mapped_column(ForeignKey("incident_updates.id", ondelete="CASCADE"))
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("status_subscriptions.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Playbook(IdMixin, TimestampMixin, Base):
    """A checklist mixing ops steps and UX mitigations. It is attached on declaration to an
    incident whose services or kind match (empty lists match everything)."""

    __tablename__ = "incident_playbooks"
    __audited__ = True

    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    services: Mapped[list[str]] = mapped_column(JSONType, default=list)
    kinds: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # [{"title": ..., "kind": "ops"|"ux", "detail": ..., "mitigation": "in_app_alert"|...}]
    steps: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)


class ChecklistItem(IdMixin, Base):
    """One playbook step attached to one incident, with its progress."""

    __tablename__ = "incident_checklist"
    __table_args__ = (Index("ix_incident_checklist_incident", "incident_id", "position"),)

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    playbook_id: Mapped[int | None] = mapped_column(
        ForeignKey("incident_playbooks.id", ondelete="SET NULL"), default=None
    )
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16), default="ops")  # ops|ux|comms
    detail: Mapped[str] = mapped_column(Text, default="")
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    done_by: Mapped[str | None] = mapped_column(String(200), default=None)
    skipped: Mapped[bool] = mapped_column(default=False)


class SeverityTier(IdMixin, TimestampMixin, Base):
    """A severity tier: the customer-impact rules that put an incident in it, its escalation
    matrix, who decides what (decision authority), and its response targets.

    ``criteria`` (any one met suffices): ``customers_share`` and ``orders_share`` (fractions of
    the baseline in the window), ``journeys`` (slugs), ``vip`` (the VIP segment is affected),
    ``regions`` (at least this many regions). ``authority`` maps a decision (``rollback``,
    ``customer_credits``, ``public_statement``) to a role or a team. ``escalation`` lists who
    is involved, in order, with the minutes after declaration.
    """

    __tablename__ = "incident_severity_tiers"
    __audited__ = True

    tier: Mapped[str] = mapped_column(String(8), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    criteria: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    escalation: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    authority: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    ack_minutes: Mapped[int] = mapped_column(Integer, default=15)
    update_every_minutes: Mapped[int] = mapped_column(Integer, default=30)


class RootCauseCategory(IdMixin, TimestampMixin, Base):
    """One node of the root-cause taxonomy (``code`` like ``change.deploy``; ``parent`` its
    parent's code)."""

    __tablename__ = "root_cause_categories"
    __audited__ = True

    code: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    parent: Mapped[str | None] = mapped_column(String(80), default=None)
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True)


class Postmortem(IdMixin, TimestampMixin, Base):
    """The blameless review of one incident. ``facts`` is the snapshot filled automatically
    (timeline, impact, detection and response times) when the draft is created or refreshed."""

    __tablename__ = "postmortems"
    __audited__ = True

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), unique=True
    )
    state: Mapped[str] = mapped_column(String(16), default="draft")
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    customer_experience: Mapped[str] = mapped_column(Text, default="")
    customer_experience_by: Mapped[str | None] = mapped_column(String(200), default=None)
    what_went_well: Mapped[str] = mapped_column(Text, default="")
    what_went_wrong: Mapped[str] = mapped_column(Text, default="")
    lessons: Mapped[str] = mapped_column(Text, default="")
    facts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    authors: Mapped[list[str]] = mapped_column(JSONType, default=list)
    reviewers: Mapped[list[str]] = mapped_column(JSONType, default=list)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    published_by: Mapped[str | None] = mapped_column(String(200), default=None)


class ContributingFactor(IdMixin, Base):
    """A contributing factor of a post-mortem, classified by the root-cause taxonomy."""

    __tablename__ = "postmortem_factors"

    postmortem_id: Mapped[int] = mapped_column(
        ForeignKey("postmortems.id", ondelete="CASCADE"), index=True
    )
    category: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text)
    primary: Mapped[bool] = mapped_column(default=False)


class ActionItem(IdMixin, TimestampMixin, Base):
    """A follow-up from a post-mortem with an owner and a due date."""

    __tablename__ = "postmortem_actions"
    __audited__ = True

    postmortem_id: Mapped[int] = mapped_column(
        ForeignKey("postmortems.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    owner: Mapped[str] = mapped_column(String(200))
    owner_team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), default=None
    )
    kind: Mapped[str] = mapped_column(String(16), default="fix")  # fix|detect|mitigate|process|cx
    due_on: Mapped[date | None] = mapped_column(Date, default=None)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|done|wont_do
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
