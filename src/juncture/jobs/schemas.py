"""Wire contract of job runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from juncture.kit.schemas import ReadModel


class JobRunRead(ReadModel):
    id: int
    job: str
    period_start: datetime
    started_at: datetime
    finished_at: datetime | None
    duration_ms: float | None
    outcome: str
    error: str | None
    result: dict[str, Any] | None
    instance: str


class JobRead(BaseModel):
    name: str
    every_seconds: float
    description: str
    last_run: JobRunRead | None
