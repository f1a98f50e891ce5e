"""HTTP routes of the incidents room's core: incidents, their lifecycle, roles, severity,
timeline and export, declaring from an alert, severity tiers, the root-cause taxonomy and
playbooks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from juncture.api.deps import ReadActor, SessionDep, SettingsDep, WriteActor
from juncture.incidents import service
from juncture.incidents.common import timeline
from juncture.incidents.enums import Sev, Status
from juncture.incidents.schemas import (
    AttachAlertIn,
    CaptureResult,
    CheckItemIn,
    ChecklistItemRead,
    DeclareFromAlertIn,
    IncidentCreate,
    IncidentDetail,
    IncidentPatch,
    IncidentRead,
    NoteIn,
    PlaybookCreate,
    PlaybookRead,
    PlaybookUpdate,
    RoleAssignmentRead,
    RoleIn,
    RolesRead,
    RootCauseCreate,
    RootCauseRead,
    RootCauseUpdate,
    SeverityIn,
    SeverityTierRead,
    SeverityTierUpdate,
    TicketLinkIn,
    TicketLinkRead,
    TimelineEntryRead,
    TransitionIn,
)
from juncture.kit.schemas import Page

router = APIRouter()
NO_CONTENT = status.HTTP_204_NO_CONTENT


def _detail(session: SessionDep, incident_id: int) -> IncidentDetail:
    return service.incident_read(session, service.get_incident(session, incident_id=incident_id))


# ---------------------------------------------------------------- incidents


@router.post("/incidents", response_model=IncidentDetail, status_code=201, tags=["incidents"])
def declare(
    data: IncidentCreate, session: SessionDep, settings: SettingsDep, actor: WriteActor
) -> IncidentDetail:
    """Declare an incident (422 `unknown_service` / `unknown_journey` / `unknown_region`;
    409 `alert_already_declared` when a listed alert belongs to an open incident)."""
    incident = service.declare(
        session, data=data, lookback_hours=settings.incident_deploy_lookback_hours
    )
    return service.incident_read(session, incident)


@router.get("/incidents", response_model=Page[IncidentRead], tags=["incidents"])
def list_incidents(
    session: SessionDep,
    actor: ReadActor,
    status_filter: Annotated[Status | None, Query(alias="status")] = None,
    open_only: Annotated[bool, Query(alias="open", description="Only unresolved")] = False,
    severity: Sev | None = None,
    service_slug: Annotated[str | None, Query(alias="service")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[IncidentRead]:
    """Incidents, newest declaration first; `since`/`until` bound the declaration time."""
    rows = service.list_incidents(
        session,
        status=status_filter,
        open_only=open_only,
        severity=severity,
        service=service_slug,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    total = service.count_incidents(
        session,
        status=status_filter,
        open_only=open_only,
        severity=severity,
        service=service_slug,
        since=since,
        until=until,
    )
    return Page[IncidentRead](
        items=[IncidentRead.model_validate(r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/incidents/{incident_id}", response_model=IncidentDetail, tags=["incidents"])
def get_incident(incident_id: int, session: SessionDep, actor: ReadActor) -> IncidentDetail:
    """One incident with current roles, alerts, checklist, tier rules and durations."""
    return _detail(session, incident_id)


@router.patch("/incidents/{incident_id}", response_model=IncidentDetail, tags=["incidents"])
def update_incident(
    incident_id: int, data: IncidentPatch, session: SessionDep, actor: WriteActor
) -> IncidentDetail:
    """Change title, summary, services, journeys, regions, kind, root cause (422
    `unknown_root_cause`), public flag, impact end or customer-facing flag."""
    return service.incident_read(
        session, service.update_incident(session, incident_id=incident_id, data=data)
    )


@router.post(
    "/incidents/{incident_id}/transitions", response_model=IncidentDetail, tags=["incidents"]
)
def transition(
    incident_id: int, data: TransitionIn, session: SessionDep, actor: WriteActor
) -> IncidentDetail:
    """Move along the lifecycle (409 `invalid_transition`)."""
    incident = service.transition(session, incident_id=incident_id, to=data.to, note=data.note)
    return service.incident_read(session, incident)


@router.post(
    "/incidents/{incident_id}/roles",
    response_model=RoleAssignmentRead,
    status_code=201,
    tags=["incidents"],
)
def assign_role(incident_id: int, data: RoleIn, session: SessionDep, actor: WriteActor) -> object:
    """Give a role to a person; the previous holder is released (a hand-over)."""
    return service.assign_role(
        session, incident_id=incident_id, role=data.role, person=data.person, user_id=data.user_id
    )


@router.get("/incidents/{incident_id}/roles", response_model=RolesRead, tags=["incidents"])
def roles(incident_id: int, session: SessionDep, actor: ReadActor) -> RolesRead:
    """Current holders and the full hand-over history."""
    service.get_incident(session, incident_id=incident_id)
    return RolesRead(
        current={
            role: RoleAssignmentRead.model_validate(a)
            for role, a in service.current_roles(session, incident_id=incident_id).items()
        },
        history=[
            RoleAssignmentRead.model_validate(a)
            for a in service.role_history(session, incident_id=incident_id)
        ],
    )


@router.post("/incidents/{incident_id}/severity", response_model=IncidentDetail, tags=["incidents"])
def set_severity(
    incident_id: int, data: SeverityIn, session: SessionDep, actor: WriteActor
) -> IncidentDetail:
    incident = service.set_severity(
        session, incident_id=incident_id, severity=data.severity, reason=data.reason
    )
    return service.incident_read(session, incident)


@router.post(
    "/incidents/{incident_id}/notes",
    response_model=TimelineEntryRead,
    status_code=201,
    tags=["incidents"],
)
def add_note(incident_id: int, data: NoteIn, session: SessionDep, actor: WriteActor) -> object:
    return service.add_note(session, incident_id=incident_id, text=data.text, at=data.at)


@router.get(
    "/incidents/{incident_id}/timeline",
    response_model=list[TimelineEntryRead],
    tags=["incidents"],
)
def get_timeline(
    incident_id: int,
    session: SessionDep,
    actor: ReadActor,
    kind: Annotated[list[str] | None, Query(description="Only these kinds")] = None,
) -> object:
    """The timeline, oldest first."""
    service.get_incident(session, incident_id=incident_id)
    return timeline(session, incident_id=incident_id, kinds=kind)


@router.get("/incidents/{incident_id}/timeline.md", tags=["incidents"])
def export_markdown(incident_id: int, session: SessionDep, actor: ReadActor) -> Response:
    """The facts and timeline as a Markdown document (a download)."""
    text = service.export_timeline(session, incident_id=incident_id, fmt="markdown")
    return Response(
        text,
        media_type="text/markdown; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="incident-{incident_id}-timeline.md"'
        },
    )


@router.get("/incidents/{incident_id}/timeline.json", tags=["incidents"])
def export_json(incident_id: int, session: SessionDep, actor: ReadActor) -> Response:
    """The incident summary and its timeline as a JSON document (a download)."""
    text = service.export_timeline(session, incident_id=incident_id, fmt="json")
    return Response(
        text,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="incident-{incident_id}-timeline.json"'
        },
    )


@router.post("/incidents/{incident_id}/capture", response_model=CaptureResult, tags=["incidents"])
def capture(
    incident_id: int, session: SessionDep, settings: SettingsDep, actor: WriteActor
) -> CaptureResult:
    """Capture new alert events and deploys into the timeline now (idempotent)."""
    return CaptureResult(
        captured=service.capture(
            session,
            incident_id=incident_id,
            lookback_hours=settings.incident_deploy_lookback_hours,
        )
    )


@router.post(
    "/alerts/{alert_id}/declare", response_model=IncidentDetail, status_code=201, tags=["incidents"]
)
def declare_from_alert(
    alert_id: int,
    session: SessionDep,
    settings: SettingsDep,
    actor: WriteActor,
    data: DeclareFromAlertIn | None = None,
) -> IncidentDetail:
    """Declare an incident from an alert in one action; the alert is acknowledged (409
    `alert_already_declared` when it already belongs to an open incident)."""
    body = data or DeclareFromAlertIn()
    incident = service.declare_from_alert(
        session,
        alert_id=alert_id,
        severity=body.severity,
        title=body.title,
        lookback_hours=settings.incident_deploy_lookback_hours,
    )
    return service.incident_read(session, incident)


@router.post("/incidents/{incident_id}/alerts", response_model=IncidentDetail, tags=["incidents"])
def attach_alert(
    incident_id: int, data: AttachAlertIn, session: SessionDep, actor: WriteActor
) -> IncidentDetail:
    """Attach an alert (409 `alert_already_declared` / `alert_already_attached`)."""
    incident = service.attach_alert(session, incident_id=incident_id, alert_id=data.alert_id)
    return service.incident_read(session, incident)


@router.post(
    "/incidents/{incident_id}/checklist/{item_id}",
    response_model=ChecklistItemRead,
    tags=["incidents"],
)
def check_item(
    incident_id: int,
    item_id: int,
    session: SessionDep,
    actor: WriteActor,
    data: CheckItemIn | None = None,
) -> object:
    """Tick (default), skip or untick a checklist step."""
    body = data or CheckItemIn()
    return service.check_item(
        session, incident_id=incident_id, item_id=item_id, done=body.done, skipped=body.skipped
    )


# ---------------------------------------------------------------- severity tiers


@router.get("/incident-severity-tiers", response_model=list[SeverityTierRead], tags=["incidents"])
def list_tiers(session: SessionDep, actor: ReadActor) -> object:
    return service.list_tiers(session)


@router.get("/incident-severity-tiers/{tier}", response_model=SeverityTierRead, tags=["incidents"])
def get_tier(tier: Sev, session: SessionDep, actor: ReadActor) -> object:
    return service.get_tier_or_raise(session, tier=tier)


@router.patch(
    "/incident-severity-tiers/{tier}", response_model=SeverityTierRead, tags=["incidents"]
)
def update_tier(
    tier: Sev, data: SeverityTierUpdate, session: SessionDep, actor: WriteActor
) -> object:
    """Change criteria, escalation matrix, decision authority or response targets."""
    return service.update_tier(session, tier=tier, data=data)


# ---------------------------------------------------------------- root-cause taxonomy


@router.get("/root-causes", response_model=list[RootCauseRead], tags=["incidents"])
def list_root_causes(session: SessionDep, actor: ReadActor, active: bool = False) -> object:
    """The taxonomy by code; `active=true` hides deactivated categories."""
    return service.list_root_causes(session, active_only=active)


@router.post("/root-causes", response_model=RootCauseRead, status_code=201, tags=["incidents"])
def create_root_cause(data: RootCauseCreate, session: SessionDep, actor: WriteActor) -> object:
    """Add a category (409 `root_cause_exists`, 422 `unknown_parent`)."""
    return service.create_root_cause(session, data=data)


@router.patch("/root-causes/{code}", response_model=RootCauseRead, tags=["incidents"])
def update_root_cause(
    code: str, data: RootCauseUpdate, session: SessionDep, actor: WriteActor
) -> object:
    """Rename or (de)activate a category; categories are never deleted."""
    return service.update_root_cause(session, code=code, data=data)


# ---------------------------------------------------------------- playbooks


@router.get("/playbooks", response_model=list[PlaybookRead], tags=["incidents"])
def list_playbooks(session: SessionDep, actor: ReadActor, enabled: bool | None = None) -> object:
    return service.list_playbooks(session, enabled=enabled)


@router.post("/playbooks", response_model=PlaybookRead, status_code=201, tags=["incidents"])
def create_playbook(data: PlaybookCreate, session: SessionDep, actor: WriteActor) -> object:
    return service.create_playbook(session, data=data)


@router.get("/playbooks/{playbook_id}", response_model=PlaybookRead, tags=["incidents"])
def get_playbook(playbook_id: int, session: SessionDep, actor: ReadActor) -> object:
    return service.get_playbook_or_raise(session, playbook_id=playbook_id)


@router.patch("/playbooks/{playbook_id}", response_model=PlaybookRead, tags=["incidents"])
def update_playbook(
    playbook_id: int, data: PlaybookUpdate, session: SessionDep, actor: WriteActor
) -> object:
    return service.update_playbook(session, playbook_id=playbook_id, data=data)


@router.delete("/playbooks/{playbook_id}", status_code=NO_CONTENT, tags=["incidents"])
def delete_playbook(playbook_id: int, session: SessionDep, actor: WriteActor) -> Response:
    service.delete_playbook(session, playbook_id=playbook_id)
    return Response(status_code=NO_CONTENT)


# ---------------------------------------------------------------- impact and linked tickets


@router.get("/incidents/{incident_id}/impact", tags=["incidents"])
def get_impact(
    incident_id: int, session: SessionDep, actor: ReadActor, refresh: bool = False
) -> dict[str, Any]:
    """The incident's customer impact, measured from signals against baseline: customers and
    sessions affected, lost conversions and revenue, the ticket surge and linked tickets,
    exposed versus unexposed sentiment and CSAT/NPS, SLA breaches, a series for charts, and the
    suggested severity. Measured again when older than a minute (or with `refresh=true`)."""
    incident = service.impact.current_impact(session, incident_id=incident_id, refresh=refresh)
    return {
        "incident_id": incident.id,
        "computed_at": incident.impact_computed_at,
        "severity": incident.severity,
        "suggested_severity": incident.suggested_severity,
        "impact_outgrown": incident.impact_outgrown,
        **dict(incident.impact or {}),
    }


@router.get(
    "/incidents/{incident_id}/tickets", response_model=list[TicketLinkRead], tags=["incidents"]
)
def linked_tickets(incident_id: int, session: SessionDep, actor: ReadActor) -> object:
    """Tickets linked to the incident, automatically (by time, region, service, category and
    text similarity) or by hand; unlinked ones stay out."""
    return service.linking.linked_tickets(session, incident_id=incident_id)


@router.post(
    "/incidents/{incident_id}/tickets",
    response_model=TicketLinkRead,
    status_code=201,
    tags=["incidents"],
)
def link_ticket(
    incident_id: int, data: TicketLinkIn, session: SessionDep, actor: WriteActor
) -> object:
    """Link a ticket by hand (404 `ticket_not_found` for an unknown reference)."""
    return service.linking.link_ticket(session, incident_id=incident_id, ticket_ref=data.ref)


@router.delete("/incidents/{incident_id}/tickets/{ref}", status_code=204, tags=["incidents"])
def unlink_ticket(incident_id: int, ref: str, session: SessionDep, actor: WriteActor) -> Response:
    """Unlink a ticket; automatic linking will not link it again."""
    service.linking.unlink_ticket(session, incident_id=incident_id, ticket_ref=ref)
    return Response(status_code=204)
