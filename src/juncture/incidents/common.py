"""Helpers shared by the incidents room's modules: look-ups, the acting person, and the one way
to append to an incident's timeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from juncture.incidents.enums import TimelineKind
from juncture.incidents.models import Incident, TimelineEntry
from juncture.kit import clock
from juncture.kit.errors import Conflict, NotFound
from juncture.store.base import Base
from juncture.store.uow import current_actor

M = TypeVar("M", bound=Base)


def aware(at: datetime | None) -> datetime:
    """Return ``at`` as an aware UTC datetime, or now when ``at`` is None."""
    return clock.now() if at is None else clock.ensure_utc(at)


def actor_label(session: Session, actor: str | None = None) -> str:
    """Return ``actor`` when given, else the label of whoever the unit of work runs for."""
    return actor if actor else current_actor(session).label


def get_or_raise(session: Session, model: type[M], object_id: int, label: str) -> M:
    """Load one row by id or raise :class:`NotFound` with code ``<label>_not_found``."""
    obj = session.get(model, object_id)
    if obj is None:
        raise NotFound(
            f"{label} {object_id} does not exist", code=f"{label.replace(' ', '_')}_not_found"
        )
    return obj


def get_incident_or_raise(session: Session, *, incident_id: int, lock: bool = False) -> Incident:
    """Load an incident (optionally ``SELECT ... FOR UPDATE``) or raise ``incident_not_found``.

    Parameters
    ----------
    session : Session
        Open session.
    incident_id : int
        The incident's id.
    lock : bool
        Lock the row for the rest of the transaction (PostgreSQL; a no-op on SQLite).

    Returns
    -------
    Incident
        The incident.
    """
    if lock:
        found = session.scalars(
            select(Incident).where(Incident.id == incident_id).with_for_update()
        ).first()
        if found is None:
            raise NotFound(f"incident {incident_id} does not exist", code="incident_not_found")
        return found
    return get_or_raise(session, Incident, incident_id, "incident")


def flush_unique(session: Session, code: str, detail: str) -> None:
    """Flush inside a savepoint; a unique-constraint violation becomes :class:`Conflict`."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(detail, code=code) from exc


def record_timeline(
    session: Session,
    *,
    incident_id: int,
    kind: TimelineKind | str,
    text: str,
    at: datetime | None = None,
    actor: str | None = None,
    data: Mapping[str, Any] | None = None,
    source_key: str | None = None,
) -> TimelineEntry | None:
    """Append one entry to an incident's timeline.

    Entries captured automatically carry a ``source_key`` (for example ``alert:12:fired``);
    recording the same key twice for one incident is a no-op that returns None, so capture
    jobs can run repeatedly.

    Parameters
    ----------
    session : Session
        Open session.
    incident_id : int
        The incident.
    kind : TimelineKind or str
        What the entry records.
    text : str
        One human sentence.
    at : datetime, optional
        When it happened (default: now).
    actor : str, optional
        Who did it (default: the acting person or token; ``juncture`` for automatic capture).
    data : Mapping, optional
        Structured details (ids, old and new values).
    source_key : str, optional
        Deduplication key for automatically captured entries.

    Returns
    -------
    TimelineEntry or None
        The new entry, or None when ``source_key`` was already recorded.
    """
    kind = TimelineKind(kind)
    if source_key is not None:
        seen = session.scalar(
            select(TimelineEntry.id).where(
                TimelineEntry.incident_id == incident_id, TimelineEntry.source_key == source_key
            )
        )
        if seen is not None:
            return None
    entry = TimelineEntry(
        incident_id=incident_id,
        at=aware(at),
        kind=kind.value,
        actor=actor_label(session, actor),
        text=text,
        data=dict(data or {}),
        source_key=source_key,
    )
    session.add(entry)
    session.flush()
    return entry


def timeline(
    session: Session, *, incident_id: int, kinds: Sequence[str] | None = None
) -> Sequence[TimelineEntry]:
    """Return an incident's timeline, oldest first (ties in recording order)."""
    query = select(TimelineEntry).where(TimelineEntry.incident_id == incident_id)
    if kinds:
        query = query.where(TimelineEntry.kind.in_(list(kinds)))
    return session.scalars(query.order_by(TimelineEntry.at, TimelineEntry.id)).all()


def parent_code(code: str) -> str | None:
    """The parent of a dotted root-cause code (``change`` for ``change.deploy``)."""
    return code.rsplit(".", 1)[0] if "." in code else None
