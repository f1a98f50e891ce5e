"""90 days of the default simulated company, simulated and ingested into SQLite (issue 4).

Generation plus `load_into_database` (the real ingest path: validation, dedup, rollups, ticket
state; records are built and validated in a worker process while the main one writes, and
the write-ahead log is checkpointed at the end). Reference in the same run: the generation
alone. `--in-process` does both halves of the load in one process.
Usage: python bench/simulate_ingest.py [DAYS] [--in-process]   (default 90)
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from juncture.config import Settings
from juncture.simulate.load import load_into_database
from juncture.simulate.scenario import load_scenario
from juncture.simulate.world import generate
from juncture.store import migrate
from juncture.store.engine import Database


def main(days: int, *, in_process: bool = False) -> None:
    work = Path(tempfile.mkdtemp(prefix="juncture-sim-"))
    settings = Settings(database_url=f"sqlite:///{work}/sim.db", data_dir=work)
    db = Database(settings)
    migrate.upgrade(db)
    db.dispose()
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=days)  # ends at midnight: nothing lies in the future
    began = time.perf_counter()
    world = generate(load_scenario(None), days=days, seed=7, start=start)
    generated = time.perf_counter() - began
    summary = load_into_database(world, settings, parallel=not in_process)
    total = time.perf_counter() - began
    size = (work / "sim.db").stat().st_size / 1024**2
    print(
        f"{days} days, {world.n_events:,} events{' (in one process)' if in_process else ''}: "
        f"generated in {generated:.1f} s; "
        f"simulated + ingested into SQLite in {total:.1f} s ({world.n_events / total:,.0f} events/s; "
        f"target < 60 s); accepted {summary['accepted']:,}, quarantined {summary['quarantined']:,}; "
        f"database {size:,.0f} MB"
    )


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(args[0]) if args else 90, in_process="--in-process" in sys.argv)
