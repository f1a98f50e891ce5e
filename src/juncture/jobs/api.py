"""HTTP routes for job definitions and runs (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from juncture.api.deps import AdminActor, SessionDep
from juncture.jobs import service
from juncture.jobs.schemas import JobRead, JobRunRead
from juncture.kit.schemas import Page

router = APIRouter()


@router.get("/jobs", response_model=list[JobRead], tags=["jobs"])
def list_jobs(session: SessionDep, actor: AdminActor) -> list[JobRead]:
    """Every periodic job with its period and its last run."""
    return service.list_jobs(session)


@router.get("/jobs/runs", response_model=Page[JobRunRead], tags=["jobs"])
def list_runs(
    session: SessionDep,
    actor: AdminActor,
    job: str | None = None,
    outcome: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[JobRunRead]:
    rows, total = service.list_runs(session, job=job, outcome=outcome, limit=limit, offset=offset)
    return Page[JobRunRead](
        items=[JobRunRead.model_validate(r) for r in rows], total=total, limit=limit, offset=offset
    )
