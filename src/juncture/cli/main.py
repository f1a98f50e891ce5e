"""Command tree of the ``juncture`` CLI."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.table import Table

from juncture import __version__
from juncture.cli.common import EXIT_ENVIRONMENT, database, err, fail, handle_errors, out, settings
from juncture.kit.errors import Invalid

app = typer.Typer(
    name="juncture",
    help="juncture: one shared picture for Operations and Customer-Experience teams.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(
    help="Database schema: upgrade, inspect, create migrations.", no_args_is_help=True
)
users_app = typer.Typer(help="People who log in.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens for integrations and scripts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")

from juncture.cli.detect import app as detect_app  # noqa: E402 - after app
from juncture.cli.kpis import app as kpis_app  # noqa: E402 - after app
from juncture.cli.signals import import_command, quarantine_app, rollups_app  # noqa: E402 - after app
from juncture.cli.simulate import simulate_command  # noqa: E402 - after app

app.command("import")(import_command)
app.command("simulate")(simulate_command)
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(rollups_app, name="rollups")
app.add_typer(detect_app, name="detect")
app.add_typer(kpis_app, name="kpis")


def _version(value: bool) -> None:
    if value:
        out.print(f"juncture {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """juncture: one shared picture for Operations and Customer-Experience teams.

    Configuration comes from JUNCTURE_* environment variables (see docs/settings.md);
    JUNCTURE_DATABASE_URL chooses the database (SQLite file by default).
    """


# ---------------------------------------------------------------- serve / demo


@app.command()
@handle_errors
def serve(
    host: Annotated[
        str | None, typer.Option(help="Bind address [default: JUNCTURE_HOST or 127.0.0.1]")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: JUNCTURE_PORT or 8000]")] = None,
    no_jobs: Annotated[
        bool, typer.Option("--no-jobs", help="Do not run periodic jobs in this process.")
    ] = False,
) -> None:
    """Serve the web app and API (and run the periodic jobs) until interrupted."""
    from juncture.cli.serving import run_server

    cfg = settings()
    updates: dict[str, object] = {}
    if host:
        updates["host"] = host
    if port:
        updates["port"] = port
    if no_jobs:
        updates["run_jobs"] = False
    run_server(cfg.model_copy(update=updates))


@app.command()
@handle_errors
def demo(
    host: Annotated[
        str | None, typer.Option(help="Bind address [default: JUNCTURE_HOST or 127.0.0.1]")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: JUNCTURE_PORT or 8000]")] = None,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Prepare the demo database (and load it), then exit.")
    ] = False,
    days: Annotated[
        int, typer.Option(min=0, max=400, help="Days of simulated history (0: none).")
    ] = 90,
    seed: Annotated[int, typer.Option(help="Simulation seed.")] = 7,
) -> None:
    """Create the database, simulate a company, print the admin login, and serve it.

    The server starts at once; the simulated history loads in the background (the overview shows
    its progress). With --no-serve the history is loaded before the command returns.
    """
    from juncture.cli.demo import DemoLoader, prepare_demo
    from juncture.cli.serving import run_server

    cfg = settings()
    updates: dict[str, object] = {}
    if host:
        updates["host"] = host
    if port:
        updates["port"] = port
    if "JUNCTURE_BUSINESS_HOURS" not in os.environ:
        # The simulated contact centre is staffed around the clock (three shifts, every day).
        hours = '{"*": {"mon-sun": "00:00-24:00"}}'
        os.environ["JUNCTURE_BUSINESS_HOURS"] = hours
        updates["business_hours"] = {"*": {"mon-sun": "00:00-24:00"}}
    cfg = cfg.model_copy(update=updates)
    email, password, fresh = prepare_demo(cfg)
    loader = DemoLoader(cfg, days=days, seed=seed) if fresh and days > 0 else None
    err.print(
        f"\n[bold green]juncture demo ready[/bold green]  http://{cfg.host}:{cfg.port}/\n"
        f"  log in as [bold]{email}[/bold] with password [bold]{password}[/bold]\n"
        f"  database: {cfg.database_url}\n"
        + (
            f"  loading {days} simulated days in the background\n"
            if loader and not no_serve
            else ""
        )
    )
    if no_serve:
        if loader is not None:
            loader.run()
            err.print(f"loaded {loader.status['accepted']:,} events")
        return
    run_server(cfg, background=loader)


# ---------------------------------------------------------------- db


@db_app.command("upgrade")
@handle_errors
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from juncture.store import migrate

    db = database()
    before = migrate.status(db)
    migrate.upgrade(db, revision)
    after = migrate.status(db)
    err.print(f"schema {before.current or 'empty'} → {after.current}")


@db_app.command("current")
@handle_errors
def db_current() -> None:
    """Show the schema revision of the database and whether it is current."""
    from juncture.store import migrate

    db = database()
    status = migrate.status(db)
    out.print(status.current or "none")
    if not status.up_to_date:
        err.print(f"[yellow]outdated:[/yellow] code needs {status.head}; run `juncture db upgrade`")
        raise typer.Exit(EXIT_ENVIRONMENT)


@db_app.command("revision")
@handle_errors
def db_revision(
    message: Annotated[str, typer.Option("-m", "--message", help="What the migration does")],
    empty: Annotated[bool, typer.Option(help="Do not autogenerate from the models")] = False,
) -> None:
    """Create a new migration from the difference between the models and the database."""
    from juncture.store import migrate

    db = database()
    migrate.revision(db, message, autogenerate=not empty)


@db_app.command("check")
@handle_errors
def db_check() -> None:
    """Fail if the models have changes that no migration captures (alembic check)."""
    from alembic.util.exc import AutogenerateDiffsDetected

    from juncture.store import migrate

    db = database()
    migrate.upgrade(db)
    try:
        migrate.check(db)
    except AutogenerateDiffsDetected as exc:
        raise fail(f"models and migrations differ: {exc}") from exc
    err.print("models and migrations agree")


# ---------------------------------------------------------------- users


@users_app.command("create")
@handle_errors
def users_create(
    email: Annotated[str, typer.Argument(help="E-mail address (the login)")],
    role: Annotated[str, typer.Option(help="admin, ops, cx or viewer")] = "viewer",
    name: Annotated[str, typer.Option(help="Display name")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Create a person. Without --password-stdin a password is generated and shown once."""
    from juncture.access import service as access_service
    from juncture.access.schemas import UserCreate
    from juncture.store.uow import unit_of_work
    from juncture.web.forms import parse

    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise Invalid("no password on standard input")
    data = parse(UserCreate, {"email": email, "role": role, "name": name, "password": password})
    db = database()
    with unit_of_work(db) as session:
        user, generated = access_service.create_user(session, data=data)
        user_id = user.id
    err.print(f"created user {data.email} (id {user_id}, role {data.role.value})")
    if generated:
        err.print("password (shown once):")
        out.print(generated)


