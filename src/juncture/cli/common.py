"""Shared CLI plumbing: consoles, settings, one-line errors and exit codes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import OperationalError, ProgrammingError

from juncture.config import Settings
from juncture.kit.errors import JunctureError
from juncture.store.engine import Database

P = ParamSpec("P")
R = TypeVar("R")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

# Exit codes: 1 = the request was refused (bad input, conflict, not found), 2 = usage
# (Typer's own), 3 = the environment (database unreachable, schema outdated).
EXIT_REFUSED = 1
EXIT_ENVIRONMENT = 3


def settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        err.print(f"[red]error:[/red] invalid configuration: {exc}")
        raise typer.Exit(EXIT_ENVIRONMENT) from exc


_opened: list[Database] = []


def database(*, defer_checkpoints: bool = False) -> Database:
    """The configured database; closed again when the command ends (see handle_errors).

    ``defer_checkpoints`` for commands that write many batches in a row (see ``Database``).
    """
    db = Database(settings(), defer_checkpoints=defer_checkpoints)
    _opened.append(db)
    return db


def fail(message: str, code: int = EXIT_REFUSED) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn expected failures into one line on stderr and a non-zero exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except JunctureError as exc:
            code = EXIT_ENVIRONMENT if exc.code == "schema_outdated" else EXIT_REFUSED
            raise fail(exc.detail, code) from exc
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise fail(f"database unreachable or not usable: {reason}", EXIT_ENVIRONMENT) from exc
        except ProgrammingError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise fail(
                f"database error ({reason}); is the schema current? run `juncture db upgrade`",
                EXIT_ENVIRONMENT,
            ) from exc
        except OSError as exc:
            raise fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")) from exc
        finally:
            while _opened:
                _opened.pop().dispose()

    return wrapper
