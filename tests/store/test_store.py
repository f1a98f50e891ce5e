"""The store: migrations on both engines, unit of work semantics, UTC timestamps, SQLite pragmas."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from juncture.access.models import Team
from juncture.config import Settings
from juncture.store import migrate
from juncture.store.engine import Database, WalCheckpointer
from juncture.store.uow import after_commit, unit_of_work


def test_schema_is_built_by_migrations_and_matches_models(db: Database) -> None:
    status = migrate.status(db)
    assert status.current is not None
    assert status.up_to_date
    migrate.check(db)  # raises if the models drifted from the migrations


def test_migrations_downgrade_to_nothing_and_back(db: Database) -> None:
    migrate.downgrade(db, "base")
    assert migrate.status(db).current is None
    with db.engine.connect() as conn:
        tables = db.engine.dialect.get_table_names(conn)
    assert "teams" not in tables
    migrate.upgrade(db)
    assert migrate.status(db).up_to_date


def test_commit_runs_after_commit_hooks(db: Database) -> None:
    calls: list[str] = []
    with unit_of_work(db) as session:
        session.add(Team(slug="a", name="A"))
        after_commit(session, lambda: calls.append("sent"))
        assert calls == []  # not before the commit
    assert calls == ["sent"]
    with unit_of_work(db, write=False) as session:
        assert session.scalar(select(Team.slug)) == "a"


def test_rollback_drops_work_and_hooks(db: Database) -> None:
    calls: list[str] = []
    with pytest.raises(RuntimeError), unit_of_work(db) as session:
        session.add(Team(slug="b", name="B"))
        after_commit(session, lambda: calls.append("sent"))
        session.flush()
        raise RuntimeError("boom")
    assert calls == []
    with unit_of_work(db, write=False) as session:
        assert session.scalar(select(Team).where(Team.slug == "b")) is None


def test_failing_hook_does_not_undo_the_commit(db: Database) -> None:
    def broken() -> None:
        raise ValueError("hook failed")

    with unit_of_work(db) as session:
        session.add(Team(slug="c", name="C"))
        after_commit(session, broken)
    with unit_of_work(db, write=False) as session:
        assert session.scalar(select(Team.slug).where(Team.slug == "c")) == "c"


def test_timestamps_round_trip_as_aware_utc(db: Database) -> None:
    berlin = timezone(timedelta(hours=1))
    moment = datetime(2026, 3, 1, 12, 30, tzinfo=berlin)
    with unit_of_work(db) as session:
        team = Team(slug="tz", name="TZ")
        session.add(team)
        session.flush()
        team.created_at = moment
    with unit_of_work(db, write=False) as session:
        stored = session.scalar(select(Team.created_at).where(Team.slug == "tz"))
    assert stored is not None
    assert stored.tzinfo is not None
    assert stored == moment
    assert stored.astimezone(UTC).hour == 11


def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"), unit_of_work(db) as session:
        team = Team(slug="naive", name="N")
        session.add(team)
        session.flush()
        team.created_at = datetime(2026, 1, 1)  # noqa: DTZ001 - the point of the test
        session.flush()


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path: object) -> None:
    db = Database(Settings(database_url=f"sqlite:///{tmp_path}/p.db", sqlite_busy_timeout_ms=4321))
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 4321
    db.dispose()


def test_deferred_checkpoints_leave_the_log_to_the_background_checkpointer(
    tmp_path: object,
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/c.db")
    db = Database(settings, defer_checkpoints=True)
    migrate.upgrade(db)
    wal = Path(f"{tmp_path}/c.db-wal")

    def write(prefix: str, n: int) -> None:
        for i in range(n):
            with unit_of_work(db) as session:
                session.add(Team(slug=f"{prefix}-{i}", name="x" * 2000, kind="ops"))

    write("a", 300)  # enough pages that a default connection would have checkpointed
    first = wal.stat().st_size
    assert first > 1000 * 4096  # the commits left the log alone
    write("b", 150)
    grown = wal.stat().st_size
    assert grown > 1.4 * first  # and it keeps growing
    checkpointer = WalCheckpointer(db, every=0.02, min_bytes=1)
    checkpointer.start()
    deadline = time.monotonic() + 10
    while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    checkpointer.stop()
    assert checkpointer.checkpoints > 0
    write("c", 150)  # the log was copied back: new commits reuse it from the start
    assert wal.stat().st_size == grown
    busy, log, copied = db.checkpoint("PASSIVE") or (1, 0, 0)
    assert busy == 0 and copied == log
    with unit_of_work(db, write=False) as session:
        assert session.scalar(select(func.count()).select_from(Team)) == 600
    db.dispose()
    plain = Database(settings)
    with plain.engine.connect() as conn:
        assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 1000
    plain.dispose()


def test_postgres_urls_are_pinned_to_psycopg3() -> None:
    assert Settings(database_url="postgres://u@h/db").database_url == "postgresql+psycopg://u@h/db"
    assert (
        Settings(database_url="postgresql://u@h/db").database_url == "postgresql+psycopg://u@h/db"
    )
