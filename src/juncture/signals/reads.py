"""Narrow reads of rollups and ticket state for other rooms (KPIs, alerts, insights).

Other rooms never query the signals tables themselves; they call these through
``juncture.signals.service``. Every read uses an index: series are found first (the series
table is small), then rollups by their primary key (series, grain, bucket), and tickets by
creation time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, bindparam, exists, func, select
from sqlalchemy.orm import Session

from juncture.catalog import service as catalog_service
from juncture.kit import clock
from juncture.kit.errors import Invalid
from juncture.signals.models import (
    Deploy,
    FunnelEvent,
    Rollup,
    Series,
    SurveyResponse,
    Ticket,
    TicketEvent,
)

_CHUNK = 900  # ids per IN list
# One expanding parameter: the statement is built (and cached) once, not per id.
_IDS: BindParameter[Any] = bindparam("ids", expanding=True)


@dataclass(frozen=True)
class SeriesRef:
    id: int
    subject: str
    metric: str
    region: str | None
    channel: str | None
    segment: str | None
    dims: Mapping[str, Any]


# Series rows never change once written (new ones are added as data arrives), so the matches
# of a query stay valid until the newest series moves: one primary-key lookup instead of a
# scan of the series table (tens of thousands of rows with ticket dimensions) per KPI read.
# The newest row's key is part of the cache key too, so a reused id (SQLite hands out
# max(id)+1 again after the newest row was deleted) cannot return stale matches.
_FOUND: dict[tuple[Any, ...], list[SeriesRef]] = {}


def find_series(
    session: Session,
    *,
    signal_type: str,
    metrics: Sequence[str],
    subjects: Sequence[str] | None = None,
    subject_prefix: str | None = None,
    region: str | None = None,
    channel: str | None = None,
    segment: str | None = None,
    with_dims: bool = False,
) -> list[SeriesRef]:
    """Series of a type and metrics, narrowed by subject (exact list or prefix) and dimensions.

    ``dims`` (a JSON object per series) is read only with ``with_dims=True``."""
    if subjects is not None and not subjects:
        return []
    key = (
        str(session.get_bind().engine.url),
        tuple(
            session.execute(
                select(Series.id, Series.series_key).order_by(Series.id.desc()).limit(1)
            ).one_or_none()
            or ()
        ),
        signal_type,
        tuple(metrics),
        None if subjects is None else tuple(sorted(subjects)),
        subject_prefix,
        region,
        channel,
        segment,
        with_dims,
    )
    found = _FOUND.get(key)
    if found is None:
        found = _find_series(key[2:], session)
        if len(_FOUND) > 2048:
            _FOUND.clear()
        _FOUND[key] = found
    return list(found)


def _find_series(args: tuple[Any, ...], session: Session) -> list[SeriesRef]:
    signal_type, metrics, subjects, subject_prefix, region, channel, segment, with_dims = args
    dims_column: Any = Series.dims if with_dims else Series.id
    stmt = select(
        Series.id,
        Series.subject,
        Series.metric,
        Series.region,
        Series.channel,
        Series.segment,
        dims_column,
    ).where(Series.signal_type == signal_type, Series.metric.in_(list(metrics)))
    if subjects is not None:
        stmt = stmt.where(Series.subject.in_(list(subjects)))
    if subject_prefix is not None:
        stmt = stmt.where(Series.subject.startswith(subject_prefix, autoescape=True))
    for column, value in (
        (Series.region, region),
        (Series.channel, channel),
        (Series.segment, segment),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return [
        SeriesRef(int(r[0]), r[1], r[2], r[3], r[4], r[5], (r[6] or {}) if with_dims else {})
        for r in session.execute(stmt)
    ]


def rollup_rows(
    session: Session,
    *,
    series_ids: Sequence[int],
    grain: str,
    start_ms: int,
    end_ms: int,
    sketches: bool = False,
) -> Iterator[tuple[Any, ...]]:
    """``(series_id, bucket_ms, count, sum, sumsq)`` per stored bucket in [start, end), or
    ``(series_id, bucket_ms, sketch_text)`` with ``sketches=True``."""
    if grain not in ("m", "h", "d"):
        raise Invalid("grain must be m, h or d", code="bad_grain")
    ids = sorted(series_ids)
    columns: tuple[Any, ...] = (
        (Rollup.sketch,) if sketches else (Rollup.count, Rollup.sum, Rollup.sumsq)
    )
    for i in range(0, len(ids), _CHUNK):
        stmt = select(Rollup.series_id, Rollup.bucket_ms, *columns).where(
            Rollup.series_id.in_(_IDS),
            Rollup.grain == grain,
            Rollup.bucket_ms >= start_ms,
            Rollup.bucket_ms < end_ms,
        )
        yield from session.connection().execute(stmt, {"ids": ids[i : i + _CHUNK]}).all()


def rollup_sums(
    session: Session,
    *,
    groups: Mapping[str, Sequence[int]],
    grain: str,
    start_ms: int,
    end_ms: int,
) -> list[tuple[str, int, float, float, float]]:
    """``(label, bucket_ms, count, sum, sumsq)`` summed in SQL over each group of series.

    One grouped query per label (and per 900 ids): the database adds the buckets up, so only
    one row per label and bucket comes back. (A single query mapping series to labels with a
    CASE was measured slower on both engines.)"""
    if grain not in ("m", "h", "d"):
        raise Invalid("grain must be m, h or d", code="bad_grain")
    out: list[tuple[str, int, float, float, float]] = []
    for label, series_ids in groups.items():
        ids = sorted(series_ids)
        for i in range(0, len(ids), _CHUNK):
            stmt = (
                select(
                    Rollup.bucket_ms,
                    func.sum(Rollup.count),
                    func.sum(Rollup.sum),
                    func.sum(Rollup.sumsq),
                )
                .where(
                    Rollup.series_id.in_(_IDS),
                    Rollup.grain == grain,
                    Rollup.bucket_ms >= start_ms,
                    Rollup.bucket_ms < end_ms,
                )
                .group_by(Rollup.bucket_ms)
            )
            out.extend(
                (label, int(b), float(n or 0), float(t or 0.0), float(tt or 0.0))
                for b, n, t, tt in session.connection()
                .execute(stmt, {"ids": ids[i : i + _CHUNK]})
                .all()
            )
    return out


def series_totals(
    session: Session, *, series_ids: Sequence[int], grain: str, start_ms: int, end_ms: int
) -> dict[int, tuple[float, float]]:
    """(count, sum) per series over [start, end): one row per series comes back."""
    if grain not in ("m", "h", "d"):
        raise Invalid("grain must be m, h or d", code="bad_grain")
    ids = sorted(series_ids)
    out: dict[int, tuple[float, float]] = {}
    for i in range(0, len(ids), _CHUNK):
        stmt = (
            select(Rollup.series_id, func.sum(Rollup.count), func.sum(Rollup.sum))
            .where(
                Rollup.series_id.in_(_IDS),
                Rollup.grain == grain,
                Rollup.bucket_ms >= start_ms,
                Rollup.bucket_ms < end_ms,
            )
            .group_by(Rollup.series_id)
        )
        for sid, n, t in session.connection().execute(stmt, {"ids": ids[i : i + _CHUNK]}):
            out[int(sid)] = (float(n or 0), float(t or 0.0))
    return out


#: Ticket state columns other rooms may read (the ticket's current, event-time state).
TICKET_COLUMNS = frozenset(
    {
        "ref", "status", "created_ms", "first_response_ms", "resolved_ms", "last_event_ms",
        "team", "agent_id", "channel", "priority", "category", "customer_id", "region",
        "segment", "service", "field_ms", "reopen_count", "reassign_count", "reply_count",
    }
)  # fmt: skip


def ticket_cohort(
    session: Session,
    *,
    start_ms: int,
    end_ms: int,
    columns: Sequence[str],
    filters: Mapping[str, str] | None = None,
    repeat_within_ms: int | None = None,
) -> list[tuple[Any, ...]]:
    """Tickets created in [start, end): ``created_ms`` followed by the requested columns.

    ``filters`` are equality filters on ticket columns (team, region, channel, ...). With
    ``repeat_within_ms`` a last column says whether the same customer created another ticket
    in that long before this one (an index probe per ticket, in the database)."""
    unknown = [c for c in [*columns, *(filters or {})] if c not in TICKET_COLUMNS]
    if unknown:
        raise Invalid(f"unknown ticket columns {unknown}", code="bad_column")
    table = Ticket.__table__
    extra: list[Any] = []
    if repeat_within_ms is not None:
        earlier = Ticket.__table__.alias("earlier")
        extra.append(
            exists()
            .where(
                earlier.c.customer_id == table.c.customer_id,
                earlier.c.created_ms >= table.c.created_ms - repeat_within_ms,
                earlier.c.created_ms < table.c.created_ms,
            )
            .label("repeat")
        )
    stmt = select(table.c.created_ms, *(table.c[c] for c in columns), *extra).where(
        table.c.created_ms >= start_ms, table.c.created_ms < end_ms
    )
    for name, value in (filters or {}).items():
        stmt = stmt.where(table.c[name] == value)
    return [tuple(r) for r in session.connection().execute(stmt)]


def ticket_counts(
    session: Session,
    *,
    start_ms: int,
    end_ms: int,
    bucket_ms: int | None,
    offset_ms: int = 0,
    filters: Mapping[str, str] | None = None,
    group_by: str | None = None,
) -> list[tuple[str | None, int | None, int]]:
    """Tickets created in [start, end) counted in the database: ``(group, bucket start, n)``.

    Buckets start at multiples of ``bucket_ms`` shifted by ``offset_ms`` (e.g. Mondays for
    weeks); ``bucket_ms=None`` counts the whole window."""
    unknown = [
        c for c in [*(filters or {}), *([group_by] if group_by else [])] if c not in TICKET_COLUMNS
    ]
    if unknown:
        raise Invalid(f"unknown ticket columns {unknown}", code="bad_column")
    table = Ticket.__table__
    cols: list[Any] = []
    if group_by is not None:
        cols.append(table.c[group_by])
    if bucket_ms is not None:
        created = table.c.created_ms
        cols.append((created - (created - offset_ms) % bucket_ms).label("bucket"))
    stmt = select(*cols, func.count()).where(
        table.c.created_ms >= start_ms, table.c.created_ms < end_ms
    )
    for name, value in (filters or {}).items():
        stmt = stmt.where(table.c[name] == value)
    if cols:
        stmt = stmt.group_by(*cols)
    out: list[tuple[str | None, int | None, int]] = []
    for row in session.connection().execute(stmt).all():
        group = row[0] if group_by is not None else None
        bucket = int(row[-2]) if bucket_ms is not None else None
        out.append((group, bucket, int(row[-1])))
    return out


@dataclass(frozen=True)
class DeployRow:
    """One recorded deploy: when (UTC), where, which version, by whom, for which change."""

    ts: datetime
    service: str
    version: str
    actor: str
    change_id: str | None
    region: str | None
    status: str
    key: str


def deploys_between(
    session: Session, *, services: Sequence[str], start: datetime, end: datetime
) -> list[DeployRow]:
    """Deploys of the services (slugs) in [start, end), oldest first.

    Parameters
    ----------
    session : Session
        Open session.
    services : Sequence[str]
        Service slugs; an empty sequence (or only unknown slugs) returns nothing.
    start, end : datetime
        Aware UTC bounds of the window.

    Returns
    -------
    list[DeployRow]
        The deploys, ordered by time.
    """
    ids = catalog_service.slug_ids(session)[0] if services else {}
    slug_of = {ids[s]: s for s in services if s in ids}
    if not slug_of:
        return []
    stmt = (
        select(
            Deploy.ts_ms,
            Deploy.service_id,
            Deploy.version,
            Deploy.actor,
            Deploy.change_id,
            Deploy.region,
            Deploy.status,
            Deploy.key,
        )
        .where(
            Deploy.service_id.in_(list(slug_of)),
            Deploy.ts_ms >= clock.to_ms(start),
            Deploy.ts_ms < clock.to_ms(end),
        )
        .order_by(Deploy.ts_ms, Deploy.id)
    )
    return [
        DeployRow(clock.from_ms(r[0]), slug_of[r[1]], r[2], r[3], r[4], r[5], r[6], r[7])
        for r in session.execute(stmt)
    ]


# ---------------------------------------------------------------- customer-impact reads


@dataclass(frozen=True)
class FunnelSession:
    """One funnel session, told by its raw events: where it started and how far it got.

    ``reached`` counts the journey's steps reached in order from the entry step (1: only the
    entry step); ``step_ms`` holds when each of them was reached; ``value`` is the sum of the
    values the session's events carried (the order value on a purchase's last step)."""

    session_id: str
    journey: str
    started_ms: int
    customer_id: str | None
    region: str | None
    channel: str | None
    segment: str | None
    reached: int
    step_ms: tuple[int, ...]
    value: float | None


def _journey_steps(session: Session, journeys: Sequence[str] | None) -> dict[int, tuple[str, int]]:
    """Step id -> (journey slug, 0-based index of the step in its journey)."""
    out: dict[int, tuple[str, int]] = {}
    for journey in catalog_service.list_journeys(session):
        if journeys is not None and journey.slug not in journeys:
            continue
        for index, step in enumerate(sorted(journey.steps, key=lambda s: s.position)):
            out[step.id] = (journey.slug, index)
    return out


def funnel_sessions(
    session: Session,
    *,
    journeys: Sequence[str] | None,
    regions: Sequence[str] | None,
    start: datetime,
    end: datetime,
    span: timedelta = timedelta(hours=2),
) -> list[FunnelSession]:
    """Funnel sessions whose entry step happened in [start, end), with the steps they reached.

    Parameters
    ----------
    session : Session
        Open session.
    journeys : Sequence[str] or None
        Journey slugs (None: all journeys).
    regions : Sequence[str] or None
        Region slugs (None: all regions, including events without a region).
    start, end : datetime
        Aware UTC bounds on the session's start (the time of its entry-step event).
    span : timedelta
        How long after ``end`` later steps of those sessions are still read.

    Returns
    -------
    list[FunnelSession]
        The sessions in order of start. Reads ``signal_funnel`` through its (step, time) index.
    """
    steps = _journey_steps(session, journeys)
    if not steps or (regions is not None and not regions):
        return []
    t = FunnelEvent.__table__
    stmt = select(
        t.c.session_id,
        t.c.step_id,
        t.c.ts_ms,
        t.c.customer_id,
        t.c.region,
        t.c.channel,
        t.c.segment,
        t.c.value,
    ).where(
        t.c.step_id.in_(list(steps)),
        t.c.ts_ms >= clock.to_ms(start),
        t.c.ts_ms < clock.to_ms(end + span),
    )
    if regions is not None:
        stmt = stmt.where(t.c.region.in_(list(regions)))
    lo, hi = clock.to_ms(start), clock.to_ms(end)
    first: dict[tuple[str, str], tuple[Any, ...]] = {}
    later: dict[tuple[str, str], dict[int, int]] = {}
    values: dict[tuple[str, str], float] = {}
    for sid, step_id, ts, customer, region, channel, segment, value in session.connection().execute(
        stmt
    ):
        journey, index = steps[step_id]
        key = (sid, journey)
        if index == 0:
            if lo <= ts < hi:
                first[key] = (ts, customer, region, channel, segment)
        else:
            later.setdefault(key, {})[index] = ts
        if value is not None:
            values[key] = values.get(key, 0.0) + float(value)
    out: list[FunnelSession] = []
    for key, (ts, customer, region, channel, segment) in first.items():
        reached_at = [int(ts)]
        seen = later.get(key, {})
        while len(reached_at) in seen:
            reached_at.append(seen[len(reached_at)])
        out.append(
            FunnelSession(
                session_id=key[0],
                journey=key[1],
                started_ms=int(ts),
                customer_id=customer,
                region=region,
                channel=channel,
                segment=segment,
                reached=len(reached_at),
                step_ms=tuple(reached_at),
                value=values.get(key),
            )
        )
    out.sort(key=lambda s: (s.started_ms, s.session_id))
    return out


@dataclass(frozen=True)
class StepCount:
    """Funnel events of one step in a window, in one group of dimensions."""

    journey: str
    step: int  # 0-based index of the step in its journey
    dims: tuple[str | None, ...]
    count: int
    value_sum: float


_FUNNEL_DIMS = ("region", "channel", "segment", "device")


def funnel_step_counts(
    session: Session,
    *,
    journeys: Sequence[str] | None,
    regions: Sequence[str] | None,
    windows: Sequence[tuple[datetime, datetime]],
    by: Sequence[str] = (),
) -> list[StepCount]:
    """Funnel events per journey step (and per ``by`` dimensions) over several windows.

    Counted in the database through the (step, time) index; events are counted by their own
    time, so a session crossing a window's edge counts on one side only (negligible over
    baselines of days).

    Parameters
    ----------
    session : Session
        Open session.
    journeys, regions : Sequence[str] or None
        Slugs to keep (None: all).
    windows : Sequence[tuple[datetime, datetime]]
        [start, end) windows; their counts are added up.
    by : Sequence[str]
        Dimensions among region, channel, segment, device.

    Returns
    -------
    list[StepCount]
        One row per (journey, step, dims) seen.
    """
    unknown = [d for d in by if d not in _FUNNEL_DIMS]
    if unknown:
        raise Invalid(f"unknown funnel dimensions {unknown}", code="bad_column")
    steps = _journey_steps(session, journeys)
    if not steps or (regions is not None and not regions):
        return []
    t = FunnelEvent.__table__
    dims = [t.c[d] for d in by]
    totals: dict[tuple[int, tuple[Any, ...]], list[float]] = {}
    for start, end in windows:
        if end <= start:
            continue
        stmt = (
            select(t.c.step_id, *dims, func.count(), func.sum(t.c.value))
            .where(
                t.c.step_id.in_(list(steps)),
                t.c.ts_ms >= clock.to_ms(start),
                t.c.ts_ms < clock.to_ms(end),
            )
            .group_by(t.c.step_id, *dims)
        )
        if regions is not None:
            stmt = stmt.where(t.c.region.in_(list(regions)))
        for row in session.connection().execute(stmt):
            acc = totals.setdefault((int(row[0]), tuple(row[1 : 1 + len(by)])), [0, 0.0])
            acc[0] += int(row[-2])
            acc[1] += float(row[-1] or 0.0)
    return [
        StepCount(steps[sid][0], steps[sid][1], key, int(n), float(v))
        for (sid, key), (n, v) in sorted(
            totals.items(), key=lambda kv: (steps[kv[0][0]], str(kv[0][1]))
        )
    ]


@dataclass(frozen=True)
class TicketRow:
    """A ticket's derived state, as the incidents room needs it."""

    ref: str
    created_ms: int
    first_response_ms: int | None
    resolved_ms: int | None
    category: str | None
    customer_id: str | None
    region: str | None
    segment: str | None
    service: str | None
    channel: str | None
    priority: str | None


