"""The audit log writer: every change to an ``__audited__`` model is recorded on flush.

Recording at flush time (rather than in each service verb) means no mutation can forget to
audit itself. The actor and request id come from the unit of work that owns the session.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session, UOWTransaction

from juncture.access.models import AuditEvent
from juncture.kit import clock
from juncture.store.base import Base
from juncture.store.uow import current_actor

REDACTED = "***"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _columns(obj: Base) -> list[Any]:
    return list(inspect(type(obj)).column_attrs)


def snapshot(obj: Base) -> dict[str, Any]:
    """The audited values of ``obj`` as JSON-ready data, secrets redacted."""
    out: dict[str, Any] = {}
    for attr in _columns(obj):
        column = attr.columns[0]
        if column.info.get("audit") is False:
            continue
        value = getattr(obj, attr.key)
        out[attr.key] = REDACTED if column.info.get("redact") and value else _jsonable(value)
    return out


def _changes(obj: Base) -> tuple[dict[str, Any], dict[str, Any]]:
    state = inspect(obj)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for attr in _columns(obj):
        column = attr.columns[0]
        if column.info.get("audit") is False or attr.key in {"updated_at"}:
            continue
        history = state.attrs[attr.key].history
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if column.info.get("redact"):
            before[attr.key], after[attr.key] = REDACTED, REDACTED
        else:
            before[attr.key], after[attr.key] = _jsonable(old), _jsonable(new)
    return before, after


def _object_type(obj: Base) -> str:
    return type(obj).__name__.lower()


def _object_id(obj: Base) -> str:
    identity = inspect(obj).identity
    if identity:
        return ":".join(str(part) for part in identity)
    return str(getattr(obj, "id", ""))


@event.listens_for(Session, "after_flush")
def _record_audit(session: Session, _flush: UOWTransaction) -> None:
    rows: list[dict[str, Any]] = []
    actor = current_actor(session)
    request_id = session.info.get("request_id")
    action_override: str | None = session.info.pop("audit_action", None)
    at = clock.now()

    def row(obj: Base, verb: str, before: Any, after: Any) -> dict[str, Any]:
        return {
            "at": at,
            "actor_kind": actor.kind,
            "actor_user_id": actor.user_id,
            "actor_token_id": actor.token_id,
            "actor_label": actor.label,
            "action": action_override or f"{_object_type(obj)}.{verb}",
            "object_type": _object_type(obj),
            "object_id": _object_id(obj),
            "before": before,
            "after": after,
            "request_id": request_id,
        }

    for obj in session.new:
        if isinstance(obj, Base) and type(obj).__audited__:
            rows.append(row(obj, "create", None, snapshot(obj)))
    for obj in session.dirty:
        if isinstance(obj, Base) and type(obj).__audited__ and session.is_modified(obj):
            before, after = _changes(obj)
            if after:
                rows.append(row(obj, "update", before, after))
    for obj in session.deleted:
        if isinstance(obj, Base) and type(obj).__audited__:
            rows.append(row(obj, "delete", snapshot(obj), None))
    if rows:
        session.connection().execute(insert(AuditEvent), rows)


def record(
    session: Session,
    *,
    action: str,
    object_type: str,
    object_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Write one audit event by hand, for mutations that bypass the ORM (bulk ingest, purges)."""
    actor = current_actor(session)
    session.connection().execute(
        insert(AuditEvent),
        [
            {
                "at": clock.now(),
                "actor_kind": actor.kind,
                "actor_user_id": actor.user_id,
                "actor_token_id": actor.token_id,
                "actor_label": actor.label,
                "action": action,
                "object_type": object_type,
                "object_id": object_id,
                "before": _jsonable(before) if before is not None else None,
                "after": _jsonable(after) if after is not None else None,
                "request_id": session.info.get("request_id"),
            }
        ],
    )
