"""Signals logic for other rooms and the edges: ingest, quarantine, series, rebuilds, purges."""

from __future__ import annotations

import hashlib
import itertools
import math
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from juncture.access import service as access_service
from juncture.config import Settings
from juncture.kit import clock
from juncture.kit.errors import Invalid, NotFound, Unauthenticated
from juncture.signals import sketch
from juncture.signals.ingest import (
    GRAINS,
    TABLES,
    IngestConfig,
    Ingestor,
    IngestResult,
    Prepared,
    _gc_paused,
    apply_event,
    fresh_ticket,
    load_catalog,
)
from juncture.signals.models import Quarantined, Rollup, Series, SurveyWidget, Ticket
from juncture.signals.pipeline import BatchSource, prepared_batches

# The narrow reads other rooms use (see signals/reads.py), re-exported here.
from juncture.signals.reads import (
    DeployRow as DeployRow,  # noqa: PLC0414
)
from juncture.signals.reads import (
    FunnelSession as FunnelSession,  # noqa: PLC0414
)
from juncture.signals.reads import (
    SeriesRef as SeriesRef,  # noqa: PLC0414
)
from juncture.signals.reads import (
    StepCount as StepCount,  # noqa: PLC0414
)
from juncture.signals.reads import (
    SurveyRow as SurveyRow,  # noqa: PLC0414
)
from juncture.signals.reads import (
    TicketRow as TicketRow,  # noqa: PLC0414
)
from juncture.signals.reads import (
    count_tickets as count_tickets,  # noqa: PLC0414
)
from juncture.signals.reads import (
    deploys_between as deploys_between,  # noqa: PLC0414
)
from juncture.signals.reads import (
    find_series as find_series,  # noqa: PLC0414
)
from juncture.signals.reads import (
    funnel_sessions as funnel_sessions,  # noqa: PLC0414
)
from juncture.signals.reads import (
    funnel_step_counts as funnel_step_counts,  # noqa: PLC0414
)
from juncture.signals.reads import (
    rollup_rows as rollup_rows,  # noqa: PLC0414
)
from juncture.signals.reads import (
    rollup_sums as rollup_sums,  # noqa: PLC0414
)
from juncture.signals.reads import (
    series_totals as series_totals,  # noqa: PLC0414
)
from juncture.signals.reads import (
    survey_responses as survey_responses,  # noqa: PLC0414
)
from juncture.signals.reads import (
    ticket_cohort as ticket_cohort,  # noqa: PLC0414
)
from juncture.signals.reads import (
    ticket_counts as ticket_counts,  # noqa: PLC0414
)
from juncture.signals.reads import (
    ticket_opening_texts as ticket_opening_texts,  # noqa: PLC0414
)
from juncture.signals.reads import (
    tickets_created as tickets_created,  # noqa: PLC0414
)
from juncture.store.engine import Database
from juncture.store.uow import Actor, unit_of_work

# ---------------------------------------------------------------- ingest


def _sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def ingest_config(settings: Settings) -> IngestConfig:
    return IngestConfig(
        retention_days=settings.retention_days,
        max_future_seconds=settings.max_future_seconds,
        auto_register=settings.auto_register,
        redact_patterns=settings.redact_patterns,
    )


def ingest(
    session: Session, *, records: Sequence[Any], settings: Settings, source: str
) -> IngestResult:
    """Validate and store one batch; every record is accepted, a duplicate, or quarantined."""
    ingestor = Ingestor(session, ingest_config(settings), source=source)
    return _audited(session, ingestor.ingest(records), source)


def store(
    session: Session,
    *,
    prepared: Prepared,
    settings: Settings,
    source: str,
    series_ids: dict[tuple[Any, ...], int] | None = None,
) -> IngestResult:
    """Store one batch validated beforehand (``signals.pipeline``); as :func:`ingest` after it.

    ``series_ids``: a series-id cache shared by the batches of one bulk load that stops at its
    first failure (see :class:`Ingestor`).
    """
    ingestor = Ingestor(session, ingest_config(settings), source=source, series_ids=series_ids)
    return _audited(session, ingestor.store(prepared), source)


