"""Incident pages: the list (with the declare form) and the incident room — status and
lifecycle, roles, the customer-impact panel with charts, linked tickets, the timeline, the
communications with their review step, the playbook checklist, and the decision chart.

They call the same ``juncture.incidents`` functions as ``/api/v1/incidents``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from juncture.api.deps import PageReader, PageWriter, SessionDep
from juncture.catalog import service as catalog_service
from juncture.incidents import comms, linking, postmortems
from juncture.incidents import service as incidents
from juncture.incidents.comms_schemas import UpdateDraft
from juncture.incidents.enums import Audience, ComponentStatus, Role, Sev, Status
from juncture.incidents.schemas import (
    IncidentCreate,
    NoteIn,
    PlaybookCreate,
    RoleIn,
    RootCauseCreate,
    RootCauseUpdate,
    SeverityIn,
    SeverityTierUpdate,
    TransitionIn,
)
from juncture.kit import clock
from juncture.kit.errors import Invalid, JunctureError
from juncture.web.forms import attempt, parse
from juncture.web.kpis import svg_line
from juncture.web.render import render

router = APIRouter(include_in_schema=False)
FormStr = Annotated[str, Form()]
FormList = Annotated[list[str], Form()]

STATUS_FILTERS = ("open", "resolved", "reviewed", "all")
ROLE_LABELS = {
    Role.COMMANDER.value: "Incident commander",
    Role.OPS_LEAD.value: "Ops lead",
    Role.CX_LEAD.value: "CX lead",
    Role.COMMS_LEAD.value: "Communications lead",
    Role.SCRIBE.value: "Scribe",
}
#: The buttons of each status: the next steps a person would take.
NEXT_STEPS: dict[str, tuple[Status, ...]] = {
    Status.DECLARED.value: (Status.INVESTIGATING, Status.IDENTIFIED, Status.RESOLVED),
    Status.INVESTIGATING.value: (Status.IDENTIFIED, Status.MONITORING, Status.RESOLVED),
    Status.IDENTIFIED.value: (Status.MONITORING, Status.RESOLVED),
    Status.MONITORING.value: (Status.RESOLVED, Status.INVESTIGATING),
    Status.RESOLVED.value: (Status.INVESTIGATING,),
    Status.REVIEWED.value: (),
}
DONE = {
    "declared": "Incident declared.",
    "status": "Status changed.",
    "role": "Role assigned.",
    "severity": "Severity changed.",
    "note": "Note added.",
    "check": "Checklist updated.",
    "update": "Communication saved.",
    "tickets": "Linked tickets updated.",
    "impact": "Impact recomputed.",
}


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def duration(seconds: float | None) -> str:
    """``1 h 05 min`` style durations for the page (``—`` when unknown)."""
    if seconds is None:
        return "—"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def _money(value: Any) -> str:
    try:
        return f"{float(value):,.0f}"
    except (TypeError, ValueError):
        return "—"


def _count(value: Any) -> str:
    try:
        return f"{round(float(value)):,}"
    except (TypeError, ValueError):
        return "—"


def _short(value: Any) -> str:
    try:
        return datetime.fromisoformat(str(value)).strftime("%d %b %H:%M UTC")
    except ValueError:
        return ""


def impact_charts(series: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two small SVG charts from the impact series: conversions against the expected ones, and
    tickets opened per interval (against an expected background when the series has one).
    Each point is ``{"at": iso time, name: value, ...}``."""
    charts: list[dict[str, Any]] = []
    if not series:
        return charts
    pairs = (
        ("Completed orders", "conversions", "expected_conversions"),
        ("Tickets opened", "tickets", "expected_tickets"),
    )
    width, height, left, right, top, bottom = 360, 120, 8, 352, 8, 108
    n = len(series)
    for title, actual, expected in pairs:
        values = [float(p.get(actual) or 0) for p in series]
        base = [p.get(expected) for p in series]
        top_value = max([*values, *(float(b) for b in base if b is not None), 1.0])

        def x(i: int) -> float:
            return left + (right - left) * (i / max(n - 1, 1))

        def y(v: float, top_value: float = top_value) -> float:
            return bottom - (bottom - top) * (v / top_value)

        charts.append(
            {
                "title": title,
                "width": width,
                "height": height,
                "line": svg_line([(x(i), y(v)) for i, v in enumerate(values)]),
                "expected": svg_line(
                    [(x(i), y(float(b))) for i, b in enumerate(base) if b is not None]
                ),
                "max": top_value,
                "first": _short(series[0].get("at")),
                "last": _short(series[-1].get("at")),
                "label": f"{title} per interval, line: observed, dashed: expected",
            }
        )
    return charts


