"""Reading a 90-day hourly series from rollups, at 1M and at 10M stored raw events.

Raw rows and rollups are written with juncture's own writers (driver executemany for raw rows,
`write_rollups` for the minute/hour/day aggregates), skipping HTTP and validation so that the
10M-event database builds in about a minute. The read is `signals.service.read_series` for one
service/metric/region over 90 days at hour grain, with quantiles: the same call as
`GET /api/v1/series`. Reference in the same run: a plain indexed `SELECT` of the same rollup
rows without any processing.
Usage: python bench/series_read.py [N1 N2 ...]   (default 1000000 10000000)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._data import SERVICES, seed_catalog

from juncture.config import Settings
from juncture.signals import service
from juncture.signals.ingest import IngestConfig, Ingestor, write_rollups
from juncture.store import migrate
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work

START = datetime(2026, 6, 1, tzinfo=UTC)
DAYS = 90
REGIONS = ["eu", "us", "apac"]


def build(n: int, work: Path) -> Database:
    settings = Settings(database_url=f"sqlite:///{work}/series-{n}.db")
    db = Database(settings)
    migrate.upgrade(db)
    seed_catalog(db)
    rng = np.random.default_rng(1)
    with unit_of_work(db) as session:
        ingestor = Ingestor(session, IngestConfig(retention_days={}), source="bench")
        specs = [
            ("metric", s, "latency_p95_ms", r, None, None, ()) for s in SERVICES for r in REGIONS
        ]
        ingestor._series_id(specs)
        series_ids = np.array([ingestor.series_ids[s] for s in specs], dtype=np.int64)
        service_ids = ingestor.catalog.services
    chunk = 1_000_000
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        pick = rng.integers(0, len(specs), size=size)
        ts = int(START.timestamp() * 1000) + rng.integers(0, DAYS * 86_400_000, size=size)
        values = rng.gamma(2.0, 60.0, size=size)
        with unit_of_work(db) as session:
            raw = session.connection().connection.driver_connection
            assert raw is not None
            raw.executemany(
                "INSERT INTO signal_metrics (key, ts_ms, service_id, metric, value, unit, region, labels) "
                "VALUES (?, ?, ?, 'latency_p95_ms', ?, 'ms', ?, NULL)",
                (
                    (
                        f"b{start + i}",
                        int(ts[i]),
                        service_ids[specs[p][1]],
                        float(values[i]),
                        specs[p][3],
                    )
                    for i, p in enumerate(pick.tolist())
                ),
            )
            write_rollups(session, series_ids[pick], ts, values, dialect="sqlite")
    return db


def read_times(db: Database, runs: int = 25) -> tuple[float, float, float, int]:
    end = START + timedelta(days=DAYS)
    ours, plain, no_q = [], [], []
    buckets = 0
    for _ in range(runs):
        with unit_of_work(db, write=False) as session:
            t = time.perf_counter()
            result = service.read_series(
                session,
                signal_type="metric",
                metric="latency_p95_ms",
                subject="checkout",
                grain="h",
                start=START,
                end=end,
                filters={"region": "eu"},
            )
            ours.append(time.perf_counter() - t)
            buckets = len(result["all"])
            t = time.perf_counter()
            service.read_series(
                session,
                signal_type="metric",
                metric="latency_p95_ms",
                subject="checkout",
                grain="h",
                start=START,
                end=end,
                filters={"region": "eu"},
                quantiles=False,
            )
            no_q.append(time.perf_counter() - t)
            t = time.perf_counter()
            session.connection().exec_driver_sql(
                "SELECT r.bucket_ms, r.count, r.sum, r.min, r.max, r.sketch FROM signal_rollups r "
                "JOIN signal_series s ON s.id = r.series_id WHERE s.signal_type='metric' AND "
                "s.subject='checkout' AND s.metric='latency_p95_ms' AND s.region='eu' AND r.grain='h' "
                "AND r.bucket_ms >= ? AND r.bucket_ms < ?",
                (int(START.timestamp() * 1000), int(end.timestamp() * 1000)),
            ).fetchall()
            plain.append(time.perf_counter() - t)
    return (
        statistics.median(ours) * 1000,
        statistics.median(no_q) * 1000,
        statistics.median(plain) * 1000,
        buckets,
    )


def main(sizes: list[int]) -> None:
    work = Path(tempfile.mkdtemp(prefix="juncture-series-"))
    print("90-day hourly series read (one service, metric and region; p50/p95/p99 included)")
    for n in sizes:
        started = time.perf_counter()
        db = build(n, work)
        built = time.perf_counter() - started
        ours, no_q, plain, buckets = read_times(db)
        print(
            f"  {n:>11,} raw events (built in {built:5.1f} s), {buckets} buckets: "
            f"with p50/p95/p99 {ours:6.2f} ms, without quantiles {no_q:6.2f} ms; "
            f"plain SELECT of the same rollup rows {plain:6.2f} ms (target < 20 ms)"
        )
        db.dispose()


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1_000_000, 10_000_000])
