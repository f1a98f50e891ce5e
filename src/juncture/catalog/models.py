"""Tables of the catalog room."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from juncture.store.base import Base, IdMixin, TimestampMixin

step_services = Table(
    "journey_step_services",
    Base.metadata,
    Column("step_id", ForeignKey("journey_steps.id", ondelete="CASCADE"), primary_key=True),
    Column("service_id", ForeignKey("services.id", ondelete="RESTRICT"), primary_key=True),
)


class Region(IdMixin, Base):
    """Where customers are (eu, us, apac...), with the local time zone used for seasonality."""

    __tablename__ = "regions"
    __audited__ = True

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")


class Channel(IdMixin, Base):
    """How customers reach us (web, app, phone, e-mail, chat)."""

    __tablename__ = "channels"
    __audited__ = True

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="digital")  # digital | assisted


class Service(IdMixin, TimestampMixin, Base):
    """A customer-facing capability (checkout, search, payments) owned by a team."""

    __tablename__ = "services"
    __audited__ = True

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    owner_team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="RESTRICT"), index=True
    )
    tier: Mapped[int] = mapped_column(default=2)
    customer_facing: Mapped[bool] = mapped_column(default=True)


class Journey(IdMixin, TimestampMixin, Base):
    """An ordered path customers take (browse, cart, checkout, paid)."""

    __tablename__ = "journeys"
    __audited__ = True

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    owner_team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="RESTRICT"), default=None, index=True
    )

    steps: Mapped[list[JourneyStep]] = relationship(
        back_populates="journey",
        lazy="raise",
        cascade="all, delete-orphan",
        order_by="JourneyStep.position",
    )


class JourneyStep(IdMixin, Base):
    """One step of a journey and the services it depends on."""

    __tablename__ = "journey_steps"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("journey_id", "slug"),
        UniqueConstraint("journey_id", "position"),
    )

    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column()
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))

    journey: Mapped[Journey] = relationship(back_populates="steps", lazy="raise")
    services: Mapped[list[Service]] = relationship(secondary=step_services, lazy="raise")

    @property
    def service_ids(self) -> list[int]:
        return sorted(service.id for service in self.services)