def _context(session: Session, incident_id: int) -> dict[str, Any]:
    incident = incidents.get_incident_or_raise(session, incident_id=incident_id)
    read = incidents.incident_read(session, incident)
    impact = incident.impact or {}
    return {
        "i": incident,
        "read": read,
        "impact": impact,
        "charts": impact_charts(impact.get("series") or []),
        "timeline": incidents.timeline(session, incident_id=incident.id),
        "roles": incidents.current_roles(session, incident_id=incident.id),
        "role_history": incidents.role_history(session, incident_id=incident.id),
        "role_labels": ROLE_LABELS,
        "updates": comms.list_updates(session, incident_id=incident.id),
        "templates": comms.list_templates(session),
        "tickets": linking.linked_tickets(session, incident_id=incident.id),
        "postmortem": postmortems.postmortem_for_incident(session, incident_id=incident.id),
        "macro": comms.frontline_macro(session, incident_id=incident.id),
        "next_steps": NEXT_STEPS.get(incident.status, ()),
        "severities": [s.value for s in Sev],
        "audiences": [a.value for a in Audience],
        "component_statuses": [c.value for c in ComponentStatus],
        "duration": duration,
        "money": _money,
        "count": _count,
    }


def _room(
    request: Request,
    session: Session,
    incident_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    ctx = _context(session, incident_id)
    ctx["flash"] = DONE.get(request.query_params.get("done", ""))
    ctx["action_error"] = error
    return render(request, "incident.html", ctx, status_code=status_code)


def _act(
    request: Request,
    session: Session,
    incident_id: int,
    done: str,
    action: Callable[[], Any],
) -> Response:
    return attempt(
        session,
        action,
        f"/incidents/{incident_id}?done={done}",
        lambda exc: _room(
            request, session, incident_id, error=exc.detail, status_code=exc.status_code
        ),
    )


# ---------------------------------------------------------------- list and declare


def _list_context(session: Session, status: str, severity: str) -> dict[str, Any]:
    rows = incidents.list_incidents(
        session,
        open_only=status == "open",
        status=status if status in ("resolved", "reviewed") else None,
        severity=severity or None,
        limit=200,
    )
    return {
        "incidents": rows,
        "status": status,
        "severity": severity,
        "statuses": STATUS_FILTERS,
        "severities": [s.value for s in Sev],
        "services": catalog_service.list_services(session),
        "regions": catalog_service.list_regions(session),
        "counts": incidents.incident_counts_by_status(session),
        "duration": duration,
        "count": _count,
        "money": _money,
        "now": clock.now(),
    }


@router.get("/incidents")
def incidents_page(
    request: Request,
    session: SessionDep,
    actor: PageReader,
    status: str = "open",
    severity: str = "",
) -> Response:
    status = status if status in STATUS_FILTERS else "open"
    severity = severity if severity in {s.value for s in Sev} else ""
    return render(request, "incidents.html", _list_context(session, status, severity))


@router.post("/incidents")
def incidents_declare(
    request: Request,
    session: SessionDep,
    actor: PageWriter,
    title: FormStr,
    severity: FormStr,
    services: FormList,
    summary: FormStr = "",
    regions: Annotated[list[str] | None, Form()] = None,
) -> Response:
    data = {
        "title": title,
        "severity": severity,
        "services": services,
        "regions": regions or [],
        "summary": summary,
    }
    try:
        with session.begin_nested():
            created = incidents.declare(session, data=parse(IncidentCreate, data))
            incidents.impact.refresh_impact(session, incident_id=created.id)
    except JunctureError as exc:
        ctx = _list_context(session, "open", "") | {"form_error": exc.detail, "form": data}
        return render(request, "incidents.html", ctx, status_code=exc.status_code)
    return _see_other(f"/incidents/{created.id}?done=declared")


@router.post("/alerts/{alert_id}/declare")
def alert_declare(
    request: Request, alert_id: int, session: SessionDep, actor: PageWriter
) -> Response:
    try:
        with session.begin_nested():
            created = incidents.declare_from_alert(session, alert_id=alert_id)
            incidents.impact.refresh_impact(session, incident_id=created.id)
    except JunctureError as exc:
        from juncture.web.alerts import render_alert

        return render_alert(
            request, session, alert_id, error=exc.detail, status_code=exc.status_code
        )
    return _see_other(f"/incidents/{created.id}?done=declared")


# ---------------------------------------------------------------- settings: tiers, taxonomy,
# playbooks, communication templates (the same service functions as their API routes)


def _settings_page(
    request: Request, session: Session, *, error: str | None = None, status_code: int = 200
) -> Response:
    ctx = {
        "tiers": incidents.list_tiers(session),
        "causes": incidents.list_root_causes(session),
        "playbooks": incidents.list_playbooks(session),
        "templates": comms.list_templates(session),
        "flash": {"saved": "Saved."}.get(request.query_params.get("done", "")),
        "form_error": error,
    }
    return render(request, "incident_settings.html", ctx, status_code=status_code)


def _settings_act(request: Request, session: Session, action: Callable[[], Any]) -> Response:
    return attempt(
        session,
        action,
        "/incidents/settings?done=saved",
        lambda exc: _settings_page(request, session, error=exc.detail, status_code=exc.status_code),
    )


@router.get("/incidents/settings")
def incident_settings(request: Request, session: SessionDep, actor: PageReader) -> Response:
    return _settings_page(request, session)


def _share(text: str) -> float | None:
    """A percentage field (``10`` or ``10 %``) as a fraction; empty: not used."""
    text = text.strip().rstrip("%").strip()
    if not text:
        return None
    try:
        return float(text) / 100.0
    except ValueError as exc:
        raise Invalid(f"{text!r} is not a percentage", code="validation_error") from exc


@router.post("/incidents/settings/tiers/{tier}")
def incident_settings_tier(
    request: Request,
    tier: str,
    session: SessionDep,
    actor: PageWriter,
    customers_pct: FormStr = "",
    orders_pct: FormStr = "",
    journeys: FormStr = "",
    regions: FormStr = "",
    vip: FormStr = "",
    ack_minutes: FormStr = "15",
    update_every_minutes: FormStr = "30",
) -> Response:
    def action() -> None:
        data = {
            "criteria": {
                "customers_share": _share(customers_pct),
                "orders_share": _share(orders_pct),
                "journeys": [j.strip() for j in journeys.split(",") if j.strip()],
                "vip": vip == "on",
                "regions": int(regions) if regions.strip() else None,
            },
            "ack_minutes": ack_minutes,
            "update_every_minutes": update_every_minutes,
        }
        incidents.update_tier(session, tier=tier, data=parse(SeverityTierUpdate, data))

    return _settings_act(request, session, action)


@router.post("/incidents/settings/root-causes")
def incident_settings_cause(
    request: Request,
    session: SessionDep,
    actor: PageWriter,
    code: FormStr,
    name: FormStr,
    description: FormStr = "",
) -> Response:
    data = {"code": code.strip(), "name": name.strip(), "description": description}
    return _settings_act(
        request,
        session,
        lambda: incidents.create_root_cause(session, data=parse(RootCauseCreate, data)),
    )


@router.post("/incidents/settings/root-causes/{code}/active")
def incident_settings_cause_active(
    request: Request, code: str, session: SessionDep, actor: PageWriter, active: FormStr = "0"
) -> Response:
    return _settings_act(
        request,
        session,
        lambda: incidents.update_root_cause(
            session, code=code, data=RootCauseUpdate(active=active == "1")
        ),
    )


def parse_steps(text: str) -> list[dict[str, str]]:
    """Playbook steps from a textarea: one per line, ``ops: Roll back`` or ``ux: In-app banner``
    (no prefix: an ops step)."""
    steps = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        kind, sep, title = line.partition(":")
        if sep and kind.strip().lower() in ("ops", "ux", "comms"):
            steps.append({"kind": kind.strip().lower(), "title": title.strip()})
        else:
            steps.append({"kind": "ops", "title": line})
    return steps


@router.post("/incidents/settings/playbooks")
def incident_settings_playbook(
    request: Request,
    session: SessionDep,
    actor: PageWriter,
    name: FormStr,
    steps: FormStr,
    services: FormStr = "",
    kinds: FormStr = "",
    description: FormStr = "",
) -> Response:
    data = {
        "name": name.strip(),
        "description": description,
        "services": [s.strip() for s in services.split(",") if s.strip()],
        "kinds": [k.strip() for k in kinds.split(",") if k.strip()],
        "steps": parse_steps(steps),
    }
    return _settings_act(
        request,
        session,
        lambda: incidents.create_playbook(session, data=parse(PlaybookCreate, data)),
    )


@router.post("/incidents/settings/playbooks/{playbook_id}/delete")
def incident_settings_playbook_delete(
    request: Request, playbook_id: int, session: SessionDep, actor: PageWriter
) -> Response:
    return _settings_act(
        request, session, lambda: incidents.delete_playbook(session, playbook_id=playbook_id)
    )


@router.post("/incidents/settings/templates/{template_id}")
def incident_settings_template(
    request: Request,
    template_id: int,
    session: SessionDep,
    actor: PageWriter,
    subject: FormStr,
    body: FormStr,
) -> Response:
    return _settings_act(
        request,
        session,
        lambda: comms.update_template(session, template_id=template_id, subject=subject, body=body),
    )


# ---------------------------------------------------------------- the incident room


@router.get("/incidents/{incident_id}")
def incident_page(
    request: Request, incident_id: int, session: SessionDep, actor: PageReader
) -> Response:
    return _room(request, session, incident_id)


@router.post("/incidents/{incident_id}/status")
def incident_status(
    request: Request,
    incident_id: int,
    session: SessionDep,
    actor: PageWriter,
    to: FormStr,
    note: FormStr = "",
) -> Response:
    def action() -> None:
        data = parse(TransitionIn, {"to": to, "note": note})
        incidents.transition(session, incident_id=incident_id, to=data.to, note=data.note)

    return _act(request, session, incident_id, "status", action)


@router.post("/incidents/{incident_id}/roles")
def incident_role(
    request: Request,
    incident_id: int,
    session: SessionDep,
    actor: PageWriter,
    role: FormStr,
    person: FormStr,
) -> Response:
    def action() -> None:
        data = parse(RoleIn, {"role": role, "person": person.strip()})
        incidents.assign_role(session, incident_id=incident_id, role=data.role, person=data.person)

    return _act(request, session, incident_id, "role", action)


@router.post("/incidents/{incident_id}/severity")
def incident_severity(
    request: Request,
    incident_id: int,
    session: SessionDep,
    actor: PageWriter,
    severity: FormStr,
    reason: FormStr = "",
) -> Response:
    def action() -> None:
        data = parse(SeverityIn, {"severity": severity, "reason": reason})
        incidents.set_severity(
            session, incident_id=incident_id, severity=data.severity, reason=data.reason
        )

    return _act(request, session, incident_id, "severity", action)


@router.post("/incidents/{incident_id}/notes")
def incident_note(
    request: Request, incident_id: int, session: SessionDep, actor: PageWriter, text: FormStr
) -> Response:
    def action() -> None:
        data = parse(NoteIn, {"text": text.strip()})
        incidents.add_note(session, incident_id=incident_id, text=data.text)

    return _act(request, session, incident_id, "note", action)


@router.post("/incidents/{incident_id}/checklist/{item_id}")
def incident_check(
    request: Request,
    incident_id: int,
    item_id: int,
    session: SessionDep,
    actor: PageWriter,
    done: FormStr = "1",
) -> Response:
    return _act(
        request,
        session,
        incident_id,
        "check",
        lambda: incidents.check_item(
            session, incident_id=incident_id, item_id=item_id, done=done == "1"
        ),
    )


@router.post("/incidents/{incident_id}/impact")
def incident_impact_refresh(
    request: Request, incident_id: int, session: SessionDep, actor: PageWriter
) -> Response:
    return _act(
        request,
        session,
        incident_id,
        "impact",
        lambda: incidents.impact.refresh_impact(session, incident_id=incident_id),
    )


@router.post("/incidents/{incident_id}/tickets")
def incident_link_ticket(
    request: Request, incident_id: int, session: SessionDep, actor: PageWriter, ref: FormStr
) -> Response:
    return _act(
        request,
        session,
        incident_id,
        "tickets",
        lambda: linking.link_ticket(session, incident_id=incident_id, ticket_ref=ref.strip()),
    )


@router.post("/incidents/{incident_id}/tickets/unlink")
def incident_unlink_ticket(
    request: Request, incident_id: int, session: SessionDep, actor: PageWriter, ref: FormStr
) -> Response:
    return _act(
        request,
        session,
        incident_id,
        "tickets",
        lambda: linking.unlink_ticket(session, incident_id=incident_id, ticket_ref=ref),
    )


# ---------------------------------------------------------------- communications


@router.post("/incidents/{incident_id}/updates")
def incident_draft_update(
    request: Request,
    incident_id: int,
    session: SessionDep,
    actor: PageWriter,
    audience: FormStr,
    component_status: FormStr = "degraded",
    subject: FormStr = "",
    body: FormStr = "",
) -> Response:
    def action() -> None:
        data = parse(
            UpdateDraft,
            {
                "audience": audience,
                "component_status": component_status,
                "subject": subject.strip() or None,
                "body": body.strip() or None,
            },
        )
        comms.draft_update(
            session,
            incident_id=incident_id,
            audience=data.audience,
            subject=data.subject,
            body=data.body,
            component_status=data.component_status,
        )

    return _act(request, session, incident_id, "update", action)


def _update_action(session: Session, update_id: int, step: str, comment: str) -> None:
    if step == "submit":
        comms.submit_update(session, update_id=update_id)
    elif step == "approve":
        comms.review_update(session, update_id=update_id, approve=True, comment=comment)
    elif step == "reject":
        comms.review_update(session, update_id=update_id, approve=False, comment=comment)
    elif step == "publish":
        comms.publish_update(session, update_id=update_id)
    else:
        raise Invalid(f"unknown step {step!r}", code="invalid_step")


@router.post("/incidents/{incident_id}/updates/{update_id}/{step}")
def incident_update_step(
    request: Request,
    incident_id: int,
    update_id: int,
    step: str,
    session: SessionDep,
    actor: PageWriter,
    comment: FormStr = "",
) -> Response:
    return _act(
        request,
        session,
        incident_id,
        "update",
        lambda: _update_action(session, update_id, step, comment),
    )


@router.post("/incidents/{incident_id}/postmortem")
def incident_postmortem(
    request: Request, incident_id: int, session: SessionDep, actor: PageWriter
) -> Response:
    existing = postmortems.postmortem_for_incident(session, incident_id=incident_id)
    if existing is not None:
        return _see_other(f"/postmortems/{existing.id}")
    try:
        with session.begin_nested():
            created = postmortems.create_postmortem(session, incident_id=incident_id)
    except JunctureError as exc:
        return _room(request, session, incident_id, error=exc.detail, status_code=exc.status_code)
    return _see_other(f"/postmortems/{created.id}")