@users_app.command("list")
@handle_errors
def users_list() -> None:
    """List people and their roles."""
    from juncture.access import service as access_service
    from juncture.store.uow import unit_of_work

    db = database()
    table = Table("id", "email", "name", "role", "active", "last login")
    with unit_of_work(db, write=False) as session:
        for u in access_service.list_users(session):
            table.add_row(
                str(u.id),
                u.email,
                u.name,
                u.role,
                "yes" if u.is_active else "no",
                u.last_login_at.strftime("%Y-%m-%d %H:%M") if u.last_login_at else "—",
            )
    out.print(table)


# ---------------------------------------------------------------- tokens


@tokens_app.command("create")
@handle_errors
def tokens_create(
    user: Annotated[str, typer.Option("--user", help="E-mail of the token's owner")],
    scopes: Annotated[
        str, typer.Option(help="Comma-separated: read, write, ingest, admin")
    ] = "read",
    name: Annotated[str, typer.Option(help="What the token is for")] = "",
    expires_in: Annotated[
        int | None,
        typer.Option("--expires-in", help="Days until it expires (default: never)", min=1),
    ] = None,
) -> None:
    """Create an API token. Only the token goes to stdout: `$(juncture tokens create ...)` works."""
    from juncture.access import service as access_service
    from juncture.access.enums import Scope
    from juncture.store.uow import unit_of_work

    wanted = [s.strip() for s in scopes.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in Scope.__members__]
    if unknown or not wanted:
        raise Invalid(
            f"unknown scope(s): {', '.join(unknown) or '(none given)'}; "
            "use read, write, ingest, admin"
        )
    db = database()
    with unit_of_work(db) as session:
        owner = access_service.get_user_by_email(session, email=user)
        if owner is None:
            raise Invalid(f"no user with e-mail '{user}'")
        token, secret = access_service.create_token(
            session,
            user_id=owner.id,
            scopes=[Scope(s) for s in wanted],
            name=name,
            expires_in_days=expires_in,
        )
        prefix = token.prefix
    err.print(
        f"token {prefix} for {user} with scopes {','.join(sorted(wanted))}; "
        "send it as 'Authorization: Bearer <token>'"
    )
    out.print(secret, soft_wrap=True)


@tokens_app.command("revoke")
@handle_errors
def tokens_revoke(
    token: Annotated[str, typer.Argument(help="The token, its prefix, or its id")],
) -> None:
    """Revoke a token so it can no longer be used."""
    from juncture.access import service as access_service
    from juncture.store.uow import unit_of_work

    db = database()
    with unit_of_work(db) as session:
        row = access_service.revoke_token(session, token_ref=token)
        prefix = row.prefix
    err.print(f"token {prefix} revoked")


@tokens_app.command("list")
@handle_errors
def tokens_list(
    user: Annotated[str | None, typer.Option("--user", help="Only this person's tokens")] = None,
) -> None:
    """List tokens (never their secrets)."""
    from juncture.access import service as access_service
    from juncture.store.uow import unit_of_work

    db = database()
    table = Table("id", "prefix", "owner", "name", "scopes", "expires", "state")
    with unit_of_work(db, write=False) as session:
        owner_id = None
        if user:
            owner = access_service.get_user_by_email(session, email=user)
            if owner is None:
                raise Invalid(f"no user with e-mail '{user}'")
            owner_id = owner.id
        emails = {u.id: u.email for u in access_service.list_users(session)}
        for t in access_service.list_tokens(session, user_id=owner_id):
            table.add_row(
                str(t.id),
                t.prefix,
                emails.get(t.user_id, "?"),
                t.name,
                ",".join(t.scopes),
                t.expires_at.strftime("%Y-%m-%d") if t.expires_at else "never",
                "revoked" if t.revoked_at else "active",
            )
    out.print(table)
