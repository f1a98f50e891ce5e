"""Catalog logic: create, read, change and delete the shared vocabulary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from juncture.access import service as access_service
from juncture.catalog.models import Channel, Journey, JourneyStep, Region, Service, step_services
from juncture.catalog.schemas import (
    ChannelCreate,
    ChannelUpdate,
    JourneyCreate,
    JourneyUpdate,
    RegionCreate,
    RegionUpdate,
    ServiceCreate,
    ServiceUpdate,
    StepIn,
)
from juncture.kit.errors import Conflict, Invalid, NotFound
from juncture.store.base import Base

M = TypeVar("M", bound=Base)


def _get_or_raise(session: Session, model: type[M], object_id: int, label: str) -> M:
    obj = session.get(model, object_id)
    if obj is None:
        raise NotFound(f"{label} {object_id} does not exist")
    return obj


def _slug_taken(session: Session, model: type[Any], slug: str) -> bool:
    return session.scalar(select(func.count()).select_from(model).where(model.slug == slug)) != 0


def _apply(obj: Any, changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        setattr(obj, key, value)


def _delete(session: Session, obj: Base, what: str) -> None:
    session.delete(obj)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"{what} is still referenced elsewhere", code="in_use") from exc


# ---------------------------------------------------------------- regions and channels


def list_regions(session: Session) -> Sequence[Region]:
    return session.scalars(select(Region).order_by(Region.slug)).all()


def get_region_by_slug(session: Session, *, slug: str) -> Region | None:
    return session.scalars(select(Region).where(Region.slug == slug)).one_or_none()


def create_region(session: Session, *, data: RegionCreate) -> Region:
    if _slug_taken(session, Region, data.slug):
        raise Conflict(f"region '{data.slug}' already exists", code="region_exists")
    region = Region(**data.model_dump())
    session.add(region)
    session.flush()
    return region


def update_region(session: Session, *, region_id: int, data: RegionUpdate) -> Region:
    region = _get_or_raise(session, Region, region_id, "region")
    _apply(region, data.model_dump(exclude_unset=True))
    session.flush()
    return region


def delete_region(session: Session, *, region_id: int) -> None:
    _delete(session, _get_or_raise(session, Region, region_id, "region"), "region")


def list_channels(session: Session) -> Sequence[Channel]:
    return session.scalars(select(Channel).order_by(Channel.slug)).all()


def get_channel_by_slug(session: Session, *, slug: str) -> Channel | None:
    return session.scalars(select(Channel).where(Channel.slug == slug)).one_or_none()


def create_channel(session: Session, *, data: ChannelCreate) -> Channel:
    if _slug_taken(session, Channel, data.slug):
        raise Conflict(f"channel '{data.slug}' already exists", code="channel_exists")
    channel = Channel(**data.model_dump())
    session.add(channel)
    session.flush()
    return channel


def update_channel(session: Session, *, channel_id: int, data: ChannelUpdate) -> Channel:
    channel = _get_or_raise(session, Channel, channel_id, "channel")
    _apply(channel, data.model_dump(exclude_unset=True))
    session.flush()
    return channel


def delete_channel(session: Session, *, channel_id: int) -> None:
    _delete(session, _get_or_raise(session, Channel, channel_id, "channel"), "channel")


# ---------------------------------------------------------------- services


def list_services(session: Session, *, owner_team_id: int | None = None) -> Sequence[Service]:
    query = select(Service).order_by(Service.tier, Service.name)
    if owner_team_id is not None:
        query = query.where(Service.owner_team_id == owner_team_id)
    return session.scalars(query).all()


def get_service_or_raise(session: Session, *, service_id: int) -> Service:
    return _get_or_raise(session, Service, service_id, "service")


def get_service_by_slug(session: Session, *, slug: str) -> Service | None:
    return session.scalars(select(Service).where(Service.slug == slug)).one_or_none()


def create_service(session: Session, *, data: ServiceCreate) -> Service:
    access_service.get_team_or_raise(session, team_id=data.owner_team_id)
    if _slug_taken(session, Service, data.slug):
        raise Conflict(f"service '{data.slug}' already exists", code="service_exists")
    service = Service(**data.model_dump())
    session.add(service)
    session.flush()
    return service


def update_service(session: Session, *, service_id: int, data: ServiceUpdate) -> Service:
    service = get_service_or_raise(session, service_id=service_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("owner_team_id") is not None:
        access_service.get_team_or_raise(session, team_id=changes["owner_team_id"])
    elif "owner_team_id" in changes:
        raise Invalid("a service must have an owner team", code="owner_required")
    _apply(service, changes)
    session.flush()
    return service


def delete_service(session: Session, *, service_id: int) -> None:
    service = get_service_or_raise(session, service_id=service_id)
    used = session.scalar(
        select(func.count())
        .select_from(step_services)
        .where(step_services.c.service_id == service_id)
    )
    if used:
        raise Conflict(
            f"service '{service.slug}' is mapped to {used} journey step(s); unmap it first",
            code="service_in_use",
        )
    _delete(session, service, f"service '{service.slug}'")


def journeys_of_service(session: Session, *, service_id: int) -> Sequence[Journey]:
    return session.scalars(
        select(Journey)
        .join(JourneyStep, JourneyStep.journey_id == Journey.id)
        .join(step_services, step_services.c.step_id == JourneyStep.id)
        .where(step_services.c.service_id == service_id)
        .distinct()
        .order_by(Journey.name)
    ).all()


# ---------------------------------------------------------------- journeys


def _journey_query() -> Select[Journey]:
    return select(Journey).options(selectinload(Journey.steps).selectinload(JourneyStep.services))


def list_journeys(session: Session) -> Sequence[Journey]:
    return session.scalars(_journey_query().order_by(Journey.name)).all()


def get_journey_or_raise(session: Session, *, journey_id: int) -> Journey:
    journey = session.scalars(_journey_query().where(Journey.id == journey_id)).one_or_none()
    if journey is None:
        raise NotFound(f"journey {journey_id} does not exist")
    return journey


def get_journey_by_slug(session: Session, *, slug: str) -> Journey | None:
    return session.scalars(_journey_query().where(Journey.slug == slug)).one_or_none()


def _build_steps(session: Session, steps: list[StepIn]) -> list[JourneyStep]:
    wanted = {sid for step in steps for sid in step.service_ids}
    found = {s.id: s for s in session.scalars(select(Service).where(Service.id.in_(wanted)))}
    missing = sorted(wanted - set(found))
    if missing:
        raise Invalid(
            f"unknown service id(s): {', '.join(map(str, missing))}", code="unknown_service"
        )
    return [
        JourneyStep(
            position=index,
            slug=step.slug,
            name=step.name,
            services=[found[sid] for sid in dict.fromkeys(step.service_ids)],
        )
        for index, step in enumerate(steps)
    ]


def create_journey(session: Session, *, data: JourneyCreate) -> Journey:
    if data.owner_team_id is not None:
        access_service.get_team_or_raise(session, team_id=data.owner_team_id)
    if _slug_taken(session, Journey, data.slug):
        raise Conflict(f"journey '{data.slug}' already exists", code="journey_exists")
    journey = Journey(
        slug=data.slug,
        name=data.name,
        description=data.description,
        owner_team_id=data.owner_team_id,
        steps=_build_steps(session, data.steps),
    )
    session.add(journey)
    session.flush()
    return get_journey_or_raise(session, journey_id=journey.id)


def update_journey(session: Session, *, journey_id: int, data: JourneyUpdate) -> Journey:
    journey = get_journey_or_raise(session, journey_id=journey_id)
    changes = data.model_dump(exclude_unset=True, exclude={"steps"})
    if changes.get("owner_team_id") is not None:
        access_service.get_team_or_raise(session, team_id=changes["owner_team_id"])
    _apply(journey, changes)
    if data.steps is not None:
        journey.steps.clear()
        session.flush()  # free the (journey, position) slots before the new steps take them
        journey.steps.extend(_build_steps(session, data.steps))
    session.flush()
    session.expire(journey)
    return get_journey_or_raise(session, journey_id=journey_id)


def delete_journey(session: Session, *, journey_id: int) -> None:
    _delete(session, get_journey_or_raise(session, journey_id=journey_id), "journey")


def slug_ids(session: Session) -> tuple[dict[str, int], dict[str, int], dict[tuple[str, str], int]]:
    """Slug-to-id maps for services, journeys and (journey slug, step slug) pairs."""
    services = {slug: sid for sid, slug in session.execute(select(Service.id, Service.slug)).all()}
    journeys = {slug: jid for jid, slug in session.execute(select(Journey.id, Journey.slug)).all()}
    steps = {
        (jslug, sslug): step_id
        for step_id, jslug, sslug in session.execute(
            select(JourneyStep.id, Journey.slug, JourneyStep.slug).join(
                Journey, Journey.id == JourneyStep.journey_id
            )
        ).all()
    }
    return services, journeys, steps
