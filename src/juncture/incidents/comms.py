"""Incident communications: templates per phase and audience, rendered in a sandbox, and the
draft → review → publish flow of updates.

Customer-facing updates must be approved by someone other than their author before they are
published; internal audiences (frontline, executives) may be published straight from draft.
Publishing a customer update queues one :class:`StatusNotification` per matching subscriber.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from sqlalchemy import select
from sqlalchemy.orm import Session

from juncture.config import Settings
from juncture.incidents.common import (
    actor_label,
    aware,
    flush_unique,
    get_incident_or_raise,
    get_or_raise,
    record_timeline,
)
from juncture.incidents.enums import (
    Audience,
    ComponentStatus,
    Status,
    TimelineKind,
    UpdateState,
)
from juncture.incidents.models import (
    CommTemplate,
    Incident,
    IncidentUpdate,
    StatusNotification,
    StatusSubscription,
)
from juncture.kit import clock
from juncture.kit.errors import Conflict, Invalid

#: Phases a template can be written for (the incident's status when the update is drafted).
PHASES: tuple[str, ...] = tuple(s.value for s in Status if s is not Status.REVIEWED)
#: Impact numbers copied from ``incident.impact`` into the template context.
IMPACT_KEYS: tuple[str, ...] = (
    "customers_affected",
    "lost_conversions",
    "estimated_lost_revenue",
    "extra_tickets",
    "customer_minutes",
)

_ENV = ImmutableSandboxedEnvironment(
    autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=False
)


# ---------------------------------------------------------------- rendering


def template_context(
    incident: Incident, *, status_url: str = "", now: datetime | None = None
) -> dict[str, Any]:
    """Return the variables a template sees: ``incident``, ``status_url`` and ``now``.

    Parameters
    ----------
    incident : Incident
        The incident being communicated about.
    status_url : str
        The public status page address.
    now : datetime, optional
        Rendering time (default: now).

    Returns
    -------
    dict
        Plain values only (no ORM objects reach the sandbox).
    """
    impact = dict(incident.impact or {})
    return {
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "severity": incident.severity,
            "status": incident.status,
            "services": list(incident.services or []),
            "regions": list(incident.regions or []),
            "journeys": list(incident.journeys or []),
            "started_at": clock.ensure_utc(incident.started_at).strftime("%Y-%m-%d %H:%M UTC"),
            "summary": incident.summary or "",
            "impact": {key: impact.get(key) for key in IMPACT_KEYS} | impact,
        },
        "status_url": status_url,
        "now": aware(now).strftime("%Y-%m-%d %H:%M UTC"),
    }


def check_template(text: str) -> None:
    """Refuse a template on save rather than when an incident needs it: invalid Jinja syntax,
    a variable the incident does not have (``template_error``), or anything the sandbox
    forbids (``template_unsafe``) — checked by rendering it for a sample incident."""
    try:
        _ENV.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        raise Invalid(
            f"template syntax error on line {exc.lineno}: {exc.message}", code="template_error"
        ) from exc
    render_text(text, _SAMPLE_CONTEXT)


_SAMPLE_CONTEXT = template_context(
    Incident(
        id=0,
        title="Checkout errors in Europe",
        severity="sev2",
        status="investigating",
        services=["checkout"],
        regions=["eu"],
        journeys=["purchase"],
        started_at=datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
        summary="",
        impact={},
    ),
    status_url="https://status.example/status",
    now=datetime(2026, 1, 1, 12, 30, tzinfo=UTC),
)


def render_text(text: str, context: Mapping[str, Any]) -> str:
    """Render ``text`` in the sandbox.

    Parameters
    ----------
    text : str
        Jinja2 template source.
    context : Mapping
        Variables (see :func:`template_context`).

    Returns
    -------
    str
        The rendered text.

    Raises
    ------
    Invalid
        ``template_error`` for syntax errors and undefined variables, ``template_unsafe`` when
        the template tries to reach outside the sandbox.
    """
    try:
        return _ENV.from_string(text).render(dict(context))
    except SecurityError as exc:
        raise Invalid(f"template refused: {exc}", code="template_unsafe") from exc
    except jinja2.TemplateError as exc:
        raise Invalid(f"template error: {exc}", code="template_error") from exc


def render_template(
    template: CommTemplate,
    incident: Incident,
    *,
    status_url: str = "",
    now: datetime | None = None,
) -> tuple[str, str]:
    """Render a template's subject and body for an incident; returns ``(subject, body)``."""
    ctx = template_context(incident, status_url=status_url, now=now)
    subject = " ".join(render_text(template.subject, ctx).split())
    return subject, render_text(template.body, ctx).strip()


