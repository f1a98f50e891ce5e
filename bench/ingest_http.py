"""HTTP batch ingest over loopback: `juncture serve` on SQLite and on PostgreSQL, batches of 1,000.

The load generator runs on the same machine (two client threads, keep-alive, pre-serialised
bodies). Reference in the same run for PostgreSQL: a raw psycopg `COPY` of the same rows into
the same table (the ingest ceiling the issue names). Runs for a fixed number of batches.
Usage: python bench/ingest_http.py [BATCHES]   (default 200 = 200,000 events per engine)
Set JUNCTURE_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx2 as httpx
from bench._data import records, seed_catalog

from juncture.access import service as access_service
from juncture.access.enums import Role, Scope
from juncture.access.schemas import UserCreate
from juncture.config import Settings
from juncture.signals import service
from juncture.signals.ingest import COLUMNS, TABLES, Ingestor, Prepared
from juncture.store import migrate
from juncture.store.engine import DEFERRED_CHECKPOINT_PAGES, Database
from juncture.store.uow import unit_of_work

PG = os.environ.get(
    "JUNCTURE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SCHEMA = "juncture_bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(url: str) -> str:
    db = Database(Settings(database_url=url))
    migrate.upgrade(db)
    seed_catalog(db)
    with unit_of_work(db) as session:
        user, _ = access_service.create_user(
            session,
            data=UserCreate(email="bench@example.com", role=Role.ops, password="bench-password-1"),
        )
        _, token = access_service.create_token(session, user_id=user.id, scopes=[Scope.ingest])
    db.dispose()
    return token


def make_bodies(batches: int) -> list[bytes]:
    stream = records(batches * 1000, seed=11, days=200)
    return [orjson.dumps([next(stream) for _ in range(1000)]) for _ in range(batches)]


def run(url: str, bodies: list[bytes]) -> float:
    batches = len(bodies)
    token = prepare(url)
    port = free_port()
    env = os.environ | {
        "JUNCTURE_DATABASE_URL": url,
        "JUNCTURE_PORT": str(port),
        "JUNCTURE_RUN_JOBS": "false",
        "JUNCTURE_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "juncture", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        accepted = [0]
        lock = threading.Lock()

        def worker(mine: list[bytes]) -> None:
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                timeout=120,
                headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
            ) as c:
                for body in mine:
                    r = c.post("/api/v1/signals", content=body)
                    r.raise_for_status()
                    with lock:
                        accepted[0] += r.json()["accepted"]

        threads = [threading.Thread(target=worker, args=(bodies[i::2],)) for i in range(2)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        assert accepted[0] == batches * 1000, accepted
        return accepted[0] / elapsed
    finally:
        server.terminate()
        server.wait(30)


def store_alone(url: str, bodies: list[bytes]) -> tuple[float, list[Prepared]]:
    """juncture's write half alone: the same calls parsed and validated beforehand (not timed),
    each stored in its own transaction as the server does, final checkpoint included."""
    settings = Settings(database_url=url, max_future_seconds=400 * 86400)
    db = Database(settings, defer_checkpoints=True)
    migrate.upgrade(db)
    seed_catalog(db)
    with unit_of_work(db) as session:
        ingestor = Ingestor(session, service.ingest_config(settings), source="bench")
        prepared = [ingestor.prepare(orjson.loads(body)) for body in bodies]
    started = time.perf_counter()
    for batch in prepared:
        with unit_of_work(db) as session:
            service.store(session, prepared=batch, settings=settings, source="bench")
    db.checkpoint("TRUNCATE")
    elapsed = time.perf_counter() - started
    db.dispose()
    return sum(b.received for b in prepared) / elapsed, prepared


def executemany_per_call(path: Path, prepared: list[Prepared]) -> float:
    """Raw sqlite3 executemany of the rows juncture stores (no validation, no rollups), one
    transaction per call of 1,000 records, checkpoints deferred as the server's are."""
    db = Database(Settings(database_url=f"sqlite:///{path}"))
    migrate.upgrade(db)
    seed_catalog(db)
    db.dispose()
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute(f"PRAGMA wal_autocheckpoint={DEFERRED_CHECKPOINT_PAGES}")
    statements = {
        t: f"INSERT INTO {TABLES[t].name} ({', '.join(c)}) VALUES ({', '.join('?' * len(c))})"
        for t, c in COLUMNS.items()
    }
    started = time.perf_counter()
    for batch in prepared:
        con.execute("BEGIN IMMEDIATE")
        for signal_type, rows in batch.types.items():
            con.executemany(statements[signal_type], rows.rows)
        con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    elapsed = time.perf_counter() - started
    con.close()
    return sum(b.received for b in prepared) / elapsed


