"""Reading job runs (for admins) and claiming a period (for the runner)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from juncture.jobs.models import JobRun
from juncture.jobs.registry import registered_jobs
from juncture.jobs.schemas import JobRead, JobRunRead

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def period_start(now: datetime, every: timedelta) -> datetime:
    """The start of the period containing ``now`` (periods are aligned to a fixed epoch)."""
    periods = (now - EPOCH) // every
    return EPOCH + periods * every


def list_runs(
    session: Session,
    *,
    job: str | None = None,
    outcome: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[Sequence[JobRun], int]:
    query = select(JobRun)
    if job:
        query = query.where(JobRun.job == job)
    if outcome:
        query = query.where(JobRun.outcome == outcome)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(JobRun.id.desc()).limit(limit).offset(offset)).all()
    return rows, total


def list_jobs(session: Session) -> list[JobRead]:
    out = []
    for job in registered_jobs():
        last = session.scalars(
            select(JobRun).where(JobRun.job == job.name).order_by(JobRun.id.desc()).limit(1)
        ).one_or_none()
        out.append(
            JobRead(
                name=job.name,
                every_seconds=job.every.total_seconds(),
                description=job.description,
                last_run=JobRunRead.model_validate(last) if last else None,
            )
        )
    return out