def load_batches(
    db: Database,
    batches: BatchSource,
    *,
    settings: Settings,
    source: str,
    actor: Actor | None = None,
    parallel: bool | None = None,
    within: Callable[[Session, IngestResult, Any], None] | None = None,
    after: Callable[[IngestResult, Any], None] | None = None,
) -> IngestResult:
    """Store a stream of batches, each in its own transaction, validated in a worker process.

    ``batches`` returns an iterator of (records, meta) and runs in the worker (see
    ``signals.pipeline``). ``within(session, result, meta)`` runs inside each batch's
    transaction, ``after(result, meta)`` after its commit. The first failure ends the load
    (the batches share one series-id cache).
    """
    with unit_of_work(db, actor=actor, write=False) as session:
        catalog = load_catalog(session)
    total = IngestResult()
    series_ids: dict[tuple[Any, ...], int] = {}
    for prepared, meta in prepared_batches(
        batches, config=ingest_config(settings), catalog=catalog, parallel=parallel
    ):
        with unit_of_work(db, actor=actor) as session:
            result = store(
                session, prepared=prepared, settings=settings, source=source, series_ids=series_ids
            )
            if within is not None:
                within(session, result, meta)
        total.add(result)
        if after is not None:
            after(result, meta)
    return total


def _audited(session: Session, result: IngestResult, source: str) -> IngestResult:
    if result.redactions:
        access_service.record_audit(
            session,
            action="signals.redact",
            object_type="signals",
            object_id=source[:64],
            after={"redacted_values": result.redactions},
        )
    return result


# ---------------------------------------------------------------- quarantine


def list_quarantine(
    session: Session,
    *,
    reason: str | None = None,
    include_resolved: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> tuple[Sequence[Quarantined], int]:
    query = select(Quarantined)
    if reason:
        query = query.where(Quarantined.reason == reason)
    if not include_resolved:
        query = query.where(Quarantined.resolved.is_(None))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Quarantined.id.desc()).limit(limit).offset(offset)).all()
    return rows, total


def quarantine_reasons(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Quarantined.reason, func.count())
        .where(Quarantined.resolved.is_(None))
        .group_by(Quarantined.reason)
    )
    return {reason: int(n) for reason, n in rows}


def get_quarantined_or_raise(session: Session, *, item_id: int) -> Quarantined:
    item = session.get(Quarantined, item_id)
    if item is None:
        raise NotFound(f"quarantined record {item_id} does not exist")
    return item


def _select_open(
    session: Session, ids: Sequence[int] | None, reason: str | None
) -> list[Quarantined]:
    if not ids and not reason:
        raise Invalid("name the records: ids, or a reason code", code="nothing_selected")
    query = select(Quarantined).where(Quarantined.resolved.is_(None))
    if ids:
        query = query.where(Quarantined.id.in_(list(ids)))
    if reason:
        query = query.where(Quarantined.reason == reason)
    return list(session.scalars(query.order_by(Quarantined.id)))


@dataclass
class ReplayResult:
    replayed: int
    accepted: int
    duplicates: int
    still_quarantined: int


def replay(
    session: Session,
    *,
    settings: Settings,
    ids: Sequence[int] | None = None,
    reason: str | None = None,
) -> ReplayResult:
    """Run quarantined payloads through ingest again (after fixing the catalog or settings)."""
    items = _select_open(session, ids, reason)
    if not items:
        return ReplayResult(0, 0, 0, 0)
    ingestor = Ingestor(session, ingest_config(settings), source="replay")
    accepted = duplicates = still = 0
    now = clock.now()
    for item in items:
        try:
            record = orjson.loads(item.payload)
        except orjson.JSONDecodeError:
            still += 1
            continue
        # validate without re-quarantining: a record that still fails keeps its row, updated
        if not ingestor.accepts(record):
            still += 1
            continue
        result = ingestor.ingest([record])
        accepted += result.accepted
        duplicates += result.duplicates
        item.resolved = "replayed"
        item.resolved_at = now
    session.flush()
    access_service.record_audit(
        session,
        action="signals.quarantine_replay",
        object_type="quarantine",
        object_id=reason or ",".join(str(i) for i in (ids or []))[:64],
        after={
            "replayed": len(items) - still,
            "accepted": accepted,
            "duplicates": duplicates,
            "still_quarantined": still,
        },
    )
    return ReplayResult(len(items), accepted, duplicates, still)


def drop(session: Session, *, ids: Sequence[int] | None = None, reason: str | None = None) -> int:
    """Mark quarantined records as dropped (kept for the record, no longer open)."""
    items = _select_open(session, ids, reason)
    now = clock.now()
    for item in items:
        item.resolved = "dropped"
        item.resolved_at = now
    session.flush()
    access_service.record_audit(
        session,
        action="signals.quarantine_drop",
        object_type="quarantine",
        object_id=reason or ",".join(str(i) for i in (ids or []))[:64],
        after={"dropped": len(items)},
    )
    return len(items)


