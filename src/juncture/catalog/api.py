"""HTTP routes of the catalog room: services, journeys, regions, channels."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from juncture.api.deps import ReadActor, SessionDep, WriteActor
from juncture.catalog import service
from juncture.catalog.schemas import (
    ChannelCreate,
    ChannelRead,
    ChannelUpdate,
    JourneyCreate,
    JourneyRead,
    JourneyUpdate,
    RegionCreate,
    RegionRead,
    RegionUpdate,
    ServiceCreate,
    ServiceRead,
    ServiceUpdate,
)

router = APIRouter()
NO_CONTENT = status.HTTP_204_NO_CONTENT


@router.get("/services", response_model=list[ServiceRead], tags=["services"])
def list_services(
    session: SessionDep, actor: ReadActor, owner_team_id: int | None = None
) -> object:
    return service.list_services(session, owner_team_id=owner_team_id)


@router.post("/services", response_model=ServiceRead, status_code=201, tags=["services"])
def create_service(data: ServiceCreate, session: SessionDep, actor: WriteActor) -> object:
    return service.create_service(session, data=data)


@router.get("/services/{service_id}", response_model=ServiceRead, tags=["services"])
def get_service(service_id: int, session: SessionDep, actor: ReadActor) -> object:
    return service.get_service_or_raise(session, service_id=service_id)


@router.patch("/services/{service_id}", response_model=ServiceRead, tags=["services"])
def update_service(
    service_id: int, data: ServiceUpdate, session: SessionDep, actor: WriteActor
) -> object:
    return service.update_service(session, service_id=service_id, data=data)


@router.delete("/services/{service_id}", status_code=NO_CONTENT, tags=["services"])
def delete_service(service_id: int, session: SessionDep, actor: WriteActor) -> Response:
    service.delete_service(session, service_id=service_id)
    return Response(status_code=NO_CONTENT)


@router.get("/journeys", response_model=list[JourneyRead], tags=["journeys"])
def list_journeys(session: SessionDep, actor: ReadActor) -> object:
    return service.list_journeys(session)


@router.post("/journeys", response_model=JourneyRead, status_code=201, tags=["journeys"])
def create_journey(data: JourneyCreate, session: SessionDep, actor: WriteActor) -> object:
    return service.create_journey(session, data=data)


@router.get("/journeys/{journey_id}", response_model=JourneyRead, tags=["journeys"])
def get_journey(journey_id: int, session: SessionDep, actor: ReadActor) -> object:
    return service.get_journey_or_raise(session, journey_id=journey_id)


@router.patch("/journeys/{journey_id}", response_model=JourneyRead, tags=["journeys"])
def update_journey(
    journey_id: int, data: JourneyUpdate, session: SessionDep, actor: WriteActor
) -> object:
    return service.update_journey(session, journey_id=journey_id, data=data)


@router.delete("/journeys/{journey_id}", status_code=NO_CONTENT, tags=["journeys"])
def delete_journey(journey_id: int, session: SessionDep, actor: WriteActor) -> Response:
    service.delete_journey(session, journey_id=journey_id)
    return Response(status_code=NO_CONTENT)


@router.get("/regions", response_model=list[RegionRead], tags=["regions"])
def list_regions(session: SessionDep, actor: ReadActor) -> object:
    return service.list_regions(session)


@router.post("/regions", response_model=RegionRead, status_code=201, tags=["regions"])
def create_region(data: RegionCreate, session: SessionDep, actor: WriteActor) -> object:
    return service.create_region(session, data=data)


@router.patch("/regions/{region_id}", response_model=RegionRead, tags=["regions"])
def update_region(
    region_id: int, data: RegionUpdate, session: SessionDep, actor: WriteActor
) -> object:
    return service.update_region(session, region_id=region_id, data=data)


@router.delete("/regions/{region_id}", status_code=NO_CONTENT, tags=["regions"])
def delete_region(region_id: int, session: SessionDep, actor: WriteActor) -> Response:
    service.delete_region(session, region_id=region_id)
    return Response(status_code=NO_CONTENT)


@router.get("/channels", response_model=list[ChannelRead], tags=["channels"])
def list_channels(session: SessionDep, actor: ReadActor) -> object:
    return service.list_channels(session)


@router.post("/channels", response_model=ChannelRead, status_code=201, tags=["channels"])
def create_channel(data: ChannelCreate, session: SessionDep, actor: WriteActor) -> object:
    return service.create_channel(session, data=data)


@router.patch("/channels/{channel_id}", response_model=ChannelRead, tags=["channels"])
def update_channel(
    channel_id: int, data: ChannelUpdate, session: SessionDep, actor: WriteActor
) -> object:
    return service.update_channel(session, channel_id=channel_id, data=data)


@router.delete("/channels/{channel_id}", status_code=NO_CONTENT, tags=["channels"])
def delete_channel(channel_id: int, session: SessionDep, actor: WriteActor) -> Response:
    service.delete_channel(session, channel_id=channel_id)
    return Response(status_code=NO_CONTENT)
