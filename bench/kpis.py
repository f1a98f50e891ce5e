"""KPI API calls and the overview with ~10 million events stored, on SQLite and PostgreSQL.

The data is the simulated company (`juncture simulate --days 270 --into`, about 10M events of
every type), built once into a cached SQLite file. For PostgreSQL the same stored state (raw
tables, rollups, ticket state, catalog) is copied with COPY into a fresh schema, because
ingesting 10M records through the app on PostgreSQL takes far longer than the benchmark.

Measured (median of 5, server time, no HTTP): for every available KPI the work behind
`GET /api/v1/kpis/{kpi}` for the last 7 days (value with interval, comparison with the previous
7 days, daily series), and `kpis.overview.overview()` behind the overview page and
`GET /api/v1/overview`. Reference in the same run: the targets (100 ms per KPI call, 300 ms for
the overview) and what one KPI costs when computed from raw events (CSAT over the same 7 days
from `signal_surveys`, ticket volume from `signal_ticket_events`).

Usage: python bench/kpis.py [--days 270] [--postgres URL] [--recopy]
(the SQLite file is cached in $JUNCTURE_BENCH_CACHE or /tmp/juncture-bench, the PostgreSQL copy
in schema juncture_bench_kpis_<days>d; drop it with DROP SCHEMA ... CASCADE when done)
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text

from juncture.config import Settings
from juncture.kpis import api as kpis_api
from juncture.kpis import service as kpis_service
from juncture.kpis.catalogue import KPIS
from juncture.models import metadata
from juncture.store import migrate
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work

CACHE = Path(os.environ.get("JUNCTURE_BENCH_CACHE", "/tmp/juncture-bench"))
RAW = (
    "signal_metrics",
    "signal_funnel",
    "signal_ticket_events",
    "signal_surveys",
    "signal_reviews",
    "signal_deploys",
)
HOURS: dict[str, dict[str, str | list[str]]] = {"*": {"mon-sun": "00:00-24:00"}}


def build_sqlite(days: int) -> Path:
    path = CACHE / f"kpis-{days}d.db"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".building.db")
    tmp.unlink(missing_ok=True)
    env = os.environ | {
        "JUNCTURE_DATABASE_URL": f"sqlite:///{tmp}",
        "JUNCTURE_DATA_DIR": str(CACHE),
    }
    exe = Path(sys.executable).parent / "juncture"
    subprocess.run([str(exe), "db", "upgrade"], env=env, check=True)
    print(f"simulating {days} days into {tmp} (once; cached) ...", flush=True)
    subprocess.run([str(exe), "simulate", "--days", str(days), "--into"], env=env, check=True)
    tmp.rename(path)
    return path


def copy_to_postgres(source: Path, url: str, days: int, recopy: bool) -> str:
    """The cached SQLite state copied into schema ``juncture_bench_kpis_<days>d`` (kept between
    runs: the copy takes minutes; ``--recopy`` makes a fresh one)."""
    schema = f"juncture_bench_kpis_{days}d"
    sep = "&" if "?" in url else "?"
    target = f"{url}{sep}options=-csearch_path%3D{schema}"
    admin = create_engine(url)
    with admin.begin() as conn:
        present = conn.execute(
            text("SELECT count(*) FROM information_schema.tables WHERE table_schema = :s "
                 "AND table_name = 'bench_copy_done'"),
            {"s": schema},
        ).scalar_one()  # fmt: skip
        if present and not recopy:
            admin.dispose()
            db = Database(Settings(database_url=target))
            migrate.upgrade(db)  # the copy may predate the newest migration
            db.dispose()
            print(f"reusing the PostgreSQL copy in schema {schema}", flush=True)
            return target
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    db = Database(Settings(database_url=target))
    migrate.upgrade(db)
    lite = sqlite3.connect(source)
    started = time.perf_counter()
    total = 0
    with db.engine.begin() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        cur = raw.cursor()
        for table in metadata.sorted_tables:
            cur.execute(f"TRUNCATE {table.name} CASCADE")
        for table in metadata.sorted_tables:
            cols = [c.name for c in table.columns]
            names = ", ".join(f'"{c}"' for c in cols)
            rows = lite.execute(f"SELECT {names} FROM {table.name}")
            with cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    total += 1
        for table in metadata.sorted_tables:
            if "id" in table.columns and table.name not in ("signal_rollups",):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"COALESCE((SELECT max(id) FROM {table.name}), 1))"
                )
        cur.execute("ANALYZE")
        cur.execute("CREATE TABLE bench_copy_done (at timestamptz DEFAULT now())")
    print(
        f"copied {total:,} rows to PostgreSQL in {time.perf_counter() - started:.0f} s", flush=True
    )
    db.dispose()
    return target


def median_ms(fn: Callable[[], Any], runs: int = 5) -> float:
    fn()  # warm caches (catalog, sketches decoded once per process)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def measure(url: str, label: str) -> dict[str, float]:
    settings = Settings(database_url=url, business_hours=HOURS)
    db = Database(settings)
    out: dict[str, float] = {}
    with unit_of_work(db, write=False) as session:
        events = sum(
            int(session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in RAW
        )
        start, end = kpis_service.window(session, None, None)
        print(
            f"\n{label}: {events:,} events stored; window {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC"
        )
        print(f"{'call':34s} {'median ms':>10s}  target")
        for k in KPIS:
            if not k.available:
                continue

            def call(key: str = k.key) -> None:
                kpis_api.read_kpi(
                    session, kpi=key, start=start, end=end, bucket="day", group_by=None,
                    filters={}, baseline=False, settings=settings,
                )  # fmt: skip

            out[k.key] = median_ms(call)
            print(f"GET /kpis/{k.key:24s} {out[k.key]:10.1f}  100")
        worst = max(out.values())
        print(
            f"{'slowest KPI call':34s} {worst:10.1f}  100  ({'met' if worst < 100 else 'NOT met'})"
        )
        try:
            from juncture.kpis import overview as overview_room
        except ImportError:
            overview_room = None  # type: ignore[assignment]
        if overview_room is not None and hasattr(overview_room, "overview"):
            ms = median_ms(lambda: overview_room.overview(session, start=start, end=end))
            out["overview"] = ms
            print(f"{'overview':34s} {ms:10.1f}  300  ({'met' if ms < 300 else 'NOT met'})")
        s_ms, e_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
        raw_csat = median_ms(
            lambda: session.execute(
                text(
                    "SELECT score, count(*) FROM signal_surveys WHERE kind = 'csat' "
                    "AND ts_ms >= :s AND ts_ms < :e GROUP BY score"
                ),
                {"s": s_ms - 7 * 86_400_000, "e": e_ms},
            ).all()
        )
        raw_tickets = median_ms(
            lambda: session.execute(
                text(
                    "SELECT count(*) FROM signal_ticket_events WHERE kind = 'created' "
                    "AND ts_ms >= :s AND ts_ms < :e"
                ),
                {"s": s_ms - 7 * 86_400_000, "e": e_ms},
            ).all()
        )
        print(f"{'reference: CSAT from raw surveys':34s} {raw_csat:10.1f}  (2 windows, no series)")
        print(
            f"{'reference: tickets from raw events':34s} {raw_tickets:10.1f}  (2 windows, no series)"
        )
    db.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=270)
    parser.add_argument("--postgres", default=os.environ.get("JUNCTURE_TEST_POSTGRES_URL"))
    parser.add_argument("--recopy", action="store_true", help="copy to PostgreSQL again")
    args = parser.parse_args()
    source = build_sqlite(args.days)
    up = Database(Settings(database_url=f"sqlite:///{source}"))
    migrate.upgrade(up)  # the cached file may predate the newest migration
    up.dispose()
    measure(f"sqlite:///{source}", "SQLite")
    if args.postgres:
        url = Settings(database_url=args.postgres).database_url
        measure(copy_to_postgres(source, url, args.days, args.recopy), "PostgreSQL")


if __name__ == "__main__":
    main()