def tickets_created(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    regions: Sequence[str] | None = None,
    services: Sequence[str] | None = None,
    refs: Sequence[str] | None = None,
) -> list[TicketRow]:
    """Tickets created in [start, end), optionally only in some regions, services or refs.

    Reads the ``tickets`` state table through its creation-time index; oldest first."""
    t = Ticket.__table__
    stmt = (
        select(
            t.c.ref,
            t.c.created_ms,
            t.c.first_response_ms,
            t.c.resolved_ms,
            t.c.category,
            t.c.customer_id,
            t.c.region,
            t.c.segment,
            t.c.service,
            t.c.channel,
            t.c.priority,
        )
        .where(t.c.created_ms >= clock.to_ms(start), t.c.created_ms < clock.to_ms(end))
        .order_by(t.c.created_ms, t.c.ref)
    )
    if regions is not None:
        stmt = stmt.where(t.c.region.in_(list(regions)))
    if services is not None:
        stmt = stmt.where(t.c.service.in_(list(services)))
    if refs is not None:
        stmt = stmt.where(t.c.ref.in_(list(refs)))
    return [TicketRow(*row) for row in session.connection().execute(stmt)]


def count_tickets(
    session: Session,
    *,
    windows: Sequence[tuple[datetime, datetime]],
    regions: Sequence[str] | None = None,
    services: Sequence[str] | None = None,
) -> int:
    """Tickets created in any of the [start, end) windows (counted in the database)."""
    t = Ticket.__table__
    total = 0
    for start, end in windows:
        if end <= start:
            continue
        stmt = select(func.count()).where(
            t.c.created_ms >= clock.to_ms(start), t.c.created_ms < clock.to_ms(end)
        )
        if regions is not None:
            stmt = stmt.where(t.c.region.in_(list(regions)))
        if services is not None:
            stmt = stmt.where(t.c.service.in_(list(services)))
        total += int(session.connection().execute(stmt).scalar_one())
    return total


