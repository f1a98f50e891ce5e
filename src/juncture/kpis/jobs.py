"""Periodic work of the kpis room."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from juncture.jobs.registry import periodic
from juncture.kit import clock
from juncture.kpis import okrs


@periodic("kpis.refresh_okrs", every=timedelta(minutes=15))
def refresh_okrs(session: Session) -> dict[str, Any]:
    """Recompute the KPI-bound key results of active objectives and record changed values."""
    return okrs.refresh_progress(session, now=clock.now())
