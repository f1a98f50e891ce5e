"""Periodic work of the signals room."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from juncture.config import Settings
from juncture.jobs.registry import periodic
from juncture.signals import service


@periodic("signals.purge_expired", every=timedelta(hours=6))
def purge_expired(session: Session) -> dict[str, Any]:
    """Delete raw signals older than their type's retention (rollups stay)."""
    return {"removed": service.purge_expired(session, settings=Settings())}