def copy_ceiling(url: str, n: int) -> float:
    """Raw psycopg COPY of the same metric-shaped rows into signal_metrics (no validation)."""
    import psycopg

    raw_url = url.replace("postgresql+psycopg://", "postgresql://").split("?")[0]
    with psycopg.connect(raw_url, options=f"-csearch_path={SCHEMA}") as conn:
        service_id = conn.execute("SELECT min(id) FROM services").fetchone()[0]  # type: ignore[index]
        rows = [
            (
                f"copy-{i}",
                1_700_000_000_000 + i,
                service_id,
                "latency_p95_ms",
                float(i % 500),
                "ms",
                "eu",
                None,
            )
            for i in range(n)
        ]
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY signal_metrics (key, ts_ms, service_id, metric, value, unit, region, labels) FROM STDIN"
            ) as copy,
        ):
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return n / (time.perf_counter() - started)


def main(batches: int) -> None:
    from juncture.kit import clock

    clock.set_default_clock(clock.FixedClock(datetime(2027, 3, 1, tzinfo=UTC)))
    os.environ["JUNCTURE_MAX_FUTURE_SECONDS"] = str(
        400 * 86400
    )  # the server's clock is real; data are dated ahead
    work = Path(tempfile.mkdtemp(prefix="juncture-http-"))
    print(
        f"HTTP batch ingest, {batches} batches of 1,000 mixed events, 2 client threads on loopback"
    )
    bodies = make_bodies(batches)
    sqlite_rate = run(f"sqlite:///{work}/http.db", bodies)
    print(f"  SQLite      : {sqlite_rate:>9,.0f} events/s (target 50,000)")
    # What the write half alone reaches with calls of this size (no HTTP, no parsing or
    # validation, no load generator), beside raw executemany of the same rows per call.
    alone, prepared = store_alone(f"sqlite:///{work}/alone.db", bodies)
    raw = executemany_per_call(work / "raw.db", prepared)
    print(
        f"    juncture's store alone, one transaction per call: {alone:,.0f}/s; raw sqlite3 "
        f"executemany of the same rows per call: {raw:,.0f}/s"
    )
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(PG)
        with engine.begin() as conn:
            for schema in (SCHEMA, f"{SCHEMA}_alone"):
                conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
                conn.execute(text(f"CREATE SCHEMA {schema}"))
        engine.dispose()
    except Exception as exc:  # PostgreSQL is optional for this benchmark
        print(f"  PostgreSQL  : skipped ({exc.__class__.__name__})")
        return
    pg_url = f"{PG}?options=-csearch_path%3D{SCHEMA}"
    pg_rate = run(pg_url, bodies)
    ceiling = copy_ceiling(pg_url, batches * 1000)
    print(
        f"  PostgreSQL  : {pg_rate:>9,.0f} events/s; raw psycopg COPY of the same rows {ceiling:,.0f}/s "
        f"({pg_rate / ceiling:.0%}; target 50%)"
    )
    alone, _ = store_alone(f"{PG}?options=-csearch_path%3D{SCHEMA}_alone", bodies)
    print(
        f"    juncture's store alone, one transaction per call: {alone:,.0f}/s "
        f"({alone / ceiling:.0%} of COPY)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
