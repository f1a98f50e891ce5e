"""Tickets linked to an incident: automatic linking by time, region, service, category and text,
and the manual links and exclusions people make.

A ticket is a candidate when it was created in [start - 30 min, end + 3 h) (the contact lag) in
one of the incident's regions (any region when it names none). Its score adds up:

* 0.6 when its service is one of the incident's services;
* 0.25 when its category is the category of a ticket a person linked by hand;
* up to 0.25 for text: the share of the incident's words (title, summary, and the opening
  texts of hand-linked tickets; stop words and words under 3 letters left out) that the
  ticket's opening text contains, times 2, capped at 1.

Tickets scoring at least :data:`THRESHOLD` are linked (``linked_by='auto'``); an automatic link
whose ticket no longer scores is removed; rows a person excluded are never linked again, and
links a person made are never touched.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from juncture.incidents.common import actor_label, aware, get_incident_or_raise, record_timeline
from juncture.incidents.enums import TimelineKind
from juncture.incidents.impact import PRE_WINDOW, TICKET_LAG, incident_window
from juncture.incidents.models import IncidentTicket
from juncture.kit import clock
from juncture.kit.errors import NotFound
from juncture.signals import service as signals_service

THRESHOLD = 0.5
W_SERVICE, W_CATEGORY, W_TEXT = 0.6, 0.25, 0.25
AUTO = "auto"

_WORD = re.compile(r"[a-z]{3,}")
_STOP = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "you",
        "your",
        "this",
        "that",
        "are",
        "was",
        "were",
        "not",
        "but",
        "have",
        "has",
        "had",
        "our",
        "from",
        "they",
        "them",
        "their",
        "there",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "how",
        "can",
        "could",
        "would",
        "should",
        "will",
        "into",
        "out",
        "about",
        "after",
        "before",
        "then",
        "than",
        "also",
        "just",
        "please",
        "thanks",
        "thank",
        "hello",
        "good",
        "morning",
        "afternoon",
        "evening",
        "incident",
    ]
)


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def score_ticket(
    ticket: signals_service.TicketRow,
    text: str,
    *,
    services: set[str],
    categories: set[str],
    words: set[str],
) -> tuple[float, list[str]]:
    """Score one candidate ticket against an incident (see the module docstring).

    Parameters
    ----------
    ticket : TicketRow
        The candidate.
    text : str
        Its opening text ('' when unknown).
    services, categories, words : set[str]
        The incident's services, the categories of hand-linked tickets, the incident's words.

    Returns
    -------
    tuple
        The score in [0, 1.1] and the reasons that contributed.
    """
    score, reasons = 0.0, []
    if ticket.service is not None and ticket.service in services:
        score += W_SERVICE
        reasons.append(f"service {ticket.service}")
    if ticket.category is not None and ticket.category in categories:
        score += W_CATEGORY
        reasons.append(f"category {ticket.category}")
    if words and text:
        overlap = len(_words(text) & words) / len(words)
        if overlap > 0:
            score += W_TEXT * min(1.0, 2 * overlap)
            reasons.append(f"text {overlap:.0%}")
    return round(score, 4), reasons


def link_tickets(
    session: Session, *, incident_id: int, now: datetime | None = None
) -> dict[str, Any]:
    """Link the tickets that score at least :data:`THRESHOLD` to an incident (idempotent).

    Parameters
    ----------
    session : Session
        Open session.
    incident_id : int
        The incident.
    now : datetime, optional
        The current time [default: the clock].

    Returns
    -------
    dict
        ``candidates``, ``added``, ``removed`` (automatic links dropped) and ``linked`` (links
        now in force, automatic and manual).
    """
    now = aware(now)
    incident = get_incident_or_raise(session, incident_id=incident_id)
    start, end = incident_window(incident, now)
    rows = {
        r.ticket_id: r
        for r in session.scalars(
            select(IncidentTicket).where(IncidentTicket.incident_id == incident_id)
        )
    }
    manual = [r for r in rows.values() if r.linked_by != AUTO and not r.excluded]
    candidates = signals_service.tickets_created(
        session,
        start=start - PRE_WINDOW,
        end=min(end + TICKET_LAG, now),
        regions=list(incident.regions) or None,
    )
    manual_rows = (
        signals_service.tickets_created(
            session,
            start=start - PRE_WINDOW - TICKET_LAG,
            end=now,
            refs=[r.ticket_id for r in manual],
        )
        if manual
        else []
    )
    texts = signals_service.ticket_opening_texts(
        session, refs=[t.ref for t in candidates] + [t.ref for t in manual_rows]
    )
    services = set(incident.services)
    categories = {t.category for t in manual_rows if t.category}
    words = _words(f"{incident.title} {incident.summary}")
    for t in manual_rows:
        words |= _words(texts.get(t.ref, ""))
    added = removed = 0
    scored: set[str] = set()
    for t in candidates:
        score, reasons = score_ticket(
            t, texts.get(t.ref, ""), services=services, categories=categories, words=words
        )
        row = rows.get(t.ref)
        if score < THRESHOLD:
            continue
        scored.add(t.ref)
        if row is None:
            row = IncidentTicket(
                incident_id=incident_id,
                ticket_id=t.ref,
                linked_by=AUTO,
                score=score,
                reasons=reasons,
                opened_at=clock.from_ms(t.created_ms),
                linked_at=now,
            )
            session.add(row)
            rows[t.ref] = row
            added += 1
        elif row.linked_by == AUTO and not row.excluded:
            row.score, row.reasons = score, reasons
    for ref, row in list(rows.items()):
        if row.linked_by == AUTO and not row.excluded and ref not in scored:
            session.delete(row)
            del rows[ref]
            removed += 1
    session.flush()
    linked = sum(not r.excluded for r in rows.values())
    if added:
        record_timeline(
            session,
            incident_id=incident_id,
            kind=TimelineKind.TICKETS,
            text=f"{added} tickets linked automatically ({linked} linked)",
            at=now,
            actor="juncture",
            data={"added": added, "linked": linked},
        )
    return {"candidates": len(candidates), "added": added, "removed": removed, "linked": linked}


def link_ticket(
    session: Session, *, incident_id: int, ticket_ref: str, actor: str | None = None
) -> IncidentTicket:
    """Link a ticket to an incident by hand (also undoes an exclusion).

    Parameters
    ----------
    session : Session
        Open session.
    incident_id : int
        The incident.
    ticket_ref : str
        The ticket's reference.
    actor : str, optional
        Who links it [default: the acting person].

    Returns
    -------
    IncidentTicket
        The link.

    Raises
    ------
    NotFound
        ``ticket_not_found`` when no ticket has that reference.
    """
    get_incident_or_raise(session, incident_id=incident_id)
    who = actor_label(session, actor)
    found = signals_service.tickets_created(
        session,
        start=datetime(1970, 1, 1, tzinfo=clock.now().tzinfo),
        end=clock.now(),
        refs=[ticket_ref],
    )
    if not found:
        raise NotFound(f"ticket {ticket_ref} does not exist", code="ticket_not_found")
    row = session.scalars(
        select(IncidentTicket).where(
            IncidentTicket.incident_id == incident_id, IncidentTicket.ticket_id == ticket_ref
        )
    ).one_or_none()
    if row is None:
        row = IncidentTicket(
            incident_id=incident_id,
            ticket_id=ticket_ref,
            linked_by=who,
            score=1.0,
            reasons=["linked by hand"],
            opened_at=clock.from_ms(found[0].created_ms),
        )
        session.add(row)
    else:
        row.linked_by, row.excluded, row.reasons = who, False, ["linked by hand"]
    session.flush()
    record_timeline(
        session,
        incident_id=incident_id,
        kind=TimelineKind.TICKETS,
        text=f"Ticket {ticket_ref} linked",
        actor=who,
        data={"ticket": ticket_ref},
    )
    return row


def unlink_ticket(
    session: Session, *, incident_id: int, ticket_ref: str, actor: str | None = None
) -> IncidentTicket:
    """Unlink a ticket: the row stays, ``excluded``, so automatic linking never brings it back.

    Parameters
    ----------
    session : Session
        Open session.
    incident_id : int
        The incident.
    ticket_ref : str
        The ticket's reference.
    actor : str, optional
        Who unlinks it [default: the acting person].

    Returns
    -------
    IncidentTicket
        The excluded row.
    """
    get_incident_or_raise(session, incident_id=incident_id)
    who = actor_label(session, actor)
    row = session.scalars(
        select(IncidentTicket).where(
            IncidentTicket.incident_id == incident_id, IncidentTicket.ticket_id == ticket_ref
        )
    ).one_or_none()
    if row is None:
        row = IncidentTicket(incident_id=incident_id, ticket_id=ticket_ref, linked_by=who)
        session.add(row)
    row.excluded = True
    row.reasons = [*row.reasons, f"unlinked by {who}"]
    session.flush()
    record_timeline(
        session,
        incident_id=incident_id,
        kind=TimelineKind.TICKETS,
        text=f"Ticket {ticket_ref} unlinked",
        actor=who,
        data={"ticket": ticket_ref},
    )
    return row


def linked_tickets(session: Session, *, incident_id: int) -> list[IncidentTicket]:
    """The tickets linked to an incident (not excluded), oldest first.

    Parameters
    ----------
    session : Session
        Open session.
    incident_id : int
        The incident.

    Returns
    -------
    list[IncidentTicket]
        The links.
    """
    get_incident_or_raise(session, incident_id=incident_id)
    return list(
        session.scalars(
            select(IncidentTicket)
            .where(IncidentTicket.incident_id == incident_id, IncidentTicket.excluded.is_(False))
            .order_by(IncidentTicket.opened_at, IncidentTicket.id)
        )
    )
