"""Query fragments that differ by engine, shared by the rooms."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, func, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement


def json_list_contains(session: Session, column: Any, value: str) -> ColumnElement[bool]:
    """``value`` is an element of the JSON list in ``column`` (JSONB containment on
    PostgreSQL, ``json_each`` on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        return type_coerce(column, JSONB).contains([value])
    items = func.json_each(column).table_valued("value")
    return exists(select(1).select_from(items).where(items.c.value == value))
