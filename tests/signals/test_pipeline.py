"""Bulk loads on two cores (signals.pipeline): a worker process validates while this one writes.

The same accounting and the same stored numbers as ingesting in-process, on both engines.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from juncture.catalog.models import Service
from juncture.config import Settings
from juncture.kit import clock
from juncture.signals import service
from juncture.signals.ingest import IngestResult, load_catalog, prepare, rules_for
from juncture.signals.models import Quarantined
from juncture.signals.pipeline import PipelineError, prepared_batches
from juncture.signals.redact import Redactor
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work
from tests.signals.fixtures import BASE, metric, mixed, seed_catalog
from tests.signals.test_ingest import _rollup_rows

NOW = clock.FixedClock(BASE + timedelta(days=1))


@pytest.fixture(autouse=True)
def _frozen_clock() -> Any:
    with clock.use_clock(NOW):
        yield


def _load(db: Database, records: list[Any], *, parallel: bool, batch: int = 250) -> IngestResult:
    def source() -> Iterator[tuple[list[Any], int]]:
        for start in range(0, len(records), batch):
            yield records[start : start + batch], start

    return service.load_batches(db, source, settings=Settings(), source="t", parallel=parallel)


def _spools() -> list[Path]:
    pattern = f"juncture-ingest-{os.getpid()}-*"
    return [p for d in (Path("/dev/shm"), Path(tempfile.gettempdir())) for p in d.glob(pattern)]


@pytest.mark.parametrize("parallel", [True, False], ids=["worker", "in-process"])
def test_every_record_is_accounted_for_and_rollups_rebuild_identically(
    db: Database, parallel: bool
) -> None:
    seed_catalog(db)
    good = mixed(1500, seed=4)
    bad = [metric(i, -1.0 - i) for i in range(40)]  # negative latency: out_of_range
    records = good[:700] + bad + good[700:] + good[:120]  # the last 120 are redeliveries
    result = _load(db, records, parallel=parallel)
    assert (result.received, result.accepted, result.duplicates, result.quarantined) == (
        len(records),
        len(good),
        120,
        len(bad),
    )
    assert result.reasons == {"out_of_range": len(bad)}
    assert not _spools()
    incremental = _rollup_rows(db)
    with unit_of_work(db) as session:
        service.rebuild_rollups(session, chunk=300)
    assert _rollup_rows(db) == incremental
    again = _load(db, records, parallel=parallel)
    assert (again.accepted, again.duplicates, again.quarantined) == (
        0,
        len(good) + 120,
        len(bad),
    )
    with unit_of_work(db, write=False) as session:
        quarantined = session.scalar(select(func.sum(Quarantined.seen_count)))
    assert quarantined == 2 * len(bad)


def test_a_failing_reader_is_reported_with_its_traceback_and_leaves_nothing(
    db: Database,
) -> None:
    seed_catalog(db)
    with unit_of_work(db, write=False) as session:
        catalog = load_catalog(session)

    def source() -> Iterator[tuple[list[Any], int]]:
        yield [metric(1, 10.0)], 0
        raise ValueError("the disk went away")

    got = []
    with pytest.raises(PipelineError, match="the disk went away"):
        for prepared, meta in prepared_batches(
            source, config=service.ingest_config(Settings()), catalog=catalog, parallel=True
        ):
            got.append((prepared.received, meta))
    assert got == [(1, 0)]
    assert multiprocessing.active_children() == []
    assert not _spools()


def test_a_writer_that_stops_early_stops_the_worker(db: Database) -> None:
    seed_catalog(db)
    with unit_of_work(db, write=False) as session:
        catalog = load_catalog(session)

    def source() -> Iterator[tuple[list[Any], int]]:
        for i in range(1000):
            yield [metric(i, 10.0)], i

    batches = prepared_batches(
        source, config=service.ingest_config(Settings()), catalog=catalog, parallel=True
    )
    assert next(batches)[1] == 0
    assert [p.name for p in multiprocessing.active_children()] == ["juncture-ingest-worker"]
    batches.close()  # as when storing a batch raises
    assert multiprocessing.active_children() == []  # the worker was stopped and reaped
    assert not _spools()


def test_rows_validated_against_an_older_catalog_get_ids_registered_since(
    db: Database,
) -> None:
    seed_catalog(db)
    cfg = Settings(auto_register=True)
    with unit_of_work(db, write=False) as session:
        old = load_catalog(session)  # no 'search' yet
    prepared = prepare(
        [metric(1, 10.0, service="search"), metric(2, 12.0, service="search")],
        rules=rules_for(service.ingest_config(cfg), now_ms=clock.to_ms(NOW.now())),
        catalog=old,
        redactor=Redactor({}),
    )
    with unit_of_work(db) as session:  # another batch registers it meanwhile
        service.ingest(
            session, records=[metric(3, 11.0, service="search")], settings=cfg, source="t"
        )
    with unit_of_work(db) as session:
        result = service.store(session, prepared=prepared, settings=cfg, source="t")
    assert (result.accepted, result.quarantined) == (2, 0)
    with unit_of_work(db, write=False) as session:
        assert session.scalar(select(func.count()).where(Service.slug == "search")) == 1


def test_auto_register_refuses_names_the_catalog_cannot_hold(db: Database) -> None:
    seed_catalog(db)
    cfg = Settings(auto_register=True)
    with unit_of_work(db) as session:
        result = service.ingest(
            session,
            records=[metric(1, 10.0, service="Search Service!"), metric(2, 10.0, service="search")],
            settings=cfg,
            source="t",
        )
    assert (result.accepted, result.quarantined) == (1, 1)
    assert result.reasons == {"bad_name": 1}
