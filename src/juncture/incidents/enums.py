"""Vocabulary shared by the incidents room's modules (pure: no I/O)."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Lifecycle of an incident, in order. ``reviewed`` follows a published post-mortem."""

    DECLARED = "declared"
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    REVIEWED = "reviewed"


STATUS_ORDER: tuple[Status, ...] = tuple(Status)
OPEN_STATUSES: frozenset[Status] = frozenset(STATUS_ORDER[:4])


class Sev(StrEnum):
    """Severity tiers, most severe first."""

    SEV1 = "sev1"
    SEV2 = "sev2"
    SEV3 = "sev3"
    SEV4 = "sev4"


class Role(StrEnum):
    """Cross-functional incident roles."""

    COMMANDER = "commander"
    OPS_LEAD = "ops_lead"
    CX_LEAD = "cx_lead"
    COMMS_LEAD = "comms_lead"
    SCRIBE = "scribe"


class Audience(StrEnum):
    """Who a communication is written for. Only ``customers`` is published on the status page;
    ``frontline`` is the ready answer (macro) agents use on tickets about the incident."""

    CUSTOMERS = "customers"
    FRONTLINE = "frontline"
    EXECUTIVES = "executives"


class UpdateState(StrEnum):
    """Review flow of a communication. Customer-facing updates must be approved before they are
    published; internal ones may be published from draft."""

    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    PUBLISHED = "published"


class ComponentStatus(StrEnum):
    """What the public status page says about a service in a region."""

    OPERATIONAL = "operational"
    DEGRADED = "degraded"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"


class PostmortemState(StrEnum):
    """Review flow of a post-mortem."""

    DRAFT = "draft"
    IN_REVIEW = "in_review"
    PUBLISHED = "published"


class TimelineKind(StrEnum):
    """What a timeline entry records."""

    DECLARED = "declared"
    STATUS = "status"
    SEVERITY = "severity"
    ROLE = "role"
    ALERT = "alert"
    DEPLOY = "deploy"
    NOTE = "note"
    UPDATE = "update"
    TICKETS = "tickets"
    PLAYBOOK = "playbook"
    IMPACT = "impact"
    POSTMORTEM = "postmortem"