def status_url() -> str:
    """The public status page address (``<public_url>/status``)."""
    return Settings().public_url.rstrip("/") + "/status"


# ---------------------------------------------------------------- templates


def default_templates() -> list[dict[str, str]]:
    """Return the built-in templates: customers, frontline and executives for each phase.

    Returns
    -------
    list of dict
        ``name``, ``phase``, ``audience``, ``subject`` and ``body`` of each template.
    """
    svc = "{{ incident.services | join(', ') or 'some of our services' }}"
    out: list[dict[str, str]] = []
    customer = {
        "investigating": (
            "Investigating: {{ incident.title }}",
            f"We are investigating a problem affecting {svc}. Some of you may see errors or "
            "slowness. We will post the next update within 30 minutes.\n\n{{ status_url }}",
        ),
        "identified": (
            "Identified: {{ incident.title }}",
            f"We have found the cause of the problem affecting {svc} and are working on a fix."
            "\n\n{{ status_url }}",
        ),
        "monitoring": (
            "Monitoring: {{ incident.title }}",
            f"A fix for the problem affecting {svc} is in place and we are watching the "
            "results.\n\n{{ status_url }}",
        ),
        "resolved": (
            "Resolved: {{ incident.title }}",
            f"The problem affecting {svc} is resolved. We are sorry for the inconvenience."
            "\n\n{{ status_url }}",
        ),
    }
    frontline = {
        "investigating": "We know about a problem with {svc} and our engineers are on it.",
        "identified": "We have found the cause of the problem with {svc} and a fix is underway.",
        "monitoring": "A fix for the problem with {svc} is in place; things should be back to "
        "normal.",
        "resolved": "The problem with {svc} is fixed. If it still happens, please tell us.",
    }
    for phase in ("investigating", "identified", "monitoring", "resolved"):
        subject, body = customer[phase]
        out.append(
            {
                "name": "default",
                "phase": phase,
                "audience": Audience.CUSTOMERS.value,
                "subject": subject,
                "body": body,
            }
        )
        out.append(
            {
                "name": "default",
                "phase": phase,
                "audience": Audience.FRONTLINE.value,
                "subject": "Known issue: {{ incident.title }}",
                "body": "Hello,\n\nThank you for reaching out. "
                + frontline[phase].format(svc=svc)
                + " You can follow progress on {{ status_url }}."
                + "\n\nTag: incident-{{ incident.id }}",
            }
        )
        out.append(
            {
                "name": "default",
                "phase": phase,
                "audience": Audience.EXECUTIVES.value,
                "subject": "[{{ incident.severity | upper }}] {{ incident.title }} ({{ "
                "incident.status }})",
                "body": "Incident {{ incident.id }}, {{ incident.severity }}, "
                "{{ incident.status }} since {{ incident.started_at }}.\n"
                f"Services: {svc}.\n"
                "Customers affected: {{ incident.impact.customers_affected or 'unknown' }}; "
                "lost conversions: {{ incident.impact.lost_conversions or 'unknown' }}; "
                "estimated lost revenue: {{ incident.impact.estimated_lost_revenue or 'unknown' }}."
                "\n{{ incident.summary }}",
            }
        )
    return out


def ensure_default_templates(session: Session) -> int:
    """Create the built-in templates that are missing; returns how many were created."""
    existing = {(t.phase, t.audience, t.name) for t in session.scalars(select(CommTemplate)).all()}
    created = 0
    for data in default_templates():
        if (data["phase"], data["audience"], data["name"]) in existing:
            continue
        session.add(CommTemplate(**data))
        created += 1
    session.flush()
    return created


def _check_phase_audience(phase: str, audience: str) -> None:
    if phase not in PHASES:
        raise Invalid(f"phase must be one of {', '.join(PHASES)}", code="invalid_phase")
    if audience not in {a.value for a in Audience}:
        raise Invalid(
            f"audience must be one of {', '.join(a.value for a in Audience)}",
            code="invalid_audience",
        )


def list_templates(
    session: Session, *, phase: str | None = None, audience: str | None = None
) -> Sequence[CommTemplate]:
    """Return templates, optionally of one phase and/or audience, ordered by phase order."""
    query = select(CommTemplate)
    if phase:
        query = query.where(CommTemplate.phase == phase)
    if audience:
        query = query.where(CommTemplate.audience == audience)
    rows = session.scalars(query.order_by(CommTemplate.audience, CommTemplate.name)).all()
    order = {p: i for i, p in enumerate(PHASES)}
    return sorted(rows, key=lambda t: (order.get(t.phase, 99), t.audience, t.name))


