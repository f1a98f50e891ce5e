"""The ingest pipeline: validate, de-duplicate, store and roll up one batch in one transaction.

received = accepted + duplicates + quarantined holds for every call. Raw rows are written with
the driver in batches; rollups are maintained in the same transaction, additively (counts and
sums add, min/max combine, sketches merge: on SQLite in an upsert calling the registered
``juncture_merge_sketch``, on PostgreSQL set-based: new keys inserted, existing ones locked in
key order, their sketches merged in numpy and written back in one UPDATE), so concurrent
writers on PostgreSQL never lose an update and a rolled-back batch leaves no trace.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import itertools
import logging
import operator
import weakref
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import orjson
from sqlalchemy import Engine, Table, bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from juncture.kit import clock
from juncture.signals import sketch
from juncture.signals.models import (
    Deploy,
    FunnelEvent,
    MetricPoint,
    Quarantined,
    Review,
    Series,
    SurveyResponse,
    Ticket,
    TicketEvent,
)
from juncture.signals.redact import Redactor
from juncture.signals.validate import Catalog, Refused, Rules, validate

logger = logging.getLogger(__name__)

GRAINS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}
MAX_REPORTED_ERRORS = 1000
CHUNK = 500

TABLES: dict[str, Table] = {
    "metric": MetricPoint.__table__,  # type: ignore[dict-item]
    "funnel": FunnelEvent.__table__,  # type: ignore[dict-item]
    "ticket": TicketEvent.__table__,  # type: ignore[dict-item]
    "survey": SurveyResponse.__table__,  # type: ignore[dict-item]
    "review": Review.__table__,  # type: ignore[dict-item]
    "deploy": Deploy.__table__,  # type: ignore[dict-item]
}
COLUMNS: dict[str, tuple[str, ...]] = {
    name: tuple(c.name for c in table.columns if c.name != "id") for name, table in TABLES.items()
}

# A per-connection staging table for PostgreSQL raw inserts (emptied before each use).
_PG_STAGE = (
    "SET LOCAL client_min_messages = warning; "
    "CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
    "SELECT {names} FROM {table} WITH NO DATA; DELETE FROM {stage}"
)

# One row dict to the tuple of its table's columns, in C.
ROW_TUPLE = {name: operator.itemgetter(*columns) for name, columns in COLUMNS.items()}


@dataclass
class IngestResult:
    """What happened to each record of a call."""

    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    errors: list[dict[str, Any]] = field(default_factory=list)
    redactions: int = 0
    by_type: Counter[str] = field(default_factory=Counter)

    def add(self, other: IngestResult) -> None:
        self.received += other.received
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.reasons.update(other.reasons)
        self.redactions += other.redactions
        self.by_type.update(other.by_type)
        room = MAX_REPORTED_ERRORS - len(self.errors)
        if room > 0:
            self.errors.extend(other.errors[:room])

    def as_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "reasons": dict(sorted(self.reasons.items())),
            "errors": self.errors,
            "accepted_by_type": dict(sorted(self.by_type.items())),
        }


@dataclass(frozen=True)
class IngestConfig:
    retention_days: Mapping[str, int]
    max_future_seconds: int = 300
    auto_register: bool = False
    redact_patterns: Mapping[str, str] = field(default_factory=dict)
    max_text: int = 8000


def rules_for(config: IngestConfig, *, now_ms: int) -> Rules:
    """Validation rules from an ingest configuration at ``now_ms``."""
    return Rules(
        now_ms=now_ms,
        retention_days=config.retention_days,
        max_future_ms=config.max_future_seconds * 1000,
        max_text=config.max_text,
        auto_register=config.auto_register,
    )


def load_catalog(session: Session) -> Catalog:
    from juncture.catalog import service as catalog_service

    services, journeys, steps = catalog_service.slug_ids(session)
    return Catalog(services=services, journeys=journeys, steps=steps)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a batch is processed.

    A batch allocates a few hundred thousand small containers (rows, tuples) that form no
    reference cycles; the collector's passes over them cost about a fifth of the ingest time.
    Only the caller that paused it resumes it, so concurrent batches leave it enabled.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# The row fields each type's series spec (``series_spec``) reads.
_SPEC_FIELDS: dict[str, tuple[str, ...]] = {
    "metric": ("service", "metric", "region"),
    "funnel": ("journey", "step", "region", "channel", "segment", "device"),
    "ticket": ("team", "kind", "region", "channel", "segment", "category", "priority"),
    "survey": ("touchpoint_kind", "kind", "region", "channel", "segment"),
    "review": ("source", "region"),
    "deploy": ("service", "region", "status"),
}
_TS_MS = operator.itemgetter("ts_ms")
_KEY = operator.itemgetter("key")
_VALUE = operator.itemgetter("value")
# The catalog id a row of these types must carry (None until auto-registered).
_CATALOG_ID = {"metric": "service_id", "deploy": "service_id", "funnel": "step_id"}


def series_spec(signal_type: str, row: Mapping[str, Any]) -> tuple[Any, ...]:
    """The series a row rolls up into: (type, subject, metric, region, channel, segment, dims)."""
    if signal_type == "metric":
        return ("metric", row["service"], row["metric"], row["region"], None, None, ())
    if signal_type == "funnel":
        return (
            "funnel",
            f"{row['journey']}/{row['step']}",
            "reached",
            row["region"],
            row["channel"],
            row["segment"],
            (("device", row["device"]),),
        )
    if signal_type == "ticket":
        return (
            "ticket",
            row["team"] or "-",
            f"ticket.{row['kind']}",
            row["region"],
            row["channel"],
            row["segment"],
            (("category", row["category"]), ("priority", row["priority"])),
        )
    if signal_type == "survey":
        return (
            "survey",
            row["touchpoint_kind"] or "-",
            row["kind"],
            row["region"],
            row["channel"],
            row["segment"],
            (),
        )
    if signal_type == "review":
        return ("review", row["source"], "review", row["region"], None, None, ())
    return (
        "deploy",
        row["service"],
        "deploy",
        row["region"],
        None,
        None,
        (("status", row["status"]),),
    )


def rollup_value(signal_type: str, row: Mapping[str, Any]) -> float:
    """The value a row adds to its series' rollups (1 for counted events)."""
    if signal_type == "metric":
        return float(row["value"])
    if signal_type == "funnel":
        return float(row["value"] or 0.0)
    if signal_type == "survey":
        return float(row["score"])
    if signal_type == "review":
        return float(row["rating"] or 0.0)
    return 1.0


