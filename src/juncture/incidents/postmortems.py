"""Blameless post-mortems: a draft filled with the facts (timeline, impact, response times),
sections written by people (the customer experience one with CX), contributing factors
classified by the root-cause taxonomy, action items, review and publication.

Publishing a post-mortem marks its incident ``reviewed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from juncture.incidents.common import (
    actor_label,
    aware,
    flush_unique,
    get_incident_or_raise,
    get_or_raise,
    record_timeline,
    timeline,
)
from juncture.incidents.enums import PostmortemState, Status, TimelineKind
from juncture.incidents.models import (
    ActionItem,
    ContributingFactor,
    Incident,
    Postmortem,
    RootCauseCategory,
)
from juncture.kit import clock
from juncture.kit.errors import Conflict, Invalid

ACTION_KINDS = ("fix", "detect", "mitigate", "process", "cx")
ACTION_STATUSES = ("open", "done", "wont_do")
EDITABLE_FIELDS = (
    "title",
    "summary",
    "customer_experience",
    "customer_experience_by",
    "what_went_well",
    "what_went_wrong",
    "lessons",
    "authors",
    "reviewers",
)
_RESOLVED = {Status.RESOLVED.value, Status.REVIEWED.value}


def _minutes(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    delta = clock.ensure_utc(end) - clock.ensure_utc(start)
    return round(delta.total_seconds() / 60, 1)


def _iso(value: datetime | None) -> str | None:
    return clock.ensure_utc(value).isoformat() if value is not None else None


def compute_facts(session: Session, incident: Incident) -> dict[str, Any]:
    """Collect the facts of an incident for its post-mortem.

    Returns
    -------
    dict
        ``timeline`` (entries: at, kind, actor, text; the post-mortem's own entries left
        out), ``impact`` (the incident's impact snapshot), ``times`` (ISO timestamps),
        ``durations_minutes`` (``to_detect``,
        ``to_acknowledge``, ``to_declare``, ``to_mitigate``, ``to_resolve``; each from
        ``started_at``; None when not reached), ``customer_minutes`` (when the impact has it),
        ``severity``, ``services``, ``regions``, ``journeys``.
    """
    started = incident.started_at
    impact = dict(incident.impact or {})
    customer_minutes = impact.get("customer_minutes", impact.get("customer_minutes_lost"))
    return {
        "severity": incident.severity,
        "services": list(incident.services or []),
        "regions": list(incident.regions or []),
        "journeys": list(incident.journeys or []),
        "times": {
            "started_at": _iso(incident.started_at),
            "detected_at": _iso(incident.detected_at),
            "acknowledged_at": _iso(incident.acknowledged_at),
            "declared_at": _iso(incident.declared_at),
            "impact_ended_at": _iso(incident.impact_ended_at),
            "resolved_at": _iso(incident.resolved_at),
        },
        "durations_minutes": {
            "to_detect": _minutes(started, incident.detected_at),
            "to_acknowledge": _minutes(started, incident.acknowledged_at),
            "to_declare": _minutes(started, incident.declared_at),
            "to_mitigate": _minutes(started, incident.impact_ended_at),
            "to_resolve": _minutes(started, incident.resolved_at),
        },
        "impact": impact,
        "customer_minutes": customer_minutes,
        "timeline": [
            {
                "at": clock.ensure_utc(e.at).isoformat(),
                "kind": e.kind,
                "actor": e.actor,
                "text": e.text,
            }
            for e in timeline(session, incident_id=incident.id)
            if e.kind != TimelineKind.POSTMORTEM.value
        ],
    }


def get_postmortem_or_raise(session: Session, *, postmortem_id: int) -> Postmortem:
    """Load a post-mortem or raise ``postmortem_not_found``."""
    return get_or_raise(session, Postmortem, postmortem_id, "postmortem")


def postmortem_for_incident(session: Session, *, incident_id: int) -> Postmortem | None:
    """Return the incident's post-mortem, if any."""
    return session.scalars(select(Postmortem).where(Postmortem.incident_id == incident_id)).first()


def list_postmortems(session: Session, *, state: str | None = None) -> Sequence[Postmortem]:
    """Return post-mortems, newest first, optionally in one state."""
    query = select(Postmortem)
    if state:
        query = query.where(Postmortem.state == state)
    return session.scalars(query.order_by(Postmortem.id.desc())).all()


def create_postmortem(
    session: Session, *, incident_id: int, now: datetime | None = None
) -> Postmortem:
    """Open the post-mortem draft of a resolved incident, filled with its facts.

    Raises
    ------
    Conflict
        ``incident_not_resolved`` before resolution, ``postmortem_exists`` for a second one.
    """
    incident = get_incident_or_raise(session, incident_id=incident_id)
    if incident.status not in _RESOLVED:
        raise Conflict(
            f"incident {incident.id} is {incident.status}; write the post-mortem once it is "
            "resolved",
            code="incident_not_resolved",
        )
    if postmortem_for_incident(session, incident_id=incident.id) is not None:
        raise Conflict(
            f"incident {incident.id} already has a post-mortem", code="postmortem_exists"
        )
    author = actor_label(session)
    pm = Postmortem(
        incident_id=incident.id,
        state=PostmortemState.DRAFT.value,
        title=f"Post-mortem: {incident.title}"[:300],
        summary=incident.summary or "",
        facts=compute_facts(session, incident),
        authors=[author],
        reviewers=[],
    )
    session.add(pm)
    flush_unique(session, "postmortem_exists", f"incident {incident.id} already has a post-mortem")
    record_timeline(
        session,
        incident_id=incident.id,
        kind=TimelineKind.POSTMORTEM,
        text="post-mortem draft opened",
        at=now,
        data={"postmortem_id": pm.id},
    )
    return pm


def _require_editable(pm: Postmortem) -> None:
    if pm.state not in (PostmortemState.DRAFT.value, PostmortemState.IN_REVIEW.value):
        raise Conflict(
            f"post-mortem {pm.id} is {pm.state} and can no longer be edited",
            code="postmortem_published",
        )


def refresh_facts(session: Session, *, postmortem_id: int) -> Postmortem:
    """Recompute the facts of a draft or in-review post-mortem from its incident."""
    pm = get_postmortem_or_raise(session, postmortem_id=postmortem_id)
    _require_editable(pm)
    incident = get_incident_or_raise(session, incident_id=pm.incident_id)
    pm.facts = compute_facts(session, incident)
    session.flush()
    return pm


def update_postmortem(session: Session, *, postmortem_id: int, **changes: Any) -> Postmortem:
    """Change written sections (see :data:`EDITABLE_FIELDS`; None values are ignored).

    ``customer_experience_by`` names who wrote the customer-experience section with CX; when
    that section changes without it, the acting person is recorded.
    """
    pm = get_postmortem_or_raise(session, postmortem_id=postmortem_id)
    _require_editable(pm)
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise Invalid(f"cannot change {', '.join(unknown)}", code="invalid_field")
    for name, value in changes.items():
        if value is None:
            continue
        if name in ("authors", "reviewers"):
            setattr(pm, name, [str(v).strip() for v in value if str(v).strip()])
        else:
            setattr(pm, name, value)
    if changes.get("customer_experience") is not None and not changes.get("customer_experience_by"):
        pm.customer_experience_by = pm.customer_experience_by or actor_label(session)
    session.flush()
    return pm


def _active_categories(session: Session) -> set[str]:
    return set(
        session.scalars(
            select(RootCauseCategory.code).where(RootCauseCategory.active.is_(True))
        ).all()
    )


def list_factors(session: Session, *, postmortem_id: int) -> Sequence[ContributingFactor]:
    """Return a post-mortem's factors, primary first."""
    return session.scalars(
        select(ContributingFactor)
        .where(ContributingFactor.postmortem_id == postmortem_id)
        .order_by(ContributingFactor.primary.desc(), ContributingFactor.id)
    ).all()


def add_factor(
    session: Session, *, postmortem_id: int, category: str, description: str, primary: bool = False
) -> ContributingFactor:
    """Add a contributing factor classified by an active root-cause category.

    A primary factor replaces any previous primary one and sets the incident's root cause.

    Raises
    ------
    Invalid
        ``unknown_root_cause`` when ``category`` is not an active taxonomy code.
    """
    pm = get_postmortem_or_raise(session, postmortem_id=postmortem_id)
    _require_editable(pm)
    if category not in _active_categories(session):
        raise Invalid(
            f"{category!r} is not an active root-cause category", code="unknown_root_cause"
        )
    if not description.strip():
        raise Invalid("describe the factor", code="validation_error")
    if primary:
        for other in list_factors(session, postmortem_id=pm.id):
            other.primary = False
        incident = get_incident_or_raise(session, incident_id=pm.incident_id)
        incident.root_cause = category
    factor = ContributingFactor(
        postmortem_id=pm.id, category=category, description=description.strip(), primary=primary
    )
    session.add(factor)
    session.flush()
    return factor


def remove_factor(session: Session, *, postmortem_id: int, factor_id: int) -> None:
    """Remove a factor (removing the primary one clears the incident's root cause)."""
    pm = get_postmortem_or_raise(session, postmortem_id=postmortem_id)
    _require_editable(pm)
    factor = get_or_raise(session, ContributingFactor, factor_id, "factor")
    if factor.postmortem_id != pm.id:
        raise Invalid(f"factor {factor_id} is not part of post-mortem {pm.id}", code="not_found")
    if factor.primary:
        incident = get_incident_or_raise(session, incident_id=pm.incident_id)
        incident.root_cause = None
    session.delete(factor)
    session.flush()


def list_actions(session: Session, *, postmortem_id: int) -> Sequence[ActionItem]:
    """Return a post-mortem's action items in creation order."""
    return session.scalars(
        select(ActionItem).where(ActionItem.postmortem_id == postmortem_id).order_by(ActionItem.id)
    ).all()


def add_action(
    session: Session,
    *,
    postmortem_id: int,
    title: str,
    owner: str,
    due_on: date | None = None,
    kind: str = "fix",
    owner_team_id: int | None = None,
) -> ActionItem:
    """Add a follow-up with an owner (allowed after publication too: work goes on)."""
    pm = get_postmortem_or_raise(session, postmortem_id=postmortem_id)
    if kind not in ACTION_KINDS:
        raise Invalid(f"kind must be one of {', '.join(ACTION_KINDS)}", code="invalid_kind")
    if not title.strip() or not owner.strip():
        raise Invalid("an action item needs a title and an owner", code="validation_error")
    item = ActionItem(
        postmortem_id=pm.id,
        title=title.strip()[:300],
        owner=owner.strip()[:200],
        due_on=due_on,
        kind=kind,
        owner_team_id=owner_team_id,
    )
    session.add(item)
    session.flush()
    return item


def update_action(
    session: Session,
    *,
    action_id: int,
    status: str | None = None,
    title: str | None = None,
    owner: str | None = None,
    due_on: date | None = None,
    now: datetime | None = None,
) -> ActionItem:
    """Change an action item; ``done`` records ``done_at``, reopening clears it."""
    item = get_or_raise(session, ActionItem, action_id, "action item")
    if status is not None:
        if status not in ACTION_STATUSES:
            raise Invalid(
                f"status must be one of {', '.join(ACTION_STATUSES)}", code="invalid_status"
            )
        if status == "done" and item.status != "done":
            item.done_at = aware(now)
        elif status != "done":
            item.done_at = None
        item.status = status
    if title:
        item.title = title[:300]
    if owner:
        item.owner = owner[:200]
    if due_on is not None:
        item.due_on = due_on
    session.flush()
    return item


def missing_for_review(session: Session, pm: Postmortem) -> list[str]:
    """Return what a post-mortem still lacks before review (empty when complete)."""
    missing = []
    if not pm.summary.strip():
        missing.append("summary")
    if not pm.customer_experience.strip():
        missing.append("customer experience")
    if not list_factors(session, postmortem_id=pm.id):
        missing.append("a contributing factor")
    return missing


def submit_postmortem(
    session: Session, *, postmortem_id: int, now: datetime | None = None
) -> Postmortem:
    """Send a draft to review.

    Raises
    ------
    Invalid
        ``postmortem_incomplete`` naming what is missing (summary, customer experience, a
        contributing factor).
    Conflict
        ``invalid_postmortem_state`` unless it is a draft.
    """
    pm = get_postmortem_or_raise(session, postmortem_id=postmortem_id)
    if pm.state != PostmortemState.DRAFT.value:
        raise Conflict(f"post-mortem {pm.id} is {pm.state}", code="invalid_postmortem_state")
    missing = missing_for_review(session, pm)
    if missing:
        raise Invalid(
            "the post-mortem is missing: " + ", ".join(missing),
            code="postmortem_incomplete",
            missing=missing,
        )
    at = aware(now)
    pm.state = PostmortemState.IN_REVIEW.value
    pm.submitted_at = at
    session.flush()
    record_timeline(
        session,
        incident_id=pm.incident_id,
        kind=TimelineKind.POSTMORTEM,
        text="post-mortem submitted for review",
        at=at,
        data={"postmortem_id": pm.id},
    )
    return pm


def publish_postmortem(
    session: Session, *, postmortem_id: int, now: datetime | None = None
) -> Postmortem:
    """Publish a post-mortem in review and mark its incident ``reviewed``."""
    pm = get_postmortem_or_raise(session, postmortem_id=postmortem_id)
    if pm.state != PostmortemState.IN_REVIEW.value:
        raise Conflict(
            f"post-mortem {pm.id} is {pm.state}; submit it for review first",
            code="invalid_postmortem_state",
        )
    from juncture.incidents import service as incidents_service  # service re-exports this module

    at = aware(now)
    who = actor_label(session)
    # the lifecycle's own transition: refused (409 invalid_transition) unless resolved
    incidents_service.mark_reviewed(session, incident_id=pm.incident_id, now=at)
    pm.state = PostmortemState.PUBLISHED.value
    pm.published_at = at
    pm.published_by = who
    if who not in pm.reviewers:
        pm.reviewers = [*pm.reviewers, who]
    session.flush()
    record_timeline(
        session,
        incident_id=pm.incident_id,
        kind=TimelineKind.POSTMORTEM,
        text="post-mortem published",
        at=at,
        data={"postmortem_id": pm.id},
    )
    return pm


def _duration(value: Any) -> str:
    if value is None:
        return "—"
    minutes = float(value)
    if minutes >= 120:
        return f"{minutes / 60:.1f} h"
    return f"{minutes:g} min"


def postmortem_markdown(session: Session, *, postmortem_id: int) -> str:
    """Render a post-mortem as Markdown (sections, facts, factors, action items, timeline)."""
    pm = get_postmortem_or_raise(session, postmortem_id=postmortem_id)
    incident = get_incident_or_raise(session, incident_id=pm.incident_id)
    facts = pm.facts or {}
    lines = [
        f"# {pm.title}",
        "",
        f"- Incident: {incident.id} ({incident.severity}, {incident.status})",
        f"- State: {pm.state}",
        f"- Authors: {', '.join(pm.authors) or '—'}",
        f"- Reviewers: {', '.join(pm.reviewers) or '—'}",
        f"- Services: {', '.join(facts.get('services', [])) or '—'}",
        "",
        "## Summary",
        "",
        pm.summary or "_Not written yet._",
        "",
        "## Customer experience",
        "",
        pm.customer_experience or "_Not written yet._",
    ]
    if pm.customer_experience_by:
        lines += ["", f"_Written with {pm.customer_experience_by}._"]
    lines += ["", "## Impact", ""]
    impact = facts.get("impact") or {}
    if impact:
        lines += [f"- {k.replace('_', ' ')}: {v}" for k, v in impact.items()]
    else:
        lines.append("_No measured impact._")
    if facts.get("customer_minutes") is not None:
        lines.append(f"- customer-minutes lost: {facts['customer_minutes']}")
    lines += ["", "## Detection and response", "", "| Measure | Time from start |", "|---|---|"]
    for key, value in (facts.get("durations_minutes") or {}).items():
        lines.append(f"| {key.replace('_', ' ')} | {_duration(value)} |")
    lines += ["", "## Contributing factors", ""]
    factors = list_factors(session, postmortem_id=pm.id)
    lines += [
        f"- **{f.category}**{' (primary)' if f.primary else ''}: {f.description}" for f in factors
    ] or ["_None yet._"]
    for title, text in (
        ("What went well", pm.what_went_well),
        ("What went wrong", pm.what_went_wrong),
        ("Lessons", pm.lessons),
    ):
        lines += ["", f"## {title}", "", text or "_Not written yet._"]
    lines += ["", "## Action items", "", "| Action | Kind | Owner | Due | Status |"]
    lines.append("|---|---|---|---|---|")
    for a in list_actions(session, postmortem_id=pm.id):
        due = a.due_on.isoformat() if a.due_on else "—"
        lines.append(f"| {a.title} | {a.kind} | {a.owner} | {due} | {a.status} |")
    lines += ["", "## Timeline", ""]
    for entry in facts.get("timeline", []):
        lines.append(f"- {entry['at']} — {entry['kind']}: {entry['text']}")
    return "\n".join(lines).rstrip() + "\n"
