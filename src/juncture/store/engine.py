"""Engine factory: SQLite with WAL and an up-front write lock; PostgreSQL pooled (psycopg 3)."""

from __future__ import annotations

import logging
import sqlite3
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


# Bulk loads let the write-ahead log grow to 256 MiB before it is copied back into the database
# (the default is 4 MiB): a load rewrites the same index pages in every batch, and each
# checkpoint wrote them out again (a 90-day simulated load spent a fifth of its time there).
BULK_CHECKPOINT_PAGES = 65_536


def _sqlite_pragmas(busy_timeout_ms: int, *, bulk: bool = False) -> Any:
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
        if bulk:
            cursor.execute(f"PRAGMA wal_autocheckpoint={BULK_CHECKPOINT_PAGES}")
        cursor.close()

    return on_connect


def _sqlite_begin(conn: Connection) -> None:
    if conn.get_execution_options().get(WRITE_INTENT):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def create_db_engine(settings: Settings, *, bulk: bool = False) -> Engine:
    """Build the engine for ``settings.database_url`` with the right per-engine tuning.

    ``bulk``: for a process that loads many batches in a row (imports, the simulator); on
    SQLite its connections checkpoint the write-ahead log less often.
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
        event.listen(engine, "connect", _sqlite_pragmas(settings.sqlite_busy_timeout_ms, bulk=bulk))
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

    def __init__(self, settings: Settings, *, bulk: bool = False) -> None:
        self.settings = settings
        self.engine = create_db_engine(settings, bulk=bulk)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False, class_=Session)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def checkpoint(self) -> None:
        """On SQLite, copy the write-ahead log into the database and truncate it (after a bulk
        load, so the next reader does not pay for it); nothing elsewhere."""
        if self.dialect == "sqlite":
            with self.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def dispose(self) -> None:
        self.engine.dispose()
