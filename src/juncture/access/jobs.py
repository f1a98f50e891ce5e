"""Periodic housekeeping of the access room."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from juncture.access import service
from juncture.jobs.registry import periodic


@periodic("access.purge_expired", every=timedelta(hours=1))
def purge_expired(session: Session) -> dict[str, Any]:
    """Delete expired web sessions and login attempts older than 30 days."""
    return service.purge_expired(session)
