"""Test fixtures: every database test runs on SQLite and, when configured, on PostgreSQL.

Set JUNCTURE_TEST_POSTGRES_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test) to run
the PostgreSQL half; `.ci/run` does, and also sets JUNCTURE_TEST_POSTGRES_REQUIRED=1 so an
unreachable server fails the run instead of skipping it. Each test gets a clean database built
by running the real migrations (SQLite: a copy of a migrated file; PostgreSQL: a migrated
schema whose tables are truncated between tests).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from juncture.config import Settings
from juncture.models import metadata
from juncture.store import migrate
from juncture.store.engine import Database

PG_ENV = "JUNCTURE_TEST_POSTGRES_URL"
PG_REQUIRED_ENV = "JUNCTURE_TEST_POSTGRES_REQUIRED"
# One schema per test process, so parallel runs on one server never meet.
PG_SCHEMA = f"juncture_test_{os.getpid()}"
REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never inherit the developer's JUNCTURE_* configuration."""
    for key in list(os.environ):
        if key.startswith("JUNCTURE_") and not key.startswith("JUNCTURE_TEST_"):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture(autouse=True)
def _fresh_read_caches() -> None:
    """Per-process read caches are keyed on the newest audit event and series; tests reuse one
    PostgreSQL schema with truncated tables (ids restart), so each test starts them empty."""
    from juncture.kpis import service as kpi_service
    from juncture.signals import reads

    kpi_service._CONTEXTS.clear()
    reads._FOUND.clear()


def _pg_url() -> str | None:
    raw = os.environ.get(PG_ENV)
    if not raw:
        if os.environ.get(PG_REQUIRED_ENV) == "1":
            pytest.fail(f"{PG_REQUIRED_ENV}=1 but {PG_ENV} is not set")
        return None
    url = Settings(database_url=raw).database_url
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{PG_SCHEMA}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(Settings(database_url=f"sqlite:///{path}"))
    migrate.upgrade(db)
    db.dispose()
    return path


@pytest.fixture(scope="session")
def pg_base_url() -> Iterator[str]:
    url = _pg_url()
    if url is None:
        pytest.skip(f"PostgreSQL half skipped: set {PG_ENV} to run it")
    raw = Settings(database_url=os.environ[PG_ENV]).database_url
    try:
        admin = create_engine(raw)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
        admin.dispose()
    except Exception as exc:  # unreachable server: a failure, never a silent skip
        pytest.fail(f"PostgreSQL at {make_url(raw).render_as_string()} is unreachable: {exc}")
    db = Database(Settings(database_url=url))
    migrate.upgrade(db)
    db.dispose()
    return url


def _truncate_pg(url: str) -> None:
    """Empty every table and put the schema version back (a test may have changed it)."""
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    probe = Database(Settings(database_url=url))
    head = migrate.status(probe).head
    probe.dispose()
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        conn.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: one test run per engine."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "juncture.db"
        shutil.copyfile(template, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("pg_base_url")
    _truncate_pg(url)
    return url


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, run_jobs=False, log_json=False, log_level="WARNING")


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def app(settings: Settings, db: Database) -> object:
    from juncture.api.app import create_app

    return create_app(settings, db=db)


@pytest.fixture
def client(app: object) -> Iterator[object]:
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://testserver") as test_client:  # type: ignore[arg-type]
        yield test_client


@pytest.fixture
def unavailable_kpi(monkeypatch: pytest.MonkeyPatch) -> str:
    """Every catalogue KPI has its source room now: mark one unavailable to test the path."""
    import dataclasses

    from juncture.kpis.catalogue import CATALOGUE

    monkeypatch.setitem(
        CATALOGUE,
        "incidents",
        dataclasses.replace(
            CATALOGUE["incidents"], available=False, unavailable_reason="its room is switched off"
        ),
    )
    return "incidents"