@dataclass
class RollupInputs:
    """What rows add to rollups: distinct series specs, each row's spec, time and value."""

    specs: list[tuple[Any, ...]]
    spec_index: np.ndarray  # int64, per row
    ts: np.ndarray  # int64 epoch ms, per row
    values: np.ndarray  # float64, per row

    def take(self, picked: np.ndarray | None) -> RollupInputs:
        """The same for a subset of the rows (``None``: all of them)."""
        if picked is None:
            return self
        return RollupInputs(
            self.specs, self.spec_index[picked], self.ts[picked], self.values[picked]
        )


def rollup_inputs(signal_type: str, rows: Sequence[Mapping[str, Any]]) -> RollupInputs:
    """Series specs and per-row arrays of clean rows (dicts with the type's fields)."""
    n = len(rows)
    # The few fields a series spec depends on, read in C; the spec is built once per
    # distinct combination rather than once per row.
    fields = _SPEC_FIELDS[signal_type]
    keys = list(map(operator.itemgetter(*fields), rows))
    position = {key: i for i, key in enumerate(dict.fromkeys(keys))}
    specs = [series_spec(signal_type, dict(zip(fields, key, strict=True))) for key in position]
    spec_index = np.fromiter(map(position.__getitem__, keys), dtype=np.int64, count=n)
    ts = np.fromiter(map(_TS_MS, rows), dtype=np.int64, count=n)
    # The same values as ``rollup_value``, read in C where the type allows.
    if signal_type == "metric":
        values = np.fromiter(map(_VALUE, rows), dtype=np.float64, count=n)
    elif signal_type == "funnel":
        values = np.fromiter((v or 0.0 for v in map(_VALUE, rows)), dtype=np.float64, count=n)
    elif signal_type in ("ticket", "deploy"):
        values = np.ones(n, dtype=np.float64)
    else:
        values = np.fromiter(
            (rollup_value(signal_type, r) for r in rows), dtype=np.float64, count=n
        )
    return RollupInputs(specs, spec_index, ts, values)


@dataclass
class TypeBatch:
    """One signal type's clean rows of a batch: unique by key, in key order, as table tuples.

    ``rows`` are in ``COLUMNS[signal_type]`` order, ready for the driver; ``rollups`` holds
    what they add to rollups; ``redactions`` counts redacted values per row.
    """

    keys: list[str]
    rows: list[tuple[Any, ...]]
    rollups: RollupInputs
    redactions: np.ndarray
    in_batch_duplicates: int
    # When some row lacks its catalog id (auto-registration pending): all clean rows as
    # dicts, with the slugs the table tuples do not carry.
    unresolved: list[dict[str, Any]] | None = None

    def dicts(self, signal_type: str) -> list[dict[str, Any]]:
        columns = COLUMNS[signal_type]
        return [dict(zip(columns, row, strict=True)) for row in self.rows]


def type_batch(signal_type: str, pairs: Sequence[tuple[str, dict[str, Any]]]) -> TypeBatch:
    """Build a :class:`TypeBatch` from (key, clean row) pairs in arrival order."""
    unique = list(dict(reversed(pairs)).values())  # the first row of each key
    unique.sort(key=_KEY)
    # In key order: the unique key index (hashes, so spread everywhere) is then walked once
    # from left to right instead of at random, which keeps its pages in the cache.
    id_field = _CATALOG_ID.get(signal_type)
    unresolved = id_field is not None and any(r[id_field] is None for r in unique)
    return TypeBatch(
        keys=list(map(_KEY, unique)),
        rows=list(map(ROW_TUPLE[signal_type], unique)),
        rollups=rollup_inputs(signal_type, unique),
        redactions=np.fromiter(
            (r.get("_redacted", 0) for r in unique), dtype=np.int64, count=len(unique)
        ),
        in_batch_duplicates=len(pairs) - len(unique),
        unresolved=unique if unresolved else None,
    )


@dataclass
class Prepared:
    """One batch after validation, before anything is written (picklable, so a second
    process can validate while this one writes: see ``signals.pipeline``).

    ``types`` maps a signal type to its rows; ``refused`` holds (record index, original
    record, reason code, detail) per refusal.
    """

    received: int
    types: dict[str, TypeBatch]
    refused: list[tuple[int, Any, str, str]]


def prepare(
    records: Sequence[Any],
    *,
    rules: Rules,
    catalog: Catalog,
    redactor: Redactor,
    index_offset: int = 0,
) -> Prepared:
    """Validate a batch: every record becomes a keyed clean row or a refusal."""
    by_type: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    refused: list[tuple[int, Any, str, str]] = []
    for index, record in enumerate(records):
        try:
            signal_type, key, row = validate(record, rules, catalog, redactor)
        except Refused as exc:
            refused.append((index + index_offset, record, exc.reason, exc.detail))
            continue
        row["key"] = key
        by_type.setdefault(signal_type, []).append((key, row))
    return Prepared(
        received=len(records),
        types={t: type_batch(t, pairs) for t, pairs in by_type.items()},
        refused=refused,
    )


