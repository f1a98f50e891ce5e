"""The CLI: users, tokens, db; stdout carries only what scripts need; errors exit non-zero."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from juncture import __version__
from juncture.access import service as access_service
from juncture.cli import app
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work
from tests.factories import make_user


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("JUNCTURE_DATABASE_URL", db_url)
    return CliRunner()


def test_version_and_help() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.stdout
    result = CliRunner().invoke(app, ["--help"])
    for command in ("serve", "demo", "db", "users", "tokens"):
        assert command in result.stdout


def test_users_create_with_password_from_stdin(cli: CliRunner, db: Database) -> None:
    result = cli.invoke(
        app,
        ["users", "create", "Ops@Example.com", "--role", "ops", "--password-stdin"],
        input="a-long-enough-password\n",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # nothing secret or noisy on stdout
    with unit_of_work(db) as session:
        user = access_service.get_user_by_email(session, email="ops@example.com")
        assert user is not None
        assert user.role == "ops"


def test_users_create_generates_a_password_shown_once(cli: CliRunner, db: Database) -> None:
    result = cli.invoke(app, ["users", "create", "cx@example.com", "--role", "cx"])
    assert result.exit_code == 0
    password = result.stdout.strip()
    assert len(password) >= 20
    with unit_of_work(db) as session:
        _, secret = access_service.login(
            session,
            email="cx@example.com",
            password=password,
            ip="",
            user_agent="",
            session_hours=1,
            max_failures=5,
            window_minutes=15,
        )
        assert secret


def test_tokens_create_prints_only_the_token(cli: CliRunner, db: Database) -> None:
    make_user(db, email="bot@example.com", role="ops")
    result = cli.invoke(
        app,
        [
            "tokens",
            "create",
            "--user",
            "bot@example.com",
            "--scopes",
            "read,ingest",
            "--expires-in",
            "30",
        ],
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("jct_")
    assert "\n" not in token
    assert "Authorization: Bearer" in result.stderr
    with unit_of_work(db) as session:
        actor = access_service.authenticate_token(session, raw=token)
        assert actor.scopes == frozenset({"read", "ingest"})
    revoke = cli.invoke(app, ["tokens", "revoke", token.split("_")[1]])
    assert revoke.exit_code == 0
    listing = cli.invoke(app, ["tokens", "list"])
    assert "revoked" in listing.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["users", "create", "not-an-email"], "not a valid e-mail"),
        (["users", "create", "x@example.com", "--role", "boss"], "role"),
        (["tokens", "create", "--user", "nobody@example.com"], "no user with e-mail"),
        (["tokens", "create", "--user", "v@example.com", "--scopes", "read,fly"], "unknown scope"),
        (["tokens", "create", "--user", "v@example.com", "--scopes", "admin"], "cannot hold scope"),
        (["tokens", "revoke", "jct_nope_nope"], "does not exist"),
    ],
)
def test_errors_are_one_line_and_non_zero(
    cli: CliRunner, db: Database, args: list[str], message: str
) -> None:
    make_user(db, email="v@example.com", role="viewer")
    result = cli.invoke(app, args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) <= 2


def test_db_current_reports_the_revision(cli: CliRunner) -> None:
    result = cli.invoke(app, ["db", "current"])
    assert result.exit_code == 0
    assert result.stdout.strip() not in ("", "none")


def test_unreachable_database_exits_with_environment_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUNCTURE_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/nothing")
    result = CliRunner().invoke(app, ["users", "list"])
    assert result.exit_code == 3
    assert "database unreachable" in result.stderr


def test_serve_refuses_an_outdated_postgres_schema(tmp_path: object) -> None:
    """A non-embedded database is never upgraded implicitly: serve names the command to run."""
    import os

    url = os.environ.get("JUNCTURE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("needs PostgreSQL: set JUNCTURE_TEST_POSTGRES_URL")
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS juncture_empty CASCADE"))
        conn.execute(text("CREATE SCHEMA juncture_empty"))
    engine.dispose()
    env = os.environ | {
        "JUNCTURE_DATABASE_URL": f"{url}?options=-csearch_path%3Djuncture_empty",
        "JUNCTURE_PORT": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "juncture", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 3
    assert "juncture db upgrade" in proc.stderr
