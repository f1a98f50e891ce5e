"""Loading a simulated world into the configured database through the signals room's ingest.

The company's vocabulary (teams, services, journeys, regions, channels) is created through the
catalog and access services, then every signal goes through the same ingest path as real data
(validation, dedup, rollups), in batches that each commit on their own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from juncture.access import service as access_service
from juncture.access.schemas import TeamCreate
from juncture.catalog import service as catalog_service
from juncture.catalog.schemas import (
    ChannelCreate,
    JourneyCreate,
    RegionCreate,
    ServiceCreate,
    StepIn,
)
from juncture.signals import service as signals_service
from juncture.simulate.catalog import DEFAULT_CATALOG
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work

if TYPE_CHECKING:
    from juncture.config import Settings
    from juncture.simulate.world import World

Progress = Callable[[int, int], None]


def seed_catalog(db: Database, catalog: Any = DEFAULT_CATALOG) -> bool:
    """Create the simulated company's vocabulary; False when it is already there."""
    data = catalog.as_dict()
    with unit_of_work(db) as session:
        if access_service.get_team_by_slug(session, slug=data["teams"][0]["slug"]) is not None:
            return False
        teams = {}
        for team in data["teams"]:
            created = access_service.create_team(
                session,
                data=TeamCreate(
                    slug=team["slug"],
                    name=team["name"],
                    kind=team.get("kind", "ops"),
                    timezone=team.get("timezone", "UTC"),
                ),
            )
            teams[team["slug"]] = created.id
        services = {}
        for svc in data["services"]:
            created_svc = catalog_service.create_service(
                session,
                data=ServiceCreate(
                    slug=svc["slug"],
                    name=svc["name"],
                    owner_team_id=teams[svc["owner"]],
                    tier=svc.get("tier", 2),
                    description=svc.get("description", ""),
                ),
            )
            services[svc["slug"]] = created_svc.id
        for journey in data["journeys"]:
            catalog_service.create_journey(
                session,
                data=JourneyCreate(
                    slug=journey["slug"],
                    name=journey["name"],
                    owner_team_id=teams.get(journey.get("owner", "")),
                    steps=[
                        StepIn(
                            slug=s["slug"],
                            name=s["name"],
                            service_ids=[services[x] for x in s["services"]],
                        )
                        for s in journey["steps"]
                    ],
                ),
            )
        for region in data["regions"]:
            catalog_service.create_region(
                session,
                data=RegionCreate(
                    slug=region["slug"], name=region["name"], timezone=region["timezone"]
                ),
            )
        for channel in data["channels"]:
            catalog_service.create_channel(
                session,
                data=ChannelCreate(
                    slug=channel["slug"], name=channel["name"], kind=channel["kind"]
                ),
            )
    return True


def load_into_database(
    world: World,
    settings: Settings,
    *,
    batch_size: int = 20_000,
    on_progress: Progress | None = None,
    truth_path: Path | None = None,
    parallel: bool | None = None,
) -> dict[str, Any]:
    """Ingest a world's signals into the database named by ``settings`` and keep its truth.

    Parameters
    ----------
    world : World
        A generated world.
    settings : Settings
        juncture configuration (``database_url``, ingest settings).
    batch_size : int
        Records per committed batch.
    on_progress : callable, optional
        Called with (records done, records total) after each batch.
    truth_path : Path, optional
        Where to write the ground truth JSON [default: ``<data_dir>/simulation-truth.json``].
    parallel : bool, optional
        Build and validate records in a worker process while this one writes
        [default: when a second core and ``fork`` are available].

    Returns
    -------
    dict
        received, accepted, duplicates, quarantined, reasons.
    """
    db = Database(settings, defer_checkpoints=True)
    try:
        seed_catalog(db)
        totals: dict[str, Any] = {
            "received": 0,
            "accepted": 0,
            "duplicates": 0,
            "quarantined": 0,
            "reasons": {},
        }
        done = 0

        def batches() -> Iterator[tuple[list[dict[str, Any]], int]]:
            for batch in world.iter_records(batch_size=batch_size):
                yield batch, len(batch)

        def count(result: Any, size: int) -> None:  # an IngestResult
            nonlocal done
            for key in ("received", "accepted", "duplicates", "quarantined"):
                totals[key] += getattr(result, key)
            for reason, n in result.reasons.items():
                totals["reasons"][reason] = totals["reasons"].get(reason, 0) + n
            done += size
            if on_progress is not None:
                on_progress(done, world.n_events)

        # Records are built and validated in a worker process while this one writes.
        signals_service.load_batches(
            db, batches, settings=settings, source="simulate", parallel=parallel, after=count
        )
        db.checkpoint()
    finally:
        db.dispose()
    target = truth_path or Path(settings.data_dir) / "simulation-truth.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(world.truth.to_dict(), default=str))
    return totals
