"""The ``juncture`` command: a thin edge over the rooms (serve, demo, db, users, tokens)."""

from __future__ import annotations

import sys

from juncture.cli.main import app


def main() -> None:
    """Console-script entry point."""
    app(prog_name="juncture")
    sys.exit(0)


__all__ = ["app", "main"]
