"""KPI computation: sufficient statistics per (group, bucket), read from rollups or ticket state.

Every KPI is computed in two steps. A *fetch* reads the smallest stored summaries that answer it
(SQL sums over rollups, score histograms decoded from rollup sketches, or a handful of columns
of the incrementally maintained ticket state) and returns ``(label, bucket, stat)`` cells. A
*reduce* merges cells and turns a statistic into a value with its interval, using the pure
functions of :mod:`juncture.analytics.kpimath`. The same cells answer a single value, a series,
a period comparison and a consistency ranking, so the four always agree.

Raw event tables are never read here.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np
import orjson
from sqlalchemy.orm import Session

from juncture.analytics import kpimath
from juncture.kit.clock import from_ms as from_ms  # noqa: PLC0414 - the module's own API
from juncture.kit.clock import to_ms as to_ms  # noqa: PLC0414
from juncture.kit.errors import Invalid
from juncture.signals import service as signals_service
from juncture.signals import sketch

Bucket = Literal["hour", "day", "week"]
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
# 1970-01-01 was a Thursday: ISO weeks start three days later.
_MONDAY_OFFSET_MS = 4 * DAY_MS


def bucket_of(ts_ms: int, bucket: Bucket | None) -> int | None:
    if bucket is None:
        return None
    if bucket == "hour":
        return ts_ms - ts_ms % HOUR_MS
    if bucket == "day":
        return ts_ms - ts_ms % DAY_MS
    return ts_ms - (ts_ms - _MONDAY_OFFSET_MS) % WEEK_MS


_STEP_MS = {"hour": HOUR_MS, "day": DAY_MS, "week": WEEK_MS}


# ---------------------------------------------------------------- results and statistics


@dataclass(frozen=True)
class Result:
    """A KPI value with its interval (``None`` where undefined) and the sample size behind it."""

    value: float | None
    low: float | None = None
    high: float | None = None
    n: int = 0


def _f(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


EMPTY = Result(None, None, None, 0)


@dataclass
class Hist:
    """Counts of integer scores ``low..low+len-1`` (survey answers, review ratings)."""

    low: int
    counts: np.ndarray

    def add(self, other: Hist) -> Hist:
        return Hist(self.low, self.counts + other.counts)

    @property
    def n(self) -> int:
        return int(self.counts.sum())


@dataclass
class Ratio:
    """Successes out of trials, or a numerator over a denominator."""

    successes: float
    n: float

    def add(self, other: Ratio) -> Ratio:
        return Ratio(self.successes + other.successes, self.n + other.n)


@dataclass
class Mom:
    """Count, sum and sum of squares (a mean and its variance)."""

    n: float
    total: float
    total_sq: float

    def add(self, other: Mom) -> Mom:
        return Mom(self.n + other.n, self.total + other.total, self.total_sq + other.total_sq)

    def moments(self) -> kpimath.Moments:
        return kpimath.Moments(self.n, self.total, self.total_sq)


@dataclass
class Values:
    """Raw values (durations in hours), for medians and percentiles."""

    parts: list[np.ndarray] = field(default_factory=list)

    def add(self, other: Values) -> Values:
        return Values(self.parts + other.parts)

    def array(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.empty(0)


@dataclass
class Budget:
    """Per service: availability moments and the service's SLO target (fraction)."""

    per: dict[str, tuple[float, float, float]]  # service -> (n, sum of availability, target)

    def add(self, other: Budget) -> Budget:
        merged = dict(self.per)
        for k, (n, s, t) in other.per.items():
            if k in merged:
                n0, s0, _ = merged[k]
                merged[k] = (n0 + n, s0 + s, t)
            else:
                merged[k] = (n, s, t)
        return Budget(merged)


Stat = Hist | Ratio | Mom | Values | Budget
Cell = tuple[str, int | None, Stat]


def merge_cells(
    cells: Iterable[Cell], *, by_label: bool, by_bucket: bool
) -> dict[tuple[str, int | None], Stat]:
    out: dict[tuple[str, int | None], Any] = {}
    for label, bucket, stat in cells:
        key = (label if by_label else "all", bucket if by_bucket else None)
        prev = out.get(key)
        out[key] = stat if prev is None else prev.add(stat)
    return out


