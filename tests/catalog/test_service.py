"""Catalog services: services, journeys with ordered steps mapped to services, regions, channels."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from juncture.catalog import service as catalog_service
from juncture.catalog.schemas import (
    JourneyCreate,
    JourneyUpdate,
    RegionCreate,
    ServiceCreate,
    ServiceUpdate,
    StepIn,
)
from juncture.kit.errors import Conflict, Invalid, NotFound
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work
from tests.factories import make_journey, make_service, make_team


def test_service_needs_an_existing_owner_team(db: Database) -> None:
    with pytest.raises(NotFound, match="team 999"), unit_of_work(db) as session:
        catalog_service.create_service(
            session, data=ServiceCreate(slug="x", name="X", owner_team_id=999)
        )


def test_service_update_keeps_unset_fields(db: Database) -> None:
    team = make_team(db)
    other = make_team(db)
    svc = make_service(
        db, owner_team_id=team, slug="search", name="Search", tier=2, description="d"
    )
    with unit_of_work(db) as session:
        updated = catalog_service.update_service(
            session, service_id=svc, data=ServiceUpdate(tier=1, owner_team_id=other)
        )
        assert (updated.tier, updated.owner_team_id, updated.name, updated.description) == (
            1,
            other,
            "Search",
            "d",
        )


def test_journey_steps_keep_order_and_service_mapping(db: Database) -> None:
    team = make_team(db)
    a, b, c = (make_service(db, owner_team_id=team) for _ in range(3))
    journey_id = make_journey(db, steps=[("Browse", [a, b]), ("Pay", [c]), ("Done", [])])
    with unit_of_work(db) as session:
        journey = catalog_service.get_journey_or_raise(session, journey_id=journey_id)
        assert [(s.position, s.name, s.service_ids) for s in journey.steps] == [
            (0, "Browse", sorted([a, b])),
            (1, "Pay", [c]),
            (2, "Done", []),
        ]
        assert [j.id for j in catalog_service.journeys_of_service(session, service_id=c)] == [
            journey_id
        ]


def test_journey_update_replaces_steps_atomically(db: Database) -> None:
    team = make_team(db)
    a, b = make_service(db, owner_team_id=team), make_service(db, owner_team_id=team)
    journey_id = make_journey(db, steps=[("One", [a]), ("Two", [b])])
    with unit_of_work(db) as session:
        catalog_service.update_journey(
            session,
            journey_id=journey_id,
            data=JourneyUpdate(steps=[StepIn(slug="two", name="Two", service_ids=[a, b])]),
        )
    with unit_of_work(db) as session:
        journey = catalog_service.get_journey_or_raise(session, journey_id=journey_id)
        assert [(s.slug, s.service_ids) for s in journey.steps] == [("two", sorted([a, b]))]
    with pytest.raises(Invalid, match="unknown service"), unit_of_work(db) as session:
        catalog_service.update_journey(
            session,
            journey_id=journey_id,
            data=JourneyUpdate(steps=[StepIn(slug="x", name="X", service_ids=[424242])]),
        )
    with unit_of_work(db) as session:  # the failed update changed nothing
        journey = catalog_service.get_journey_or_raise(session, journey_id=journey_id)
        assert [s.slug for s in journey.steps] == ["two"]


def test_step_slugs_must_be_unique() -> None:
    with pytest.raises(ValidationError, match="unique"):
        JourneyCreate(
            slug="j", name="J", steps=[StepIn(slug="a", name="A"), StepIn(slug="a", name="B")]
        )


def test_deleting_a_team_that_owns_services_is_refused(db: Database) -> None:
    from juncture.access import service as access_service

    team = make_team(db)
    make_service(db, owner_team_id=team)
    with pytest.raises(Conflict, match="still owns"), unit_of_work(db) as session:
        access_service.delete_team(session, team_id=team)


def test_deleting_a_journey_frees_its_services(db: Database) -> None:
    team = make_team(db)
    svc = make_service(db, owner_team_id=team)
    journey_id = make_journey(db, steps=[("Only", [svc])])
    with pytest.raises(Conflict), unit_of_work(db) as session:
        catalog_service.delete_service(session, service_id=svc)
    with unit_of_work(db) as session:
        catalog_service.delete_journey(session, journey_id=journey_id)
    with unit_of_work(db) as session:
        catalog_service.delete_service(session, service_id=svc)
        assert catalog_service.list_services(session) == []


def test_regions_are_unique_by_slug(db: Database) -> None:
    with unit_of_work(db) as session:
        catalog_service.create_region(
            session, data=RegionCreate(slug="eu", name="EU", timezone="Europe/Berlin")
        )
    with pytest.raises(Conflict), unit_of_work(db) as session:
        catalog_service.create_region(session, data=RegionCreate(slug="eu", name="Europe"))
