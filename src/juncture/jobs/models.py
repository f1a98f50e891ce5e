"""The record of each job run."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from juncture.store.base import Base, BigId


class JobRun(Base):
    """One run of a periodic job for one period; the unique key makes a period run at most once."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "period_start"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job: Mapped[str] = mapped_column(String(128), index=True)
    period_start: Mapped[datetime] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    duration_ms: Mapped[float | None] = mapped_column(default=None)
    outcome: Mapped[str] = mapped_column(String(16), default="running")  # running|ok|error
    error: Mapped[str | None] = mapped_column(Text, default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    instance: Mapped[str] = mapped_column(String(128), default="")
