"""rollup sketches stored as base64 int32 (bin, count) pairs; drop the SQL sketch merge

Revision ID: 5d7e3f1a9c20
Revises: 8c41d2e9a7b3
Create Date: 2026-12-01 22:15:00

Every ``signal_rollups.sketch`` is rewritten from the JSON form
``{"z": zeros, "p": {bin: count}, "n": {bin: count}}`` to standard base64 of little-endian
int32 pairs ``(signed bin, count)`` in ascending bin order (negative bins as -k, zeros as 0; a
count above 2**31 - 1 split over several pairs of the same bin). Rows are converted in key
order in chunks (always to this pairs form; new writes may also use the shorter "dense" form,
see ``juncture.signals.sketch``, and every reader takes both). The PostgreSQL function
``juncture_merge_sketch`` is dropped: ingest merges sketches in numpy now. The conversion is
written out here (not imported) so that it stays what it was when later code changes.
Downgrade writes JSON back from either form.
"""

from __future__ import annotations

import binascii
import struct
from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

revision: str = "5d7e3f1a9c20"
down_revision: str | None = "8c41d2e9a7b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 5000
MAX_PAIR_COUNT = 2**31 - 1

# The function as the signals migration created it (recreated on downgrade).
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


def json_to_pairs(text: str) -> str:
    data: dict[str, Any] = orjson.loads(text) if text else {}
    merged: dict[int, int] = {}
    if int(data.get("z") or 0):
        merged[0] = int(data["z"])
    for side, sign in (("p", 1), ("n", -1)):
        for k, c in (data.get(side) or {}).items():
            if int(c):
                merged[sign * int(k)] = merged.get(sign * int(k), 0) + int(c)
    flat: list[int] = []
    for k in sorted(merged):
        c = merged[k]
        while c > MAX_PAIR_COUNT:
            flat.extend((k, MAX_PAIR_COUNT))
            c -= MAX_PAIR_COUNT
        flat.extend((k, c))
    return binascii.b2a_base64(struct.pack(f"<{len(flat)}i", *flat), newline=False).decode()


def pairs_to_json(text: str) -> str:
    if text.startswith("{"):
        return text
    raw = binascii.a2b_base64(text)
    if text[:1] in ".:":  # dense: int32 first bin, then uint8 / uint16 counts
        code = "B" if text[:1] == "." else "H"
        n = (len(raw) - 4) // (1 if code == "B" else 2)
        first, *dense = struct.unpack(f"<i{n}{code}", raw)
        values: tuple[int, ...] = tuple(x for i, c in enumerate(dense) if c for x in (first + i, c))
    else:
        values = struct.unpack(f"<{len(raw) // 4}i", raw)
    zero = 0
    pos: dict[str, int] = {}
    neg: dict[str, int] = {}
    for k, c in zip(values[::2], values[1::2], strict=True):
        if k > 0:
            pos[str(k)] = pos.get(str(k), 0) + c
        elif k < 0:
            neg[str(-k)] = neg.get(str(-k), 0) + c
        else:
            zero += c
    return orjson.dumps({"z": zero, "p": pos, "n": neg}).decode()


def _convert(convert: Any, wanted: Any) -> None:
    bind = op.get_bind()
    rollups = sa.table(
        "signal_rollups",
        sa.column("series_id", sa.BigInteger),
        sa.column("grain", sa.String),
        sa.column("bucket_ms", sa.BigInteger),
        sa.column("sketch", sa.Text),
    )
    key = sa.tuple_(rollups.c.series_id, rollups.c.grain, rollups.c.bucket_ms)
    update = (
        rollups.update()
        .where(
            rollups.c.series_id == sa.bindparam("k_series"),
            rollups.c.grain == sa.bindparam("k_grain"),
            rollups.c.bucket_ms == sa.bindparam("k_bucket"),
        )
        .values(sketch=sa.bindparam("k_sketch"))
    )
    last: tuple[Any, ...] | None = None
    while True:
        query = sa.select(
            rollups.c.series_id, rollups.c.grain, rollups.c.bucket_ms, rollups.c.sketch
        ).order_by(rollups.c.series_id, rollups.c.grain, rollups.c.bucket_ms)
        if last is not None:
            query = query.where(key > sa.tuple_(*(sa.literal(v) for v in last)))
        rows = bind.execute(query.limit(CHUNK)).all()
        if not rows:
            return
        last = tuple(rows[-1][:3])
        changed = [
            {"k_series": s, "k_grain": g, "k_bucket": b, "k_sketch": convert(text)}
            for s, g, b, text in rows
            if wanted(text)
        ]
        if changed:
            bind.execute(update, changed)


def upgrade() -> None:
    _convert(json_to_pairs, lambda text: not text or text.startswith("{"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS juncture_merge_sketch(text, text)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_MERGE_SKETCH)
    _convert(pairs_to_json, lambda text: not text.startswith("{"))