def get_template_or_raise(session: Session, *, template_id: int) -> CommTemplate:
    """Load a template or raise ``comm_template_not_found``."""
    return get_or_raise(session, CommTemplate, template_id, "comm template")


def create_template(
    session: Session, *, name: str, phase: str, audience: str, subject: str, body: str
) -> CommTemplate:
    """Create a template after checking its phase, audience and Jinja syntax.

    Raises
    ------
    Invalid
        Unknown phase/audience or a syntax error (``template_error``).
    Conflict
        ``template_exists`` for a duplicate (phase, audience, name).
    """
    _check_phase_audience(phase, audience)
    check_template(subject)
    check_template(body)
    _check_free(session, name=name, phase=phase, audience=audience)
    template = CommTemplate(name=name, phase=phase, audience=audience, subject=subject, body=body)
    session.add(template)
    flush_unique(
        session, "template_exists", f"a {audience} template {name!r} for {phase} already exists"
    )
    return template


def _check_free(
    session: Session, *, name: str, phase: str, audience: str, template_id: int | None = None
) -> None:
    clash = session.scalars(
        select(CommTemplate.id).where(
            CommTemplate.name == name,
            CommTemplate.phase == phase,
            CommTemplate.audience == audience,
        )
    ).first()
    if clash is not None and clash != template_id:
        raise Conflict(
            f"a {audience} template {name!r} for {phase} already exists", code="template_exists"
        )


def update_template(
    session: Session,
    *,
    template_id: int,
    name: str | None = None,
    phase: str | None = None,
    audience: str | None = None,
    subject: str | None = None,
    body: str | None = None,
) -> CommTemplate:
    """Change the given fields of a template (syntax checked again)."""
    template = get_template_or_raise(session, template_id=template_id)
    _check_phase_audience(phase or template.phase, audience or template.audience)
    for text in (subject, body):
        if text is not None:
            check_template(text)
    _check_free(
        session,
        name=name or template.name,
        phase=phase or template.phase,
        audience=audience or template.audience,
        template_id=template.id,
    )
    if name is not None:
        template.name = name
    if phase is not None:
        template.phase = phase
    if audience is not None:
        template.audience = audience
    if subject is not None:
        template.subject = subject
    if body is not None:
        template.body = body
    flush_unique(session, "template_exists", "another template has this phase, audience and name")
    return template


def delete_template(session: Session, *, template_id: int) -> None:
    """Delete a template (updates drafted from it keep their text)."""
    session.delete(get_template_or_raise(session, template_id=template_id))
    session.flush()


def _template_for(session: Session, *, phase: str, audience: str) -> CommTemplate | None:
    rows = session.scalars(
        select(CommTemplate)
        .where(CommTemplate.phase == phase, CommTemplate.audience == audience)
        .order_by(CommTemplate.id)
    ).all()
    for row in rows:
        if row.name == "default":
            return row
    return rows[0] if rows else None


def _builtin(phase: str, audience: str) -> CommTemplate | None:
    """The built-in template of a phase and audience, unsaved (when none is stored)."""
    for data in default_templates():
        if data["phase"] == phase and data["audience"] == audience:
            return CommTemplate(**data)
    return None


def _phase_of(incident: Incident) -> str:
    if incident.status in (Status.RESOLVED.value, Status.REVIEWED.value):
        return Status.RESOLVED.value
    if incident.status == Status.DECLARED.value:
        return Status.INVESTIGATING.value
    return incident.status


# ---------------------------------------------------------------- updates


def get_update_or_raise(session: Session, *, update_id: int) -> IncidentUpdate:
    """Load an update or raise ``incident_update_not_found``."""
    return get_or_raise(session, IncidentUpdate, update_id, "incident update")


def list_updates(
    session: Session, *, incident_id: int, audience: str | None = None
) -> Sequence[IncidentUpdate]:
    """Return an incident's updates, newest first."""
    get_incident_or_raise(session, incident_id=incident_id)
    query = select(IncidentUpdate).where(IncidentUpdate.incident_id == incident_id)
    if audience:
        query = query.where(IncidentUpdate.audience == audience)
    return session.scalars(query.order_by(IncidentUpdate.id.desc())).all()


