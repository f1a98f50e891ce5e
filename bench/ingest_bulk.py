"""Bulk import of mixed events into SQLite, beside raw sqlite3 executemany of the same rows.

The ceiling inserts exactly the rows juncture stores (same tables, same columns and keys,
values already converted), with no validation, no dedup and no rollups, in one transaction.
juncture's figure is `juncture import` of the same events from an NDJSON file: parsing,
validation, redaction, dedup, raw rows, minute/hour/day rollups and ticket state.
The import reads and validates in a worker process while the main one writes (two cores),
as `juncture import` does; `--in-process` measures both halves in one process.
Usage: python bench/ingest_bulk.py [N] [--in-process]   (default 1,000,000)
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._data import records, seed_catalog, write_ndjson

from juncture.config import Settings
from juncture.kit import clock
from juncture.signals.importer import import_file
from juncture.signals.ingest import COLUMNS, TABLES, IngestConfig
from juncture.signals.redact import Redactor
from juncture.signals.validate import Rules, validate
from juncture.store import migrate
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work


def main(n: int, *, in_process: bool = False) -> dict[str, float]:
    clock.set_default_clock(clock.FixedClock(datetime(2026, 11, 1, tzinfo=UTC)))
    work = Path(tempfile.mkdtemp(prefix="juncture-bench-"))
    source = write_ndjson(work / "events.ndjson", n)

    # The same rows juncture would store, converted ahead of time (not timed).
    ceiling_db = Database(Settings(database_url=f"sqlite:///{work}/ceiling.db"))
    migrate.upgrade(ceiling_db)
    seed_catalog(ceiling_db)
    from juncture.signals.ingest import load_catalog

    with unit_of_work(ceiling_db) as session:
        catalog = load_catalog(session)
    config = IngestConfig(retention_days=Settings().retention_days)
    rules = Rules(
        now_ms=int(clock.now().timestamp() * 1000),
        retention_days=config.retention_days,
        max_future_ms=300_000,
    )
    by_type: dict[str, list[tuple[object, ...]]] = {}
    for record in records(n):
        signal_type, key, row = validate(record, rules, catalog, Redactor())
        row["key"] = key
        by_type.setdefault(signal_type, []).append(tuple(row[c] for c in COLUMNS[signal_type]))
    ceiling_db.dispose()
    raw = sqlite3.connect(work / "ceiling.db")
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=NORMAL")
    started = time.perf_counter()
    for signal_type, rows in by_type.items():
        cols = COLUMNS[signal_type]
        raw.executemany(
            f"INSERT INTO {TABLES[signal_type].name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            rows,
        )
    raw.commit()
    ceiling = n / (time.perf_counter() - started)
    raw.close()

    settings = Settings(database_url=f"sqlite:///{work}/juncture.db")
    db = Database(settings, defer_checkpoints=True)  # as `juncture import` opens it
    migrate.upgrade(db)
    seed_catalog(db)
    started = time.perf_counter()
    summary = import_file(db, settings, source, parallel=not in_process)
    db.checkpoint()
    rate = n / (time.perf_counter() - started)
    assert summary.accepted == n, summary
    db.dispose()
    print(f"bulk import, {n:,} mixed events into SQLite (rollups and ticket state included)")
    print(
        f"  raw sqlite3 executemany, same rows, no validation/rollups : {ceiling:>10,.0f} events/s"
    )
    print(
        f"  juncture import (NDJSON file{', in one process' if in_process else ''})"
        f"{'' if in_process else ' ' * 16}           : {rate:>10,.0f} events/s "
        f"({rate / ceiling:.0%} of the ceiling; target 50%)"
    )
    return {"ceiling": ceiling, "juncture": rate}


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(args[0]) if args else 1_000_000, in_process="--in-process" in sys.argv)
