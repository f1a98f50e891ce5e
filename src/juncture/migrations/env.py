"""Alembic environment: runs migrations against the connection juncture hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from juncture.models import metadata

config = context.config


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]  # alembic types this loosely
        target_metadata=metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///juncture.db")
    with engine.connect() as conn:
        _run(conn)
