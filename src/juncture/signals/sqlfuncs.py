"""SQL helpers the rollup upserts rely on: ``juncture_merge_sketch(a, b)`` on every engine.

On SQLite it is a Python function registered on each new connection; on PostgreSQL it is a
SQL function created by the signals migration (same semantics: bins add up).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import Engine, event

from juncture.signals.sketch import merge_text

PG_MERGE_SKETCH = """
CREATE OR REPLACE FUNCTION juncture_merge_sketch(a text, b text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT json_build_object(
    'z', COALESCE((a::jsonb->>'z')::bigint, 0) + COALESCE((b::jsonb->>'z')::bigint, 0),
    'p', COALESCE((SELECT jsonb_object_agg(k, s) FROM (
            SELECT k, SUM(v::bigint) AS s FROM (
              SELECT * FROM jsonb_each_text(COALESCE(a::jsonb->'p', '{}'::jsonb))
              UNION ALL SELECT * FROM jsonb_each_text(COALESCE(b::jsonb->'p', '{}'::jsonb))
            ) AS t(k, v) GROUP BY k) AS x), '{}'::jsonb),
    'n', COALESCE((SELECT jsonb_object_agg(k, s) FROM (
            SELECT k, SUM(v::bigint) AS s FROM (
              SELECT * FROM jsonb_each_text(COALESCE(a::jsonb->'n', '{}'::jsonb))
              UNION ALL SELECT * FROM jsonb_each_text(COALESCE(b::jsonb->'n', '{}'::jsonb))
            ) AS t(k, v) GROUP BY k) AS x), '{}'::jsonb)
  )::text
$$;
"""


@event.listens_for(Engine, "connect")
def _register_sqlite_functions(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.create_function("juncture_merge_sketch", 2, merge_text, deterministic=True)
