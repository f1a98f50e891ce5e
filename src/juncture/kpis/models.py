"""Tables of the kpis room: objectives and key results (OKRs) and their check-in history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from juncture.kit import clock
from juncture.store.base import Base, IdMixin, JSONType, TimestampMixin


class Objective(IdMixin, TimestampMixin, Base):
    """A goal owned jointly by one operations team and one customer-experience team."""

    __tablename__ = "okr_objectives"
    __audited__ = True
    __table_args__ = (CheckConstraint("ops_team_id <> cx_team_id", name="distinct_owners"),)

    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    ops_team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="RESTRICT"), index=True
    )
    cx_team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"), index=True)
    period_start: Mapped[date] = mapped_column()
    period_end: Mapped[date] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="active")  # see OBJECTIVE_STATUSES

    key_results: Mapped[list[KeyResult]] = relationship(
        back_populates="objective",
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="KeyResult.id",
    )


class KeyResult(IdMixin, TimestampMixin, Base):
    """A measurable result of an objective: a KPI (optionally sliced) or a manual number."""

    __tablename__ = "okr_key_results"
    __audited__ = True

    objective_id: Mapped[int] = mapped_column(
        ForeignKey("okr_objectives.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # kpi | manual
    kpi: Mapped[str | None] = mapped_column(String(64), default=None)
    filters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    baseline: Mapped[float] = mapped_column(Float)
    target: Mapped[float] = mapped_column(Float)
    direction: Mapped[str] = mapped_column(String(8))  # up | down
    deadline: Mapped[date] = mapped_column()
    unit: Mapped[str] = mapped_column(String(32), default="")
    # The latest value: set by manual check-ins, or by the refresh job for KPI key results.
    # Not audited (the check-in history is the record of values).
    current_value: Mapped[float | None] = mapped_column(Float, default=None, info={"audit": False})
    current_at: Mapped[datetime | None] = mapped_column(default=None, info={"audit": False})

    objective: Mapped[Objective] = relationship(back_populates="key_results", lazy="raise")


class KeyResultCheckin(IdMixin, Base):
    """One value of a key result at one instant: the history progress and trends are read from."""

    __tablename__ = "okr_checkins"
    __table_args__ = (Index("ix_okr_checkins_kr_at", "key_result_id", "at"),)

    key_result_id: Mapped[int] = mapped_column(ForeignKey("okr_key_results.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=clock.now)
    value: Mapped[float] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(16))  # computed | manual
    actor: Mapped[str] = mapped_column(String(200), default="")
