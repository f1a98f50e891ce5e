"""The store: engine, sessions, unit of work and migrations; the floor every room stands on."""

from juncture.store.base import Base, IdMixin, TimestampMixin, UTCDateTime
from juncture.store.engine import Database
from juncture.store.uow import after_commit, unit_of_work

__all__ = [
    "Base",
    "Database",
    "IdMixin",
    "TimestampMixin",
    "UTCDateTime",
    "after_commit",
    "unit_of_work",
]
