"""``unit_of_work()``: commit on success, roll back on any error, then run after-commit hooks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from juncture.store.engine import WRITE_INTENT, Database

logger = logging.getLogger(__name__)

Hook = Callable[[], Any]


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user (web or token), an integration token, or the system itself."""

    kind: str  # "user" | "token" | "system"
    user_id: int | None = None
    token_id: int | None = None
    label: str = "system"
    role: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)


SYSTEM = Actor(kind="system", label="system")


@contextmanager
def unit_of_work(
    db: Database,
    *,
    actor: Actor | None = None,
    request_id: str | None = None,
    write: bool = True,
) -> Iterator[Session]:
    """Open a session whose work commits as one transaction when the block ends cleanly.

    ``write=True`` declares the intent to write up front (SQLite then waits for the write lock
    at BEGIN). Hooks registered with :func:`after_commit` run only after a successful commit.
    """
    session = db.sessionmaker()
    session.info["after_commit"] = []
    session.info["actor"] = actor or SYSTEM
    session.info["request_id"] = request_id
    try:
        if write and db.dialect == "sqlite":
            session.connection(execution_options={WRITE_INTENT: True})
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        session.close()
        raise
    hooks: list[Hook] = session.info.get("after_commit", [])
    session.close()
    for hook in hooks:
        try:
            hook()
        except Exception:
            logger.exception("after-commit hook failed", extra={"hook": repr(hook)})


def after_commit(session: Session, hook: Hook) -> None:
    """Run ``hook`` once the session's transaction has committed; dropped on rollback."""
    session.info.setdefault("after_commit", []).append(hook)


def current_actor(session: Session) -> Actor:
    """The actor the edge attached to this unit of work."""
    actor = session.info.get("actor")
    return actor if isinstance(actor, Actor) else SYSTEM