# ---------------------------------------------------------------- query


@dataclass(frozen=True)
class Query:
    """What to compute: a half-open window, a bucket size, an optional group and filters."""

    start_ms: int
    end_ms: int
    bucket: Bucket | None = None
    group_by: str | None = None
    filters: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    """What the fetches need to know about the catalog and the settings."""

    order_step: str  # "journey/step"
    team_calendars: Mapping[str, kpimath.BusinessCalendar]  # team slug -> calendar
    default_calendar: kpimath.BusinessCalendar
    service_targets: Mapping[str, float]  # service slug -> SLO target (fraction)
    journey_steps: Mapping[str, list[str]]  # journey slug -> step slugs in order
    service_journeys: Mapping[str, list[str]]  # service slug -> "journey/step" subjects


# ---------------------------------------------------------------- rollup reads


def _spans(start_ms: int, end_ms: int, bucket: Bucket | None) -> list[tuple[str, int, int]]:
    """Rollup grains covering [start, end): whole days from day rollups, the edges from hours."""
    if bucket == "hour":
        return [("h", start_ms, end_ms)]
    first_day = -(-start_ms // DAY_MS) * DAY_MS
    last_day = end_ms // DAY_MS * DAY_MS
    if first_day >= last_day:
        return [("h", start_ms, end_ms)]
    spans = [("d", first_day, last_day)]
    if start_ms < first_day:
        spans.append(("h", start_ms, first_day))
    if last_day < end_ms:
        spans.append(("h", last_day, end_ms))
    return spans


_SERIES_SLICES = {
    "region": "region",
    "location": "region",
    "channel": "channel",
    "segment": "segment",
}


@dataclass
class RollupSpec:
    """Which series a KPI reads: a signal type, its metrics, and how slices map onto series."""

    signal_type: str
    metrics: tuple[str, ...]
    subject_slice: str | None  # the slice stored as the series subject (service, team, journey)
    slices: tuple[str, ...]  # slices that map onto series dimensions


def _series_args(spec: RollupSpec, filters: Mapping[str, str], ctx: Context) -> dict[str, Any]:
    args: dict[str, Any] = {}
    subjects: set[str] | None = None

    def narrow(values: Iterable[str]) -> None:
        nonlocal subjects
        subjects = set(values) if subjects is None else subjects & set(values)

    funnel = spec.signal_type == "funnel"
    for name, value in filters.items():
        if name in _SERIES_SLICES and name in spec.slices:
            args[_SERIES_SLICES[name]] = value
        elif funnel and name == "journey":
            args["subject_prefix"] = f"{value}/"
        elif funnel and name == "step":
            narrow([value])
        elif funnel and name == "service":
            narrow(ctx.service_journeys.get(value, []))
        elif name == spec.subject_slice:
            narrow([value])
        else:
            raise Invalid(f"this KPI cannot be filtered by '{name}'", code="bad_filter")
    if subjects is not None:
        args["subjects"] = sorted(subjects)
    return args


def _label_of(spec: RollupSpec, group_by: str | None) -> Callable[[Any], str]:
    if group_by is None:
        return lambda ref: "all"
    if group_by in _SERIES_SLICES and group_by in spec.slices:
        attr = _SERIES_SLICES[group_by]
        return lambda ref: str(getattr(ref, attr) or "unknown")
    if spec.signal_type == "funnel" and group_by == "journey":
        return lambda ref: str(ref.subject).split("/", 1)[0]
    if group_by == spec.subject_slice or (group_by == "step" and spec.signal_type == "funnel"):
        return lambda ref: str(ref.subject)
    raise Invalid(f"this KPI cannot be grouped by '{group_by}'", code="bad_group_by")


def _matching_series(
    session: Session,
    spec: RollupSpec,
    q: Query,
    ctx: Context,
    *,
    by_subject: bool = False,
    by_id: bool = False,
    subjects: Sequence[str] | None = None,
    tag: Callable[[Any], str] | None = None,
) -> dict[int, str]:
    """Series id -> label of every series that matches the KPI, its filters and its group."""
    label = _label_of(spec, q.group_by)
    args = _series_args(spec, q.filters, ctx)
    if subjects is not None:
        known = args.get("subjects")
        args["subjects"] = sorted(set(subjects) & set(known) if known is not None else subjects)
    refs = signals_service.find_series(
        session, signal_type=spec.signal_type, metrics=spec.metrics, **args
    )
    out: dict[int, str] = {}
    for ref in refs:
        text = label(ref)
        if by_subject:
            text = f"{text}\x00{ref.subject}"
        if by_id:
            text = f"{text}\x00{ref.id}"
        if tag is not None:
            text = f"{text}\x00{tag(ref)}"
        out[ref.id] = text
    return out


def series_dims(session: Session, spec: RollupSpec) -> dict[int, Mapping[str, Any]]:
    refs = signals_service.find_series(
        session, signal_type=spec.signal_type, metrics=spec.metrics, with_dims=True
    )
    return {ref.id: ref.dims for ref in refs}


def rollup_sums(
    session: Session,
    spec: RollupSpec,
    q: Query,
    ctx: Context,
    *,
    by_subject: bool = False,
    by_id: bool = False,
    hourly: bool = False,
    subjects: Sequence[str] | None = None,
    tag: Callable[[Any], str] | None = None,
) -> list[tuple[str, int, float, float, float]]:
    """(label, rollup bucket start, count, sum, sumsq) summed per label and rollup bucket.

    With ``by_subject`` / ``by_id`` the series subject / id is appended to the label after a
    NUL character."""
    series = _matching_series(
        session, spec, q, ctx, by_subject=by_subject, by_id=by_id, subjects=subjects, tag=tag
    )
    if not series:
        return []
    groups: dict[str, list[int]] = {}
    for sid, label in series.items():
        groups.setdefault(label, []).append(sid)
    spans = [("h", q.start_ms, q.end_ms)] if hourly else _spans(q.start_ms, q.end_ms, q.bucket)
    out: list[tuple[str, int, float, float, float]] = []
    for grain, lo, hi in spans:
        out.extend(
            signals_service.rollup_sums(session, groups=groups, grain=grain, start_ms=lo, end_ms=hi)
        )
    return out


def rollup_hists(
    session: Session, spec: RollupSpec, q: Query, ctx: Context, *, low: int, high: int
) -> list[Cell]:
    """Score histograms decoded from rollup sketches (integer scores are exact bins)."""
    series = _matching_series(session, spec, q, ctx)
    if not series:
        return []
    ids = sorted(series)
    size = high - low + 1
    cells: dict[tuple[str, int | None], np.ndarray] = {}
    for grain, lo, hi in _spans(q.start_ms, q.end_ms, q.bucket):
        for sid, bucket_ms, text in signals_service.rollup_rows(
            session, series_ids=ids, grain=grain, start_ms=lo, end_ms=hi, sketches=True
        ):
            key = (series[sid], bucket_of(int(bucket_ms), q.bucket))
            acc = cells.get(key)
            if acc is None:
                acc = cells[key] = np.zeros(size, dtype=np.int64)
            _add_scores(acc, text, low, high)
    return [(label, bucket, Hist(low, counts)) for (label, bucket), counts in cells.items()]


def _add_scores(acc: np.ndarray, text: str, low: int, high: int) -> None:
    for i, n in _scores(text, low, high):
        acc[i] += n


@functools.lru_cache(maxsize=65_536)
def _scores(text: str, low: int, high: int) -> tuple[tuple[int, int], ...]:
    """(score - low, count) pairs of one stored sketch. Hourly survey sketches repeat a lot
    (one or two answers each), so each distinct text is decoded once per process."""
    bins = sketch.loads(text)
    out: dict[int, int] = {}
    zero = int(bins.get("z") or 0)
    if zero and low <= 0 <= high:
        out[-low] = zero
    for k, count in bins["p"].items():
        score = round(sketch.bin_value(int(k)))
        if low <= score <= high:
            out[score - low] = out.get(score - low, 0) + int(count)
    return tuple(out.items())


# ---------------------------------------------------------------- ticket state reads


_TICKET_SLICES = {
    "team": "team",
    "service": "service",
    "region": "region",
    "location": "region",
    "channel": "channel",
    "segment": "segment",
    "priority": "priority",
    "category": "category",
}


def _ticket_slices(q: Query) -> tuple[dict[str, str], str | None]:
    """Ticket columns for the query's filters, and the column of its group (if any)."""
    filters: dict[str, str] = {}
    for name, value in q.filters.items():
        column = _TICKET_SLICES.get(name)
        if column is None:
            raise Invalid(f"this KPI cannot be filtered by '{name}'", code="bad_filter")
        filters[column] = value
    group: str | None = None
    if q.group_by is not None:
        group = _TICKET_SLICES.get(q.group_by)
        if group is None:
            raise Invalid(f"this KPI cannot be grouped by '{q.group_by}'", code="bad_group_by")
    return filters, group


def ticket_rows(
    session: Session, q: Query, columns: Sequence[str], *, repeat_within_ms: int | None = None
) -> tuple[list[Any], list[str]]:
    """Tickets created in the window (the cohort): ``created_ms`` then the requested columns,
    and each ticket's group label."""
    filters, label_column = _ticket_slices(q)
    wanted = [*columns, label_column] if label_column is not None else list(columns)
    rows = signals_service.ticket_cohort(
        session,
        start_ms=q.start_ms,
        end_ms=q.end_ms,
        columns=wanted,
        filters=filters,
        repeat_within_ms=repeat_within_ms,
    )
    at = 1 + len(columns)  # created_ms, the columns, then the label
    labels = (
        [("unknown" if r[at] is None else str(r[at])) for r in rows]
        if label_column is not None
        else ["all"] * len(rows)
    )
    return rows, labels


def _group_mask(
    labels: list[str], created: np.ndarray, bucket: Bucket | None
) -> dict[tuple[str, int | None], np.ndarray]:
    groups: dict[tuple[str, int | None], list[int]] = {}
    for i, (label, ts) in enumerate(zip(labels, created.tolist(), strict=True)):
        groups.setdefault((label, bucket_of(int(ts), bucket)), []).append(i)
    return {k: np.asarray(v, dtype=np.int64) for k, v in groups.items()}


def ticket_counts(session: Session, q: Query) -> list[tuple[str, int | None, float]]:
    """Tickets created per (label, bucket), counted in the database."""
    filters, group = _ticket_slices(q)
    size = {"hour": HOUR_MS, "day": DAY_MS, "week": WEEK_MS, None: None}[q.bucket]
    rows = signals_service.ticket_counts(
        session,
        start_ms=q.start_ms,
        end_ms=q.end_ms,
        bucket_ms=size,
        offset_ms=_MONDAY_OFFSET_MS if q.bucket == "week" else 0,
        filters=filters,
        group_by=group,
    )
    return [
        ("all" if group is None else ("unknown" if g is None else str(g)), b, float(n))
        for g, b, n in rows
    ]


def ticket_ratio_cells(
    session: Session,
    q: Query,
    columns: Sequence[str],
    rule: Callable[[list[Any]], tuple[np.ndarray, np.ndarray]],
) -> list[Cell]:
    """Cells of successes / trials per ticket: ``rule(rows)`` returns (success, counted) masks."""
    rows, labels = ticket_rows(session, q, columns)
    if not rows:
        return []
    created = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    success, counted = rule(rows)
    cells: list[Cell] = []
    for (label, bucket), idx in _group_mask(labels, created, q.bucket).items():
        cells.append((label, bucket, Ratio(float(success[idx].sum()), float(counted[idx].sum()))))
    return cells


def _nullable(rows: list[Any], i: int) -> np.ndarray:
    return np.array([np.nan if r[i] is None else float(r[i]) for r in rows], dtype=np.float64)


def frt_cells(session: Session, q: Query, ctx: Context) -> list[Cell]:
    """Business minutes from creation to the first agent reply, per the owning team's calendar."""
    rows, labels = ticket_rows(session, q, ["first_response_ms", "team"])
    if not rows:
        return []
    created = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    first = _nullable(rows, 1)
    hours = np.full(len(rows), np.nan)
    teams = np.array([r[2] or "" for r in rows], dtype=object)
    answered = np.isfinite(first)
    for team in set(teams[answered].tolist()):
        mask = answered & (teams == team)
        calendar = ctx.team_calendars.get(team, ctx.default_calendar)
        secs = kpimath.business_seconds(
            created[mask].astype("datetime64[ms]"),
            first[mask].astype(np.int64).astype("datetime64[ms]"),
            calendar,
        )
        hours[mask] = np.maximum(secs, 0.0) / 60.0  # minutes
    return _value_cells(labels, created, hours, q.bucket)


def ttr_cells(session: Session, q: Query) -> list[Cell]:
    rows, labels = ticket_rows(session, q, ["resolved_ms"])
    if not rows:
        return []
    created = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    resolved = _nullable(rows, 1)
    hours = np.maximum(resolved - created, 0.0) / 3_600_000.0
    return _value_cells(labels, created, hours, q.bucket)


def _value_cells(
    labels: list[str], created: np.ndarray, values: np.ndarray, bucket: Bucket | None
) -> list[Cell]:
    cells: list[Cell] = []
    for (label, b), idx in _group_mask(labels, created, bucket).items():
        v = values[idx]
        cells.append((label, b, Values([v[np.isfinite(v)]])))
    return cells


RESOLVED = ("solved", "closed")


def repeat_cells(session: Session, q: Query) -> list[Cell]:
    """Tickets whose customer opened another ticket in the 7 days before (any team)."""
    rows, labels = ticket_rows(session, q, ["customer_id"], repeat_within_ms=7 * DAY_MS)
    counts: dict[tuple[str, int | None], list[float]] = {}
    for row, label in zip(rows, labels, strict=True):
        if not row[1]:
            continue  # no known customer: not counted
        cell = counts.setdefault((label, bucket_of(int(row[0]), q.bucket)), [0.0, 0.0])
        cell[0] += 1.0 if row[-1] else 0.0  # the repeat flag comes last
        cell[1] += 1.0
    return [(label, b, Ratio(s, n)) for (label, b), (s, n) in counts.items()]


def escalation_cells(session: Session, q: Query, ctx: Context) -> list[Cell]:
    """Tickets whose priority was raised to high or urgent after creation, of all tickets.

    Only the high/urgent tickets' field timestamps are read (a JSON object per ticket)."""
    rows, labels = ticket_rows(session, q, [])
    counts: dict[tuple[str, int | None], list[float]] = {}
    for row, label in zip(rows, labels, strict=True):
        key = (label, bucket_of(int(row[0]), q.bucket))
        counts.setdefault(key, [0.0, 0.0])[1] += 1.0
    wanted = q.filters.get("priority")
    for priority in [p for p in ("high", "urgent") if wanted in (None, p)]:
        filtered = Query(
            q.start_ms, q.end_ms, q.bucket, q.group_by, {**q.filters, "priority": priority}
        )
        hot, hot_labels = ticket_rows(session, filtered, ["field_ms"])
        for row, label in zip(hot, hot_labels, strict=True):
            stamps = row[1] if isinstance(row[1], dict) else orjson.loads(row[1] or "{}")
            set_at = stamps.get("priority")
            if set_at is not None and int(set_at) > int(row[0]):
                counts[(label, bucket_of(int(row[0]), q.bucket))][0] += 1.0
    return [(label, b, Ratio(s, n)) for (label, b), (s, n) in counts.items()]


def response_cells(session: Session, q: Query, *, until: str) -> list[Cell]:
    """Minutes from each alert's start to its acknowledgement (``until="ack"``) or resolution
    (``"resolve"``), for alerts that started in the window and got there; an alert that names
    several services counts for each when grouped by service."""
    from juncture.detect import service as detect_service

    unknown = [k for k in q.filters if k not in ("service", "severity")]
    if unknown:
        raise Invalid(f"this KPI cannot be filtered by '{unknown[0]}'", code="bad_filter")
    if q.group_by not in (None, "service", "severity"):
        raise Invalid(f"this KPI cannot be grouped by '{q.group_by}'", code="bad_group_by")
    rows = detect_service.response_times(
        session,
        start=from_ms(q.start_ms),
        end=from_ms(q.end_ms),
        severity=q.filters.get("severity"),
        service=q.filters.get("service"),
    )
    cells: dict[tuple[str, int | None], list[float]] = {}
    for r in rows:
        done = r.acknowledged_at if until == "ack" else r.resolved_at
        if until == "ack" and done is None:
            done = r.resolved_at  # resolved without an explicit acknowledgement
        if done is None:
            continue
        minutes = max((done - r.started_at).total_seconds(), 0.0) / 60.0
        bucket = bucket_of(to_ms(r.started_at), q.bucket)
        if q.group_by == "service":
            labels = list(r.services) or ["unknown"]
        elif q.group_by == "severity":
            labels = [r.severity]
        else:
            labels = ["all"]
        for label in labels:
            cells.setdefault((label, bucket), []).append(minutes)
    return [(label, b, Values([np.asarray(v)])) for (label, b), v in cells.items()]


# ---------------------------------------------------------------- calendars


def parse_calendar(
    tz: str, hours: Mapping[str, Any], holidays: Sequence[str | date]
) -> kpimath.BusinessCalendar:
    days = [d if isinstance(d, date) else date.fromisoformat(str(d)) for d in holidays]
    return kpimath.BusinessCalendar.from_hours(tz, hours, days)


# ---------------------------------------------------------------- incidents

INCIDENT_SLICES = ("service", "severity", "root_cause", "region")


def incident_cells(session: Session, q: Query, *, measure: str) -> list[Cell]:
    """Incidents declared in the window, from the incidents room's facts.

    ``measure``: ``count`` (one per incident), ``ack`` (minutes from detection, else
    declaration, to acknowledgement; unacknowledged incidents left out), ``resolve`` (minutes
    from the start of customer impact to resolution; unresolved left out) or ``minutes_lost``
    (customer-minutes lost; incidents without a measured impact left out). An incident naming
    several services or regions counts for each when grouped by them."""
    from juncture.incidents import service as incident_service

    incidents_metrics = incident_service.metrics

    unknown = [k for k in q.filters if k not in INCIDENT_SLICES]
    if unknown:
        raise Invalid(f"this KPI cannot be filtered by '{unknown[0]}'", code="bad_filter")
    if q.group_by not in (None, *INCIDENT_SLICES):
        raise Invalid(f"this KPI cannot be grouped by '{q.group_by}'", code="bad_group_by")
    facts = incidents_metrics.incident_facts(
        session, start=from_ms(q.start_ms), end=from_ms(q.end_ms)
    )

    def labels_of(f: Any, dim: str) -> list[str]:
        if dim == "service":
            return list(f.services) or ["unknown"]
        if dim == "region":
            return list(f.regions) or ["unknown"]
        if dim == "severity":
            return [f.severity]
        return [f.root_cause or "unknown"]

    cells: list[Cell] = []
    if measure == "count" and q.group_by is None:  # a period without incidents counts 0
        if q.bucket is None:
            cells.append(("all", None, Mom(0.0, 0.0, 0.0)))
        else:
            moment = bucket_of(q.start_ms, q.bucket)
            while moment is not None and moment < q.end_ms:
                cells.append(("all", moment, Mom(0.0, 0.0, 0.0)))
                moment = bucket_of(moment + _STEP_MS[q.bucket], q.bucket)
    for f in facts:
        if any(value not in labels_of(f, dim) for dim, value in q.filters.items()):
            continue
        if measure == "count":
            value: float | None = 1.0
        elif measure == "ack":
            origin = f.detected_at or f.declared_at
            value = (
                None
                if f.acknowledged_at is None
                else max((f.acknowledged_at - origin).total_seconds(), 0.0) / 60.0
            )
        elif measure == "resolve":
            value = (
                None
                if f.resolved_at is None
                else max((f.resolved_at - f.started_at).total_seconds(), 0.0) / 60.0
            )
        else:
            value = f.customer_minutes_lost
        if value is None:
            continue
        bucket = bucket_of(to_ms(f.declared_at), q.bucket)
        for label in labels_of(f, q.group_by) if q.group_by else ["all"]:
            if measure in ("count", "minutes_lost"):
                cells.append((label, bucket, Mom(1.0, value, value * value)))
            else:
                cells.append((label, bucket, Values([np.asarray([value])])))
    return cells