def draft_update(
    session: Session,
    *,
    incident_id: int,
    audience: str,
    template_id: int | None = None,
    subject: str | None = None,
    body: str | None = None,
    component_status: str = ComponentStatus.DEGRADED.value,
    services: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    now: datetime | None = None,
) -> IncidentUpdate:
    """Draft an update; without a body, the template for the current phase is rendered.

    Parameters
    ----------
    session : Session
        Open session (the acting person becomes the author).
    incident_id : int
        The incident.
    audience : str
        ``customers``, ``frontline`` or ``executives``.
    template_id : int, optional
        Template to render (default: the ``default`` template of the phase and audience).
    subject, body : str, optional
        Text written by hand; a missing one is taken from the rendered template.
    component_status : str
        What the status page shows for the covered services while this update is current.
    services, regions : Sequence of str, optional
        What the update covers (default: the incident's).
    now : datetime, optional
        Drafting time.

    Returns
    -------
    IncidentUpdate
        The draft.
    """
    at = aware(now)
    incident = get_incident_or_raise(session, incident_id=incident_id)
    if audience not in {a.value for a in Audience}:
        raise Invalid(f"unknown audience {audience!r}", code="invalid_audience")
    if component_status not in {c.value for c in ComponentStatus}:
        raise Invalid(f"unknown component status {component_status!r}", code="invalid_status")
    phase = _phase_of(incident)
    template: CommTemplate | None = None
    if template_id is not None:
        template = get_template_or_raise(session, template_id=template_id)
    elif not (subject and body):
        template = _template_for(session, phase=phase, audience=audience) or _builtin(
            phase, audience
        )
    if template is not None:
        rendered_subject, rendered_body = render_template(
            template, incident, status_url=status_url(), now=at
        )
        subject = subject or rendered_subject
        body = body or rendered_body
    if not subject or not body:
        raise Invalid(
            f"no {audience} template for phase {phase}: give a subject and a body",
            code="update_text_required",
        )
    update = IncidentUpdate(
        incident_id=incident.id,
        audience=audience,
        phase=phase,
        template_id=template.id if template is not None and template.id else None,
        subject=subject[:300],
        body=body,
        component_status=component_status,
        services=list(services if services is not None else incident.services or []),
        regions=list(regions if regions is not None else incident.regions or []),
        state=UpdateState.DRAFT.value,
        author=actor_label(session),
    )
    session.add(update)
    session.flush()
    record_timeline(
        session,
        incident_id=incident.id,
        kind=TimelineKind.UPDATE,
        text=f"{audience} update drafted: {update.subject}",
        at=at,
        data={"update_id": update.id, "state": update.state},
    )
    return update


def _require_state(update: IncidentUpdate, *states: UpdateState) -> None:
    if update.state not in {s.value for s in states}:
        raise Conflict(
            f"update {update.id} is {update.state}; this needs "
            + " or ".join(s.value for s in states),
            code="invalid_update_state",
        )


def submit_update(
    session: Session, *, update_id: int, now: datetime | None = None
) -> IncidentUpdate:
    """Send a draft (or a rejected update, revised) to review."""
    update = get_update_or_raise(session, update_id=update_id)
    _require_state(update, UpdateState.DRAFT, UpdateState.REJECTED)
    at = aware(now)
    update.state = UpdateState.IN_REVIEW.value
    update.submitted_at = at
    update.reviewer = None
    update.reviewed_at = None
    session.flush()
    record_timeline(
        session,
        incident_id=update.incident_id,
        kind=TimelineKind.UPDATE,
        text=f"{update.audience} update submitted for review: {update.subject}",
        at=at,
        data={"update_id": update.id, "state": update.state},
    )
    return update


def revise_update(
    session: Session,
    *,
    update_id: int,
    subject: str | None = None,
    body: str | None = None,
    component_status: str | None = None,
) -> IncidentUpdate:
    """Change the text of a draft or rejected update (it goes back to draft)."""
    update = get_update_or_raise(session, update_id=update_id)
    _require_state(update, UpdateState.DRAFT, UpdateState.REJECTED)
    if component_status is not None:
        if component_status not in {c.value for c in ComponentStatus}:
            raise Invalid(f"unknown component status {component_status!r}", code="invalid_status")
        update.component_status = component_status
    if subject:
        update.subject = subject[:300]
    if body:
        update.body = body
    update.state = UpdateState.DRAFT.value
    session.flush()
    return update


def review_update(
    session: Session,
    *,
    update_id: int,
    approve: bool,
    comment: str = "",
    now: datetime | None = None,
) -> IncidentUpdate:
    """Approve or reject an update in review; the reviewer may not be its author.

    Raises
    ------
    Conflict
        ``self_review`` when the author reviews their own update, ``invalid_update_state``
        when the update is not in review.
    """
    update = get_update_or_raise(session, update_id=update_id)
    _require_state(update, UpdateState.IN_REVIEW)
    reviewer = actor_label(session)
    if reviewer == update.author:
        raise Conflict(
            "an update must be reviewed by someone other than its author", code="self_review"
        )
    at = aware(now)
    update.state = (UpdateState.APPROVED if approve else UpdateState.REJECTED).value
    update.reviewer = reviewer
    update.reviewed_at = at
    update.review_comment = comment
    session.flush()
    record_timeline(
        session,
        incident_id=update.incident_id,
        kind=TimelineKind.UPDATE,
        text=f"{update.audience} update {update.state} by {reviewer}: {update.subject}",
        at=at,
        data={"update_id": update.id, "state": update.state, "comment": comment},
    )
    return update


