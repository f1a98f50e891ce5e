"""Engine factory: SQLite with WAL and an up-front write lock; PostgreSQL pooled (psycopg 3)."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from juncture.config import Settings

logger = logging.getLogger(__name__)

# Execution option a unit of work sets when it will write: SQLite then takes the write lock at
# BEGIN (BEGIN IMMEDIATE) and waits for it with busy_timeout, instead of failing mid-transaction
# with "database is locked" when a read transaction tries to upgrade.
WRITE_INTENT = "juncture_write_intent"


# Connections that defer checkpoints let the write-ahead log grow to 256 MiB before they copy
# it back into the database (SQLite's default is 4 MiB). Bulk loads rewrite the same index
# pages in every batch and each checkpoint wrote them out again (a fifth of a 90-day simulated
# load); the server checkpoints from a background thread instead (``WalCheckpointer``), so a
# request's commit does not pay for it (1,000-record batches: ~36 ms of a ~66 ms call).
DEFERRED_CHECKPOINT_PAGES = 65_536


def _sqlite_pragmas(busy_timeout_ms: int, *, defer_checkpoints: bool = False) -> Any:
    def on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's implicit BEGIN is wrong).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # A 64 MiB page cache: bulk ingest touches far fewer disk pages.
        cursor.execute("PRAGMA cache_size=-65536")
        if defer_checkpoints:
            cursor.execute(f"PRAGMA wal_autocheckpoint={DEFERRED_CHECKPOINT_PAGES}")
        cursor.close()

    return on_connect


def _sqlite_begin(conn: Connection) -> None:
    if conn.get_execution_options().get(WRITE_INTENT):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def create_db_engine(settings: Settings, *, defer_checkpoints: bool = False) -> Engine:
    """Build the engine for ``settings.database_url`` with the right per-engine tuning.

    ``defer_checkpoints``: on SQLite, connections checkpoint the write-ahead log only past
    256 MiB (bulk loads, which checkpoint at the end, and the server, which checkpoints in
    the background).
    """
    url = settings.database_url
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={
                "check_same_thread": False,
                "timeout": settings.sqlite_busy_timeout_ms / 1000,
            },
        )
        event.listen(
            engine,
            "connect",
            _sqlite_pragmas(settings.sqlite_busy_timeout_ms, defer_checkpoints=defer_checkpoints),
        )
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


class Database:
    """An engine plus its session factory; one per process, owned by the edge that built it."""

    def __init__(self, settings: Settings, *, defer_checkpoints: bool = False) -> None:
        self.settings = settings
        self.engine = create_db_engine(settings, defer_checkpoints=defer_checkpoints)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False, class_=Session)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def checkpoint(self, mode: str = "TRUNCATE") -> tuple[int, int, int] | None:
        """On SQLite, copy the write-ahead log into the database: (busy, log pages, copied).

        ``TRUNCATE`` (after a bulk load) waits for readers and empties the log; ``PASSIVE``
        (the background checkpointer) copies what no reader needs and waits for nobody.
        None elsewhere.
        """
        if self.dialect != "sqlite":
            return None
        if mode not in ("PASSIVE", "FULL", "RESTART", "TRUNCATE"):
            raise ValueError(f"unknown checkpoint mode {mode!r}")
        with self.engine.connect() as connection:
            row = connection.exec_driver_sql(f"PRAGMA wal_checkpoint({mode})").one()
        return int(row[0]), int(row[1]), int(row[2])

    def dispose(self) -> None:
        self.engine.dispose()


class WalCheckpointer:
    """Copies a SQLite database's write-ahead log back into it from a background thread.

    Every ``every`` seconds, when the log holds more than ``min_bytes``, a PASSIVE checkpoint
    copies what no reader still needs (it never waits for, or blocks, writers; SQLite does the
    copying without the interpreter lock, so it runs beside request handling). Pair it with
    ``defer_checkpoints`` so commits leave the copying to it.
    """

    def __init__(self, db: Database, *, every: float = 1.0, min_bytes: int = 16 * 2**20) -> None:
        database = db.engine.url.database
        self.db = db
        self.every = every
        self.min_bytes = min_bytes
        self.wal = f"{database}-wal" if database and database != ":memory:" else None
        self.checkpoints = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, *, force: bool = False) -> tuple[int, int, int] | None:
        """One checkpoint if the log is large enough (or ``force``): (busy, log, copied) pages."""
        if self.wal is None or self.db.dialect != "sqlite":
            return None
        try:
            size = os.path.getsize(self.wal)
        except OSError:
            return None
        if size < self.min_bytes and not force:
            return None
        self.checkpoints += 1
        return self.db.checkpoint("PASSIVE")

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.run_once()
            except Exception:  # a locked or closing database: try again next time
                logger.warning("background WAL checkpoint failed", exc_info=True)

    def start(self) -> None:
        if self.wal is None or self.db.dialect != "sqlite" or self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._loop, name="juncture-wal-checkpoint", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