def _as_record(signal_type: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """A clean row as a v1 record again (for the quarantine, when its record is not at hand)."""
    record = {k: v for k, v in row.items() if k not in ("key", "ts_ms", "_redacted")}
    record = {k: v for k, v in record.items() if not k.endswith("_id") or k == "session_id"}
    return {"type": signal_type, "ts": clock.from_ms(int(row["ts_ms"])).isoformat(), **record}


# Series ids on PostgreSQL, per engine, shared by every ingest call of the process: a new
# series commits on its own connection at once (``Ingestor._series_id``), so an id once read
# can never be rolled back, and series rows are never deleted. Without it every call looked
# its series up again (a fifth of a 1,000-record call).
_PG_SERIES_IDS: weakref.WeakKeyDictionary[Engine, dict[tuple[Any, ...], int]] = (
    weakref.WeakKeyDictionary()
)


class Ingestor:
    """Ingests batches for one unit of work; caches the catalog and series ids between batches.

    ``series_ids`` may be shared by the batches of one bulk load that stops at the first
    failure (on SQLite a series is created inside the batch's transaction, and one created by
    a rolled-back transaction would stay in the cache). On PostgreSQL every ingestor of an
    engine shares one cache (new series commit on their own).
    """

    def __init__(
        self,
        session: Session,
        config: IngestConfig,
        *,
        source: str,
        series_ids: dict[tuple[Any, ...], int] | None = None,
    ) -> None:
        self.session = session
        self.config = config
        self.source = source[:200]
        self.catalog = load_catalog(session)
        self.redactor = Redactor(config.redact_patterns)
        bind = session.get_bind()
        self.dialect = bind.dialect.name
        if series_ids is None and self.dialect == "postgresql" and isinstance(bind, Engine):
            series_ids = _PG_SERIES_IDS.setdefault(bind, {})
        self.series_ids: dict[tuple[Any, ...], int] = {} if series_ids is None else series_ids

    # ------------------------------------------------------------ entry

    def rules(self) -> Rules:
        """Validation rules from the configuration, at the current time."""
        return rules_for(self.config, now_ms=clock.to_ms(clock.now()))

    def accepts(self, record: Any) -> bool:
        """Whether ``record`` would pass validation now (nothing is written)."""
        try:
            validate(record, self.rules(), self.catalog, self.redactor)
        except Refused:
            return False
        return True

    def ingest(self, records: Sequence[Any], *, index_offset: int = 0) -> IngestResult:
        """Validate, store and roll up one batch (``store(prepare(records))``)."""
        return self.store(self.prepare(records, index_offset=index_offset))

    def prepare(self, records: Sequence[Any], *, index_offset: int = 0) -> Prepared:
        """Validate one batch against this ingestor's catalog and rules (nothing is written)."""
        with _gc_paused():
            return prepare(
                records,
                rules=self.rules(),
                catalog=self.catalog,
                redactor=self.redactor,
                index_offset=index_offset,
            )

    def store(self, prepared: Prepared) -> IngestResult:
        """Store a validated batch: dedup, raw rows, rollups, ticket state and quarantine."""
        with _gc_paused():
            return self._store(prepared)

    def _store(self, prepared: Prepared) -> IngestResult:
        result = IngestResult(received=prepared.received)
        batches = dict(prepared.types)
        refused = list(prepared.refused)
        if any(b.unresolved is not None for b in batches.values()):
            refused.extend(self._resolve(batches))
        # A fixed order of types (and sorted keys within each) makes every writer take row
        # locks in the same global order, so concurrent PostgreSQL writers cannot deadlock.
        for signal_type in sorted(batches, key=list(TABLES).index):
            batch = batches[signal_type]
            if not batch.rows:
                continue
            picked = self._insert(signal_type, batch)
            inserted = len(batch.rows) if picked is None else len(picked)
            result.duplicates += batch.in_batch_duplicates + len(batch.rows) - inserted
            result.accepted += inserted
            result.by_type[signal_type] += inserted
            redactions = batch.redactions if picked is None else batch.redactions[picked]
            result.redactions += int(redactions.sum())
            if inserted:
                self._roll_up(batch.rollups.take(picked))
                if signal_type == "ticket":
                    rows = batch.dicts(signal_type)
                    self._update_tickets(rows if picked is None else [rows[i] for i in picked])
        for index, _record, reason, detail in refused:
            result.quarantined += 1
            result.reasons[reason] += 1
            if len(result.errors) < MAX_REPORTED_ERRORS:
                result.errors.append({"index": index, "reason": reason, "detail": detail})
        if refused:
            self._quarantine(refused)
        return result

    # ------------------------------------------------------------ registration

    def _resolve(self, batches: dict[str, TypeBatch]) -> list[tuple[int, Any, str, str]]:
        """Give rows without a catalog id theirs, registering services and steps if allowed.

        A batch validated elsewhere (``signals.pipeline``) saw an older catalog: what was
        registered since is known here. Rows still unknown afterwards are refused.
        """
        rows = {t: b.unresolved for t, b in batches.items() if b.unresolved is not None}
        if self.config.auto_register:
            self._auto_register(
                services={
                    row["service"]
                    for t in ("metric", "deploy")
                    for row in rows.get(t, [])
                    if row["service"] not in self.catalog.services
                },
                steps={
                    (row["journey"], row["step"])
                    for row in rows.get("funnel", [])
                    if (row["journey"], row["step"]) not in self.catalog.steps
                },
            )
        for t in ("metric", "deploy"):
            for row in rows.get(t, []):
                row["service_id"] = self.catalog.services.get(row["service"])
        for row in rows.get("funnel", []):
            row["journey_id"] = self.catalog.journeys.get(row["journey"])
            row["step_id"] = self.catalog.steps.get((row["journey"], row["step"]))
        refused: list[tuple[int, Any, str, str]] = []
        for t, typed in rows.items():
            id_field = _CATALOG_ID[t]
            known = [r for r in typed if r[id_field] is not None]
            for r in typed:
                if r[id_field] is None:
                    what = (
                        ("unknown_service", f"no service with slug '{r['service']}'")
                        if t != "funnel"
                        else ("unknown_step", f"journey '{r['journey']}' has no step '{r['step']}'")
                    )
                    refused.append((-1, _as_record(t, r), *what))
            rebuilt = type_batch(t, [(r["key"], r) for r in known])
            rebuilt.in_batch_duplicates = batches[t].in_batch_duplicates
            batches[t] = rebuilt
        return refused

    def _auto_register(self, *, services: set[str], steps: set[tuple[str, str]]) -> None:
        """Create these services and journey steps in the catalog (``self.catalog`` follows)."""
        from juncture.access import service as access_service
        from juncture.access.schemas import TeamCreate
        from juncture.catalog import service as catalog_service
        from juncture.catalog.schemas import ServiceCreate

        if not services and not steps:
            return
        team = access_service.get_team_by_slug(self.session, slug="unassigned")
        if team is None and services:
            team = access_service.create_team(
                self.session,
                data=TeamCreate(
                    slug="unassigned",
                    name="Unassigned",
                    kind="other",
                    description="Owner of auto-registered services until someone claims them.",
                ),
            )
        for slug in sorted(services):
            assert team is not None
            try:
                with self.session.begin_nested():  # a failure undoes only this registration
                    created = catalog_service.create_service(
                        self.session,
                        data=ServiceCreate(slug=slug, name=slug, owner_team_id=team.id, tier=3),
                    )
            except Exception:  # noqa: S112 - it stays unknown and its rows are quarantined
                continue
            self.catalog.services[slug] = created.id
        for journey_slug, step_slug in sorted(steps):
            journey = catalog_service.get_journey_by_slug(self.session, slug=journey_slug)
            try:
                with self.session.begin_nested():  # a failure undoes only this registration
                    self._register_step(journey, journey_slug, step_slug)
            except Exception:  # noqa: S112 - it stays unknown and its rows are quarantined
                continue
            self.catalog = load_catalog(self.session)

    def _register_step(self, journey: Any, journey_slug: str, step_slug: str) -> None:
        """Create the journey with this step, or add the step to the journey."""
        from juncture.catalog import service as catalog_service
        from juncture.catalog.schemas import JourneyCreate, JourneyUpdate, StepIn

        if journey is None:
            catalog_service.create_journey(
                self.session,
                data=JourneyCreate(
                    slug=journey_slug,
                    name=journey_slug,
                    steps=[StepIn(slug=step_slug, name=step_slug)],
                ),
            )
        elif not any(s.slug == step_slug for s in journey.steps):
            steps = [
                StepIn(slug=s.slug, name=s.name, service_ids=s.service_ids) for s in journey.steps
            ]
            catalog_service.update_journey(
                self.session,
                journey_id=journey.id,
                data=JourneyUpdate(steps=[*steps, StepIn(slug=step_slug, name=step_slug)]),
            )

    # ------------------------------------------------------------ insert

    def _insert(self, signal_type: str, batch: TypeBatch) -> np.ndarray | None:
        """Insert the rows whose keys are not stored yet; the positions inserted (None: all)."""
        if self.dialect == "postgresql":
            return self._insert_postgresql(signal_type, batch)
        table = TABLES[signal_type]
        columns = COLUMNS[signal_type]
        names = ", ".join(columns)
        marks = ", ".join("?" * len(columns))
        connection = self.session.connection()
        # The common case, keys never seen before: insert all with ON CONFLICT (key) DO
        # NOTHING inside a savepoint. If every row went in, no stored key collided and no
        # lookup is needed. Otherwise roll back and insert only the keys not stored.
        connection.exec_driver_sql("SAVEPOINT juncture_ingest")
        done = connection.exec_driver_sql(
            f"INSERT INTO {table.name} ({names}) VALUES ({marks}) ON CONFLICT (key) DO NOTHING",  # noqa: S608 - constant names
            batch.rows,
        )
        if done.rowcount == len(batch.rows):
            connection.exec_driver_sql("RELEASE SAVEPOINT juncture_ingest")
            return None
        connection.exec_driver_sql("ROLLBACK TO SAVEPOINT juncture_ingest")
        connection.exec_driver_sql("RELEASE SAVEPOINT juncture_ingest")
        stored: set[str] = set()
        stmt = select(table.c.key).where(table.c.key.in_(bindparam("keys", expanding=True)))
        for start in range(0, len(batch.keys), CHUNK):
            stored.update(
                self.session.execute(stmt, {"keys": batch.keys[start : start + CHUNK]}).scalars()
            )
        picked = np.array(
            [i for i, key in enumerate(batch.keys) if key not in stored], dtype=np.int64
        )
        if len(picked):
            # Single writer (BEGIN IMMEDIATE): the keys checked cannot appear meanwhile.
            connection.exec_driver_sql(
                f"INSERT INTO {table.name} ({names}) VALUES ({marks})",  # noqa: S608 - constant names
                [batch.rows[i] for i in picked.tolist()],
            )
        return picked

    def _insert_postgresql(self, signal_type: str, batch: TypeBatch) -> np.ndarray | None:
        # Another transaction may insert the same key concurrently; keep only ours. The rows
        # are copied into a temporary staging table (COPY: no statement text to build or
        # parse per row), then inserted from it in key order, one lock order for every
        # writer, with ON CONFLICT DO NOTHING: stored keys come back as not inserted.
        table = TABLES[signal_type]
        names = ", ".join(COLUMNS[signal_type])
        stage = f"juncture_stage_{table.name}"
        cursor = _pg_cursor(self.session)
        cursor.execute(_PG_STAGE.format(stage=stage, names=names, table=table.name))
        with cursor.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
            write = copy.write_row
            for values in batch.rows:
                write(values)
        cursor.execute(
            f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {stage} ORDER BY key "  # noqa: S608 - constant names
            "ON CONFLICT (key) DO NOTHING RETURNING key"
        )
        inserted = {key for (key,) in cursor.fetchall()}
        if len(inserted) == len(batch.rows):
            return None
        return np.array([i for i, key in enumerate(batch.keys) if key in inserted], dtype=np.int64)

    # ------------------------------------------------------------ rollups

    def _series_id(self, specs: Iterable[tuple[Any, ...]]) -> None:
        missing = [s for s in set(specs) if s not in self.series_ids]
        if not missing:
            return
        table = cast(Table, Series.__table__)
        payload = []
        for spec in missing:
            signal_type, subject, metric, region, channel, segment, dims = spec
            dims_dict = {k: v for k, v in dims if v is not None}
            series_key = hashlib.blake2b(
                orjson.dumps(
                    [signal_type, subject, metric, region, channel, segment, dims_dict],
                    option=orjson.OPT_SORT_KEYS,
                ),
                digest_size=20,
            ).hexdigest()
            payload.append(
                {
                    "series_key": series_key,
                    "signal_type": signal_type,
                    "subject": subject,
                    "metric": metric,
                    "region": region,
                    "channel": channel,
                    "segment": segment,
                    "dims": dims_dict,
                    "_spec": spec,
                }
            )
        insert_rows = [{k: v for k, v in p.items() if k != "_spec"} for p in payload]
        if self.dialect == "sqlite":
            from sqlalchemy.dialects import sqlite

            stmt: Any = sqlite.insert(table).on_conflict_do_nothing(index_elements=["series_key"])
        else:
            stmt = postgresql.insert(table).on_conflict_do_nothing(index_elements=["series_key"])
        insert_rows.sort(key=lambda r: r["series_key"])
        if self.dialect == "postgresql":
            # New series commit on their own at once, so a long ingest transaction never holds
            # locks on them (another writer would wait on it, or deadlock).
            engine = self.session.get_bind()
            assert isinstance(engine, Engine)
            with engine.connect() as own:
                own.execute(stmt, insert_rows)
                own.commit()
        else:
            self.session.execute(stmt, insert_rows)
        by_key = {p["series_key"]: p["_spec"] for p in payload}
        keys = list(by_key)
        for start in range(0, len(keys), CHUNK):
            for sid, skey in self.session.execute(
                select(Series.id, Series.series_key).where(
                    Series.series_key.in_(keys[start : start + CHUNK])
                )
            ):
                self.series_ids[by_key[skey]] = sid

    def roll_up(self, signal_type: str, rows: list[dict[str, Any]]) -> None:
        """Add stored rows of one type to their series' rollups (rebuild)."""
        if rows:
            self._roll_up(rollup_inputs(signal_type, rows))

    def _roll_up(self, inputs: RollupInputs) -> None:
        self._series_id(inputs.specs)
        ids = np.array([self.series_ids[spec] for spec in inputs.specs], dtype=np.int64)
        write_rollups(
            self.session, ids[inputs.spec_index], inputs.ts, inputs.values, dialect=self.dialect
        )

    # ------------------------------------------------------------ tickets

    def _update_tickets(self, rows: list[dict[str, Any]]) -> None:
        update_ticket_state(self.session, rows, dialect=self.dialect)

    # ------------------------------------------------------------ quarantine

    def _quarantine(self, refused: list[tuple[int, Any, str, str]]) -> None:
        now = clock.now()
        table = cast(Table, Quarantined.__table__)
        rows = []
        for _, record, reason, detail in refused:
            try:
                payload = orjson.dumps(
                    record, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
                ).decode()
            except TypeError:
                payload = repr(record)
            signal_type = record.get("type") if isinstance(record, dict) else None
            rows.append(
                {
                    "first_seen": now,
                    "last_seen": now,
                    "seen_count": 1,
                    "source": self.source,
                    "signal_type": str(signal_type)[:16] if signal_type is not None else None,
                    "reason": reason,
                    "detail": detail[:2000],
                    "payload": payload,
                    "payload_hash": hashlib.blake2b(payload.encode(), digest_size=20).hexdigest(),
                    "resolved": None,
                    "resolved_at": None,
                }
            )
        rows.sort(key=lambda r: str(r["payload_hash"]))
        if self.dialect == "sqlite":
            from sqlalchemy.dialects import sqlite

            base: Any = sqlite.insert(table)
        else:
            base = postgresql.insert(table)
        stmt = base.on_conflict_do_update(
            index_elements=["payload_hash"],
            set_={
                "seen_count": table.c.seen_count + 1,
                "last_seen": base.excluded.last_seen,
                "source": base.excluded.source,
            },
        )
        self.session.execute(stmt, rows)


# ---------------------------------------------------------------- shared writers


def _order(series: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Points sorted by (series, time): every grain's buckets are then contiguous runs."""
    return np.lexsort((ts, series))


def _aggregate_sorted(
    s: np.ndarray, t: np.ndarray, v: np.ndarray, k_all: np.ndarray, grain_ms: int
) -> tuple[np.ndarray, list[Any]]:
    """Aggregate points already sorted by (series, time) into buckets of ``grain_ms``.

    Returns the group start positions and the columns (series, bucket, count, sum, sumsq,
    min, max, sketch) as lists. Sketch text equals ``sketch.dumps(sketch.from_indices(...))``
    of the group's bins, built for all groups at once (``sketch.encode_groups``).
    """
    n = len(s)
    b = t - np.mod(t, grain_ms)
    boundary = np.empty(n, dtype=bool)
    boundary[0] = True
    np.not_equal(s[1:], s[:-1], out=boundary[1:])
    boundary[1:] |= b[1:] != b[:-1]
    starts = np.flatnonzero(boundary)
    counts = np.diff(np.append(starts, n))
    sums = np.add.reduceat(v, starts)
    sumsq = np.add.reduceat(v * v, starts)
    mins = np.minimum.reduceat(v, starts)
    maxs = np.maximum.reduceat(v, starts)
    single = counts == 1
    if single.all():
        sketches: list[Any] = list(map(sketch.single, k_all.tolist()))
    else:
        sketches = [None] * len(starts)
        single_idx = np.flatnonzero(single)
        for i, k in zip(single_idx.tolist(), k_all[starts[single_idx]].tolist(), strict=True):
            sketches[i] = sketch.single(k)
        group = np.repeat(np.arange(len(starts), dtype=np.int64), counts)
        mask = ~single[group]
        g_m, k_m = group[mask], k_all[mask]
        k_lo = int(k_m.min())
        span = int(k_m.max()) - k_lo + 1
        uniq, c = np.unique(g_m * span + (k_m - k_lo), return_counts=True)
        ug = uniq // span
        first = np.flatnonzero(np.r_[True, ug[1:] != ug[:-1]])
        texts = sketch.encode_groups(first, uniq % span + k_lo, c.astype(np.int64))
        for g, text in zip(ug[first].tolist(), texts, strict=True):
            sketches[g] = text
    return starts, [
        s[starts].tolist(),
        b[starts].tolist(),
        counts.tolist(),
        sums.tolist(),
        sumsq.tolist(),
        mins.tolist(),
        maxs.tolist(),
        sketches,
    ]


def aggregate(
    series: np.ndarray,
    ts: np.ndarray,
    values: np.ndarray,
    grain_ms: int,
    bins: np.ndarray | None = None,
) -> list[tuple[Any, ...]]:
    """Per (series, bucket): (series, bucket, count, sum, sumsq, min, max, sketch) tuples."""
    if not len(series):
        return []
    order = _order(series, ts)
    k_all = sketch.bin_indices(values) if bins is None else bins
    _, columns = _aggregate_sorted(series[order], ts[order], values[order], k_all[order], grain_ms)
    return list(zip(*columns, strict=True))


_ROLLUP_COLUMNS = "series_id, grain, bucket_ms, count, sum, sumsq, min, max, sketch"
_ROLLUP_ADD = (
    "ON CONFLICT (series_id, grain, bucket_ms) DO UPDATE SET "
    "count = signal_rollups.count + excluded.count, sum = signal_rollups.sum + excluded.sum, "
    "sumsq = signal_rollups.sumsq + excluded.sumsq, "
    "min = min(signal_rollups.min, excluded.min), "
    "max = max(signal_rollups.max, excluded.max), "
    "sketch = juncture_merge_sketch(signal_rollups.sketch, excluded.sketch)"
)
_UPSERT_SQLITE = (
    f"INSERT INTO signal_rollups ({_ROLLUP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "  # noqa: S608 - constant names
    + _ROLLUP_ADD
)

# PostgreSQL, set-based (no per-row SQL function): the batch's rows go in as arrays; new keys
# are inserted in key order, the keys that already existed are locked in key order, their
# sketches merged in numpy, and everything else added in one UPDATE ... FROM.
_PG_ARRAYS = (
    "unnest(%s::bigint[], %s::varchar[], %s::bigint[], %s::bigint[], %s::float8[], "
    "%s::float8[], %s::float8[], %s::float8[], %s::text[]) "
    "AS u(series_id, grain, bucket_ms, count, sum, sumsq, min, max, sketch)"
)
_PG_INSERT_NEW = (
    f"INSERT INTO signal_rollups ({_ROLLUP_COLUMNS}) "  # noqa: S608 - constant names
    f"SELECT * FROM {_PG_ARRAYS} ORDER BY u.series_id, u.grain, u.bucket_ms "
    "ON CONFLICT (series_id, grain, bucket_ms) DO NOTHING "
    "RETURNING series_id, grain, bucket_ms"
)
_PG_LOCK_EXISTING = (
    "SELECT r.series_id, r.grain, r.bucket_ms, r.sketch FROM signal_rollups r "
    "JOIN unnest(%s::bigint[], %s::varchar[], %s::bigint[]) AS k(series_id, grain, bucket_ms) "
    "ON r.series_id = k.series_id AND r.grain = k.grain AND r.bucket_ms = k.bucket_ms "
    "ORDER BY r.series_id, r.grain, r.bucket_ms FOR UPDATE OF r"
)
_PG_ADD_EXISTING = (
    "UPDATE signal_rollups r SET count = r.count + u.count, sum = r.sum + u.sum, "  # noqa: S608 - constant names
    "sumsq = r.sumsq + u.sumsq, min = LEAST(r.min, u.min), max = GREATEST(r.max, u.max), "
    f"sketch = u.sketch FROM {_PG_ARRAYS} "
    "WHERE r.series_id = u.series_id AND r.grain = u.grain AND r.bucket_ms = u.bucket_ms"
)


def ensure_sqlite_functions(session: Session) -> None:
    """Register the sketch merge on this very connection (pooled ones may predate the hook)."""
    raw = session.connection().connection.driver_connection
    if raw is not None and not getattr(raw, "_juncture_functions", False):
        raw.create_function("juncture_merge_sketch", 2, sketch.merge_text, deterministic=True)
        # sqlite3.Connection has no __dict__; registering again is cheap
        with contextlib.suppress(AttributeError):
            raw._juncture_functions = True


def _pg_cursor(session: Session) -> Any:
    """A psycopg cursor on the session's connection (inside its transaction)."""
    raw = session.connection().connection.driver_connection
    assert raw is not None
    return raw.cursor()


def _pg_array(values: Iterable[Any]) -> str:
    """An array literal of numbers or of strings that need no quoting (grains, base64).

    Built with one join instead of the driver's per-element array dumping; ``str`` of a
    float round-trips exactly through PostgreSQL's float8 input.
    """
    return "{" + ",".join(map(str, values)) + "}"


def _write_rollups_postgresql(session: Session, columns: list[list[Any]]) -> None:
    """Add rollup rows (columns in ``_ROLLUP_COLUMNS`` order, one row per key) on PostgreSQL.

    Lock order: new keys are inserted in key order (a key another writer is inserting makes
    this one wait for that writer's end); keys that existed are then locked in key order
    (``FOR UPDATE`` above the sort); the UPDATE touches only rows already locked. Every writer
    follows that order, so concurrent writers cannot deadlock.
    """
    cursor = _pg_cursor(session)
    arrays = list(map(_pg_array, columns))
    inserted = {(s, g, b) for s, g, b in cursor.execute(_PG_INSERT_NEW, arrays).fetchall()}
    n = len(columns[0])
    if len(inserted) == n:
        return
    keys = list(zip(columns[0], columns[1], columns[2], strict=True))
    old = [i for i, key in enumerate(keys) if key not in inserted]
    picked = [[col[i] for i in old] for col in columns]
    existing = {
        (s, g, b): text
        for s, g, b, text in cursor.execute(
            _PG_LOCK_EXISTING, list(map(_pg_array, picked[:3]))
        ).fetchall()
    }
    m = len(old)
    own = picked[8]
    stored = [existing[key] for key in zip(picked[0], picked[1], picked[2], strict=True)]
    group = np.concatenate([np.arange(m, dtype=np.int64), np.arange(m, dtype=np.int64)])
    picked[8] = sketch.merge_many(stored + own, group, m)
    cursor.execute(_PG_ADD_EXISTING, list(map(_pg_array, picked)))


def write_rollups(
    session: Session, series: np.ndarray, ts: np.ndarray, values: np.ndarray, *, dialect: str
) -> int:
    """Add these points to the minute, hour and day rollups (additive, in key order).

    The points are sorted once by (series, time); each grain's buckets are contiguous runs of
    that order, so the three grains share one sort and rows come out in key order.
    """
    if not len(series):
        return 0
    order = _order(series, ts)
    s, t, v = series[order], ts[order], values[order]
    k_all = sketch.bin_indices(v)
    per_grain = []
    for grain, ms in GRAINS.items():
        _, columns = _aggregate_sorted(s, t, v, k_all, ms)
        columns.insert(1, [grain] * len(columns[0]))
        per_grain.append(columns)
    written = sum(len(c[0]) for c in per_grain)
    if dialect == "postgresql":
        # One set of statements for all grains (the SQL orders the rows by key itself).
        _write_rollups_postgresql(
            session, [list(itertools.chain(*col)) for col in zip(*per_grain, strict=True)]
        )
        return written
    ensure_sqlite_functions(session)
    connection = session.connection()
    for columns in per_grain:
        connection.exec_driver_sql(_UPSERT_SQLITE, list(zip(*columns, strict=True)))
    return written


# ---------------------------------------------------------------- ticket state

# The status a ticket shows after an event of this kind (by the actor who sent it).
_STATUS_AFTER = {
    "created": "new",
    "assigned": "open",
    "reassigned": "open",
    "resolved": "solved",
    "reopened": "open",
}


def _status_after(row: Mapping[str, Any]) -> str | None:
    kind = row["kind"]
    if kind == "status_changed":
        return str(row["status"])
    if kind == "replied":
        return "pending" if row["actor_kind"] == "agent" else "open"
    if kind == "commented":
        return "open" if row["actor_kind"] == "customer" else None
    return _STATUS_AFTER.get(kind)


_FILL = (
    "channel",
    "priority",
    "category",
    "customer_id",
    "region",
    "segment",
    "service",
    "agent_id",
)
# Ties at the same event time are broken by a fixed order, so the outcome never depends on arrival.
_STATUS_RANK = {"new": 0, "open": 1, "pending": 2, "on_hold": 3, "solved": 4, "closed": 5}


def _later(ts: int, value: str, cur_ts: int | None, cur_value: str | None) -> bool:
    return cur_ts is None or (ts, value) > (cur_ts, cur_value or "")


def apply_event(state: dict[str, Any], row: Mapping[str, Any]) -> None:
    """Fold one event into a ticket's state. Order-independent: every field is a maximum or
    minimum over the events by event time, so any arrival order gives the same state."""
    ts = row["ts_ms"]
    kind = row["kind"]
    state["event_count"] += 1
    if kind == "created":
        state["created_ms"] = ts if state["created_ms"] is None else min(state["created_ms"], ts)
    if kind == "replied" and row["actor_kind"] == "agent":
        first = state["first_response_ms"]
        state["first_response_ms"] = ts if first is None else min(first, ts)
        state["reply_count"] += 1
    if kind == "resolved":
        resolved = state["resolved_ms"]
        state["resolved_ms"] = ts if resolved is None else max(resolved, ts)
    if kind == "reopened":
        state["reopen_count"] += 1
    if kind == "reassigned":
        state["reassign_count"] += 1
    team = row.get("team")
    if team and _later(ts, team, state["team_ms"], state["team"]):
        state["team"], state["team_ms"] = team, ts
    status = _status_after(row)
    if status is not None:
        current = (state["status_ms"], _STATUS_RANK.get(state["status"], -1))
        if (ts, _STATUS_RANK[status]) > current:
            state["status"], state["status_ms"] = status, ts
    stamps = dict(state.get("field_ms") or {})
    for name in _FILL:
        value = row.get(name)
        if value is not None and _later(ts, str(value), stamps.get(name), state[name]):
            state[name] = value
            stamps[name] = ts
    state["field_ms"] = stamps
    state["last_event_ms"] = max(state["last_event_ms"], ts)


def fresh_ticket(ref: str) -> dict[str, Any]:
    return {
        "ref": ref,
        "status": "new",
        "status_ms": -1,
        "created_ms": None,
        "first_response_ms": None,
        "resolved_ms": None,
        "last_event_ms": -1,
        "team": None,
        "team_ms": None,
        "agent_id": None,
        "channel": None,
        "priority": None,
        "category": None,
        "customer_id": None,
        "region": None,
        "segment": None,
        "service": None,
        "field_ms": {},
        "reopen_count": 0,
        "reassign_count": 0,
        "reply_count": 0,
        "event_count": 0,
    }


_TICKET_COLUMNS = tuple(c.name for c in Ticket.__table__.columns if c.name != "id")
_TICKET_SET = tuple(c for c in _TICKET_COLUMNS if c != "ref")
_TICKET_UPDATE_ROW = operator.itemgetter(*_TICKET_SET, "ref")
_TICKET_INSERT_ROW = operator.itemgetter(*_TICKET_COLUMNS)


def _update_ticket_state_sqlite(session: Session, rows: list[dict[str, Any]]) -> None:
    """The SQLite path through the driver with tuples.

    SQLite has one writer (the unit of work holds the write lock from BEGIN IMMEDIATE), so no
    other transaction can create a ticket between the lookup and the insert: new tickets are
    inserted once with their final state, existing ones updated. ``field_ms`` is JSON text
    written with ``orjson`` (compact; the JSON column type reads either form).
    """
    connection = session.connection()
    refs = sorted({r["ticket_ref"] for r in rows})
    names = ", ".join(_TICKET_COLUMNS)
    states: dict[str, dict[str, Any]] = {}
    for start in range(0, len(refs), CHUNK):
        chunk = refs[start : start + CHUNK]
        for values in connection.exec_driver_sql(
            f"SELECT {names} FROM tickets WHERE ref IN ({', '.join('?' * len(chunk))})",  # noqa: S608 - constant names
            tuple(chunk),
        ):
            state = dict(zip(_TICKET_COLUMNS, values, strict=True))
            field_ms = state["field_ms"]
            state["field_ms"] = orjson.loads(field_ms) if field_ms is not None else None
            states[state["ref"]] = state
    existing = [ref for ref in refs if ref in states]
    new = [ref for ref in refs if ref not in states]
    for ref in new:
        states[ref] = fresh_ticket(ref)
    for row in sorted(rows, key=lambda r: (r["ticket_ref"], r["ts_ms"])):
        apply_event(states[row["ticket_ref"]], row)
    for state in states.values():
        state["field_ms"] = orjson.dumps(state["field_ms"]).decode()
    if new:
        connection.exec_driver_sql(
            f"INSERT INTO tickets ({names}) VALUES ({', '.join('?' * len(_TICKET_COLUMNS))})",  # noqa: S608 - constant names
            list(map(_TICKET_INSERT_ROW, (states[ref] for ref in new))),
        )
    if existing:
        connection.exec_driver_sql(
            f"UPDATE tickets SET {', '.join(f'{c} = ?' for c in _TICKET_SET)} WHERE ref = ?",  # noqa: S608 - constant names
            list(map(_TICKET_UPDATE_ROW, (states[ref] for ref in existing))),
        )


def update_ticket_state(session: Session, rows: list[dict[str, Any]], *, dialect: str) -> None:
    if dialect == "sqlite":
        _update_ticket_state_sqlite(session, rows)
        return
    table = cast(Table, Ticket.__table__)
    refs = sorted({r["ticket_ref"] for r in rows})
    # Placeholders first, in key order, so concurrent writers lock rows in the same order.
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table).on_conflict_do_nothing(index_elements=["ref"])
    else:
        from sqlalchemy.dialects import sqlite

        stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=["ref"])
    session.execute(stmt, [fresh_ticket(ref) for ref in refs])
    states: dict[str, dict[str, Any]] = {}
    columns = [c for c in table.columns if c.name != "id"]
    for start in range(0, len(refs), CHUNK):
        query = (
            select(*columns)
            .where(table.c.ref.in_(refs[start : start + CHUNK]))
            .order_by(table.c.ref)
        )
        if dialect == "postgresql":
            query = query.with_for_update()
        for found in session.execute(query).mappings():
            states[found["ref"]] = dict(found)
    for row in sorted(rows, key=lambda r: (r["ticket_ref"], r["ts_ms"])):
        apply_event(states[row["ticket_ref"]], row)
    update = (
        table.update()
        .where(table.c.ref == bindparam("b_ref"))
        .values({c.name: bindparam(f"b_{c.name}") for c in columns if c.name != "ref"})
    )
    session.execute(update, [{f"b_{k}": v for k, v in states[ref].items()} for ref in refs])