def _matches(sub: StatusSubscription, update: IncidentUpdate) -> bool:
    if sub.services and not set(sub.services) & set(update.services or []):
        return False
    return not (sub.regions and not set(sub.regions) & set(update.regions or []))


def queue_notifications(session: Session, *, update: IncidentUpdate) -> int:
    """Queue a pending notification of ``update`` for every matching subscriber."""
    already = set(
        session.scalars(
            select(StatusNotification.subscription_id).where(
                StatusNotification.update_id == update.id
            )
        ).all()
    )
    count = 0
    confirmed = (
        select(StatusSubscription)
        .where(StatusSubscription.confirmed_at.is_not(None))
        .order_by(StatusSubscription.id)
    )
    for sub in session.scalars(confirmed).all():
        if sub.id in already or not _matches(sub, update):
            continue
        session.add(StatusNotification(update_id=update.id, subscription_id=sub.id))
        count += 1
    session.flush()
    return count


def publish_update(
    session: Session, *, update_id: int, now: datetime | None = None
) -> IncidentUpdate:
    """Publish an update. Customer updates must be approved first; internal ones may be
    published from draft. A customer update makes the incident public and notifies subscribers.

    Raises
    ------
    Conflict
        ``review_required`` for a customer update that is not approved;
        ``invalid_update_state`` for an internal update that is rejected or already published.
    """
    update = get_update_or_raise(session, update_id=update_id)
    at = aware(now)
    if update.audience == Audience.CUSTOMERS.value:
        if update.state != UpdateState.APPROVED.value:
            raise Conflict(
                f"customer update {update.id} is {update.state}; it must be approved by a "
                "reviewer before it is published",
                code="review_required",
            )
    else:
        _require_state(update, UpdateState.DRAFT, UpdateState.IN_REVIEW, UpdateState.APPROVED)
    update.state = UpdateState.PUBLISHED.value
    update.published_at = at
    update.published_by = actor_label(session)
    queued = 0
    if update.audience == Audience.CUSTOMERS.value:
        incident = get_incident_or_raise(session, incident_id=update.incident_id)
        incident.public = True
        queued = queue_notifications(session, update=update)
    session.flush()
    record_timeline(
        session,
        incident_id=update.incident_id,
        kind=TimelineKind.UPDATE,
        text=f"{update.audience} update published: {update.subject}",
        at=at,
        data={"update_id": update.id, "state": update.state, "notifications": queued},
    )
    return update


# ---------------------------------------------------------------- frontline macro


def frontline_macro(session: Session, *, incident_id: int) -> dict[str, Any]:
    """Return the ready answer agents paste into tickets about an incident.

    The latest published frontline update, else the default frontline template for the
    incident's current phase rendered now.

    Returns
    -------
    dict
        ``incident_id``, ``subject``, ``body``, ``ticket_tag`` (``incident-<id>``), ``source``
        (``update`` or ``template``), ``update_id`` and ``phase``.
    """
    incident = get_incident_or_raise(session, incident_id=incident_id)
    base = {"incident_id": incident.id, "ticket_tag": f"incident-{incident.id}"}
    latest = session.scalars(
        select(IncidentUpdate)
        .where(
            IncidentUpdate.incident_id == incident.id,
            IncidentUpdate.audience == Audience.FRONTLINE.value,
            IncidentUpdate.state == UpdateState.PUBLISHED.value,
        )
        .order_by(IncidentUpdate.published_at.desc(), IncidentUpdate.id.desc())
    ).first()
    if latest is not None:
        return base | {
            "subject": latest.subject,
            "body": latest.body,
            "source": "update",
            "update_id": latest.id,
            "phase": latest.phase,
        }
    phase = _phase_of(incident)
    template = _template_for(session, phase=phase, audience=Audience.FRONTLINE.value) or _builtin(
        phase, Audience.FRONTLINE.value
    )
    assert template is not None  # a built-in frontline template exists for every phase
    subject, body = render_template(template, incident, status_url=status_url())
    return base | {
        "subject": subject,
        "body": body,
        "source": "template",
        "update_id": None,
        "phase": phase,
    }