def ticket_opening_texts(session: Session, *, refs: Sequence[str]) -> dict[str, str]:
    """The text of each ticket's first customer-written event (ref -> text; redacted on ingest).

    Reads ``signal_ticket_events`` through its (ticket, time) index in chunks of refs."""
    out: dict[str, str] = {}
    t = TicketEvent.__table__
    stmt = (
        select(t.c.ticket_ref, t.c.ts_ms, t.c.text)
        .where(t.c.ticket_ref.in_(_IDS), t.c.actor_kind == "customer", t.c.text.is_not(None))
        .order_by(t.c.ticket_ref, t.c.ts_ms, t.c.id)
    )
    unique = sorted(set(refs))
    for i in range(0, len(unique), _CHUNK):
        for ref, _ts, text in session.connection().execute(stmt, {"ids": unique[i : i + _CHUNK]}):
            out.setdefault(ref, text)
    return out


@dataclass(frozen=True)
class SurveyRow:
    """One survey answer: who, when, which kind (csat, nps, ces), the score and the comment."""

    ts_ms: int
    kind: str
    score: int
    customer_id: str | None
    region: str | None
    comment: str | None


def survey_responses(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    kinds: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
) -> list[SurveyRow]:
    """Survey answers received in [start, end) (time index), optionally of some kinds/regions."""
    t = SurveyResponse.__table__
    stmt = (
        select(t.c.ts_ms, t.c.kind, t.c.score, t.c.customer_id, t.c.region, t.c.comment)
        .where(t.c.ts_ms >= clock.to_ms(start), t.c.ts_ms < clock.to_ms(end))
        .order_by(t.c.ts_ms, t.c.id)
    )
    if kinds is not None:
        stmt = stmt.where(t.c.kind.in_(list(kinds)))
    if regions is not None:
        stmt = stmt.where(t.c.region.in_(list(regions)))
    return [SurveyRow(*row) for row in session.connection().execute(stmt)]