# ---------------------------------------------------------------- series


@dataclass(frozen=True)
class SeriesPoint:
    bucket: datetime
    count: int
    sum: float
    mean: float | None
    min: float | None
    max: float | None
    p50: float | None
    p95: float | None
    p99: float | None


GROUPABLE = ("region", "channel", "segment", "subject", "metric")


def read_series(
    session: Session,
    *,
    signal_type: str,
    metric: str,
    subject: str | None = None,
    grain: str = "h",
    start: datetime,
    end: datetime,
    group_by: str | None = None,
    filters: dict[str, str] | None = None,
    quantiles: bool = True,
) -> dict[str, list[SeriesPoint]]:
    """Buckets of one series (or several, merged or grouped by a dimension), from rollups only."""
    # The read allocates tens of thousands of short-lived, acyclic objects (rows, points,
    # floats); a cyclic-GC pass over the whole heap in the middle of it cost up to a third
    # of a 90-day hourly read.
    with _gc_paused():
        return _read_series(
            session,
            signal_type=signal_type,
            metric=metric,
            subject=subject,
            grain=grain,
            start=start,
            end=end,
            group_by=group_by,
            filters=filters,
            quantiles=quantiles,
        )


def _read_series(
    session: Session,
    *,
    signal_type: str,
    metric: str,
    subject: str | None,
    grain: str,
    start: datetime,
    end: datetime,
    group_by: str | None,
    filters: dict[str, str] | None,
    quantiles: bool,
) -> dict[str, list[SeriesPoint]]:
    if grain not in GRAINS:
        raise Invalid(f"grain must be one of {', '.join(GRAINS)}", code="bad_grain")
    if group_by is not None and group_by not in GROUPABLE:
        raise Invalid(f"group_by must be one of {', '.join(GROUPABLE)}", code="bad_group_by")
    if end <= start:
        raise Invalid("'to' must be after 'from'", code="bad_range")
    columns: list[Any] = [
        Rollup.bucket_ms,
        Rollup.count,
        Rollup.sum,
        Rollup.min,
        Rollup.max,
    ]
    if quantiles:
        columns.append(Rollup.sketch)  # not read at all without quantiles
    if group_by is not None:
        columns.append(getattr(Series, group_by))
    query = (
        select(*columns)
        .join(Series, Series.id == Rollup.series_id)
        .where(
            Series.signal_type == signal_type,
            Series.metric == metric,
            Rollup.grain == grain,
            Rollup.bucket_ms >= int(start.timestamp() * 1000),
            Rollup.bucket_ms < int(end.timestamp() * 1000),
        )
    )
    if subject is not None:
        query = query.where(Series.subject == subject)
    for name, value in (filters or {}).items():
        if name not in ("region", "channel", "segment"):
            raise Invalid(f"cannot filter on '{name}'", code="bad_filter")
        query = query.where(getattr(Series, name) == value)
    rows = session.connection().execute(query).all()  # Core rows: no ORM loading on this hot read
    # label -> bucket -> [count, sum, min, max, sketch texts]
    groups: dict[str, dict[int, list[Any]]] = {}
    if group_by is None:
        buckets: dict[int, list[Any]] = {}
        groups["all"] = buckets
        labelled: Any = ((None, row) for row in rows)
    else:
        labelled = ((str(row[-1] or "unknown"), row) for row in rows)
        buckets = {}
    current: str | None = None
    for label, row in labelled:
        if group_by is not None and label != current:
            current = label
            buckets = groups.setdefault(label, {})
        bucket_ms, n, total, lo, hi = row[:5]
        acc = buckets.get(bucket_ms)
        if acc is None:
            buckets[bucket_ms] = [n, total, lo, hi, [row[5]] if quantiles else None]
        else:
            acc[0] += n
            acc[1] += total
            acc[2] = min(acc[2], lo)
            acc[3] = max(acc[3], hi)
            if quantiles:
                acc[4].append(row[5])
    if not rows:
        groups = {}
    out: dict[str, list[SeriesPoint]] = {}
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    nothing = (None, None, None)
    for label, buckets in sorted(groups.items()):
        keys = sorted(buckets)
        qs: Any = (
            _bucket_quantiles([buckets[k][4] for k in keys], (0.5, 0.95, 0.99))
            if quantiles
            else itertools.repeat(nothing)
        )
        points: list[SeriesPoint] = []
        append = points.append
        # The points are built without the frozen dataclass's __init__ (nine
        # object.__setattr__ calls each, a third of this read): the same objects, 3x faster.
        new = object.__new__
        for bucket_ms, q in zip(keys, qs, strict=False):
            count, total, lo, hi, _ = buckets[bucket_ms]
            point = new(SeriesPoint)
            point.__dict__.update(
                bucket=(
                    datetime.fromtimestamp(bucket_ms // 1000, UTC)
                    if bucket_ms % 1000 == 0
                    else epoch + timedelta(milliseconds=bucket_ms)
                ),
                count=int(count),
                sum=float(total),
                mean=float(total) / count if count else None,
                min=lo,
                max=hi,
                p50=q[0],
                p95=q[1],
                p99=q[2],
            )
            append(point)
        out[label] = points
    return out


def _bucket_quantiles(
    sketches: Sequence[Sequence[str]], qs: tuple[float, ...]
) -> list[list[float | None]]:
    """Quantiles for many buckets at once (each bucket: one or more stored sketches).

    Every sketch decodes into flat (bucket, bin, count) arrays with one ``a2b_base64`` per
    text and one ``frombuffer`` (``sketch.decode_many``); one cumulative sum and one
    searchsorted per quantile then answer every bucket (``sketch.bucket_quantiles``).
    """
    n_buckets = len(sketches)
    if all(len(texts) == 1 for texts in sketches):
        values = sketch.text_quantiles([t[0] for t in sketches], qs)
    else:
        texts = [t for group in sketches for t in group]
        owner = np.repeat(
            np.arange(n_buckets, dtype=np.int64),
            np.fromiter(map(len, sketches), dtype=np.int64, count=n_buckets),
        )
        index, keys, counts = sketch.decode_many(texts)
        values = sketch.bucket_quantiles(owner[index], keys, counts, n_buckets, qs)
    out: list[list[float | None]] = values.tolist()
    for b in np.flatnonzero(np.isnan(values).any(axis=1)).tolist():
        out[b] = [None if v is None or math.isnan(v) else v for v in out[b]]
    return out


def list_series(
    session: Session, *, signal_type: str | None = None, limit: int = 500
) -> Sequence[Series]:
    query = select(Series).order_by(Series.signal_type, Series.subject, Series.metric)
    if signal_type:
        query = query.where(Series.signal_type == signal_type)
    return session.scalars(query.limit(limit)).all()


# ---------------------------------------------------------------- rebuild and retention


def rebuild_rollups(session: Session, *, chunk: int = 50_000) -> dict[str, int]:
    """Recompute every rollup from the raw rows still stored (same numbers as incremental)."""
    session.execute(delete(Rollup))
    ingestor = Ingestor(session, IngestConfig(retention_days={}), source="rebuild")
    services = {i: slug for slug, i in ingestor.catalog.services.items()}
    journeys = {i: slug for slug, i in ingestor.catalog.journeys.items()}
    steps = {i: pair[1] for pair, i in ingestor.catalog.steps.items()}
    counts: dict[str, int] = {}
    for signal_type, table in TABLES.items():
        last_id = 0
        total = 0
        while True:
            rows = [
                dict(r)
                for r in session.execute(
                    select(table).where(table.c.id > last_id).order_by(table.c.id).limit(chunk)
                ).mappings()
            ]
            if not rows:
                break
            last_id = rows[-1]["id"]
            for r in rows:
                if "service_id" in r:
                    r["service"] = services.get(r["service_id"], str(r["service_id"]))
                if "step_id" in r:
                    r["journey"] = journeys.get(r["journey_id"], str(r["journey_id"]))
                    r["step"] = steps.get(r["step_id"], str(r["step_id"]))
            ingestor.roll_up(signal_type, rows)
            total += len(rows)
        counts[signal_type] = total
    return counts


def rebuild_tickets(session: Session) -> int:
    """Recompute every ticket's state from its stored events."""
    from juncture.signals.models import TicketEvent

    session.execute(delete(Ticket))
    states: dict[str, dict[str, Any]] = {}
    for row in session.execute(select(TicketEvent.__table__).order_by(TicketEvent.id)).mappings():
        state = states.setdefault(row["ticket_ref"], fresh_ticket(row["ticket_ref"]))
        apply_event(state, dict(row))
    if states:
        session.execute(insert(Ticket), list(states.values()))
    return len(states)


def purge_expired(session: Session, *, settings: Settings) -> dict[str, int]:
    """Delete raw signals past their type's retention; rollups stay. Audited."""
    now_ms = int(clock.now().timestamp() * 1000)
    removed: dict[str, int] = {}
    for signal_type, table in TABLES.items():
        days = settings.retention_days.get(signal_type)
        if days is None:
            continue
        result = session.execute(delete(table).where(table.c.ts_ms < now_ms - days * 86_400_000))
        removed[signal_type] = int(getattr(result, "rowcount", 0) or 0)
    if any(removed.values()):
        access_service.record_audit(
            session,
            action="signals.retention_purge",
            object_type="signals",
            object_id="raw",
            after={"removed": removed, "retention_days": dict(settings.retention_days)},
        )
    return removed


# ---------------------------------------------------------------- tickets


def get_ticket(session: Session, *, ref: str) -> Ticket | None:
    return session.scalars(select(Ticket).where(Ticket.ref == ref)).one_or_none()


# ---------------------------------------------------------------- survey widgets


def create_widget(
    session: Session,
    *,
    name: str,
    kind: str,
    touchpoint_kind: str = "journey_step",
    touchpoint_ref: str | None = None,
) -> tuple[SurveyWidget, str]:
    """Create a survey widget; returns it and its public token (shown once)."""
    if kind not in ("nps", "csat", "ces"):
        raise Invalid("kind must be nps, csat or ces", code="bad_kind")
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(24)
    widget = SurveyWidget(
        name=name[:200],
        kind=kind,
        touchpoint_kind=touchpoint_kind,
        touchpoint_ref=touchpoint_ref,
        prefix=prefix,
        secret_hash=_sha256_hex(secret),
    )
    session.add(widget)
    session.flush()
    return widget, f"jsw_{prefix}_{secret}"


def list_widgets(session: Session) -> Sequence[SurveyWidget]:
    return session.scalars(select(SurveyWidget).order_by(SurveyWidget.id)).all()


def widget_for_token(session: Session, *, token: str) -> SurveyWidget:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "jsw":
        raise Unauthenticated("unknown survey widget token", code="invalid_widget_token")
    widget = session.scalars(
        select(SurveyWidget).where(SurveyWidget.prefix == parts[1])
    ).one_or_none()
    if widget is None or widget.secret_hash != _sha256_hex(parts[2]) or not widget.active:
        raise Unauthenticated(
            "unknown or disabled survey widget token", code="invalid_widget_token"
        )
    return widget


def deactivate_widget(session: Session, *, widget_id: int) -> SurveyWidget:
    widget = session.get(SurveyWidget, widget_id)
    if widget is None:
        raise NotFound(f"survey widget {widget_id} does not exist")
    widget.active = False
    session.flush()
    return widget


def rollup_totals(session: Session) -> dict[str, Any]:
    """Sums over the day rollups per signal type (for checks and the admin page)."""
    rows = session.execute(
        select(Series.signal_type, func.sum(Rollup.count), func.sum(Rollup.sum))
        .join(Series, Series.id == Rollup.series_id)
        .where(Rollup.grain == "d")
        .group_by(Series.signal_type)
    )
    return {t: {"count": int(c or 0), "sum": float(s or 0.0)} for t, c, s in rows}


def latest_bucket(session: Session, *, grain: str = "h") -> datetime | None:
    """Start of the newest rollup bucket of this grain (None when nothing is stored).

    Read from the raw tables' time indexes (a few index lookups); the rollup table has no
    index on time alone, so it is scanned only when every raw row has been purged."""
    size = GRAINS[grain]
    newest = [session.scalar(select(func.max(table.c.ts_ms))) for table in TABLES.values()]
    found = [int(v) for v in newest if v is not None]
    if found:
        value: int | None = max(found) // size * size
    else:
        value = session.scalar(select(func.max(Rollup.bucket_ms)).where(Rollup.grain == grain))
    return (
        None if value is None else datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=value)
    )


def totals_by_subject(
    session: Session, *, signal_type: str, metric: str, start: datetime, end: datetime
) -> dict[str, tuple[int, float]]:
    """(count, sum) per subject over [start, end) from hourly rollups, all dimensions merged."""
    subject_of = {
        ref.id: ref.subject
        for ref in find_series(session, signal_type=signal_type, metrics=[metric])
    }
    per_series = series_totals(
        session,
        series_ids=list(subject_of),
        grain="h",
        start_ms=int(start.timestamp() * 1000),
        end_ms=int(end.timestamp() * 1000),
    )
    totals: dict[str, tuple[int, float]] = {}
    for sid, (count, total) in per_series.items():
        n, t = totals.get(subject_of[sid], (0, 0.0))
        totals[subject_of[sid]] = (n + int(count), t + total)
    return totals
