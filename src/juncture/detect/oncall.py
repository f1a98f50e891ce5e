"""On-call schedules, escalation policies and notification chains as pure functions.

Nothing here touches a database or the web: schedules and policies are Pydantic values, and
every answer ("who is on call at 03:00?", "what must be sent now?") is computed from them and
from instants passed in by the caller, so the alert engine can be a stateless tick over stored
alert state under an injectable clock.

Time rules, in one place:

* Every instant going in or out is an aware datetime; results are in UTC.
* Hand-offs and restriction windows follow the rotation's local wall clock: a daily 09:00
  hand-off is at 09:00 local on both sides of a DST change, so the shift spanning the change
  lasts 23 or 25 real hours.
* A local time that does not exist (skipped by a spring-forward change) happens at the first
  instant after the gap (02:30 on a night that jumps 02:00 -> 03:00 becomes 03:00); a local time
  that occurs twice (autumn) happens at its first occurrence. Both rules keep hand-offs in order.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from juncture.detect.enums import Severity
from juncture.kit.errors import NotFound

__all__ = [
    "WEEKDAYS",
    "ChainMatch",
    "EscalationPolicy",
    "EscalationStep",
    "EscalationTick",
    "NoRoute",
    "NotificationChain",
    "Notify",
    "Override",
    "Restriction",
    "Rotation",
    "Schedule",
    "ScheduleResolver",
    "Severity",
    "Shift",
    "Target",
    "TeamResolver",
    "Weekday",
    "escalation_timeline",
    "next_action",
    "on_call",
    "rotation_on_call",
    "route",
    "schedule_resolver",
    "shifts",
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

ScheduleResolver = Callable[[str, datetime], str | None]
"""``(schedule_ref, at) -> user on call or None``."""
TeamResolver = Callable[[str], Sequence[str]]
"""``team_ref -> the users to notify for that team``."""

_NonEmpty = Annotated[str, Field(min_length=1, max_length=200)]


# --------------------------------------------------------------------------------------------
# Time helpers
# --------------------------------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def _check_zone(name: str) -> str:
    _zone(name)
    return name


def _aware(at: datetime, what: str = "datetime") -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {at!r}")
    return at.astimezone(UTC)


def _local_to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """Map a naive local wall time to a UTC instant (gap: end of the gap; fold: first)."""
    utc = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) == local:
        return utc
    # `local` was skipped. `utc` (the pre-change offset) lies after the change; find the
    # change itself: the first instant whose offset equals the one at `utc`.
    target = utc.astimezone(tz).utcoffset()
    lo, hi = utc - timedelta(hours=48), utc
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == target:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)


def _local_naive(at: datetime, tz: ZoneInfo) -> datetime:
    return at.astimezone(tz).replace(tzinfo=None)


# --------------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Restriction(_Model):
    """A daily window in the rotation's local time, on the listed weekdays.

    The window belongs to the weekday it starts on. If ``end <= start`` it runs past midnight
    into the next day (``18:00-09:00``); ``00:00-00:00`` is the whole day.
    """

    weekdays: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)
    start: time
    end: time

    @field_validator("start", "end")
    @classmethod
    def _naive_time(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("restriction times are local wall-clock times, without an offset")
        return value


class Rotation(_Model):
    """One layer: participants take turns, handing off at a local wall-clock time.

    ``start`` is the local date on which ``participants[0]``'s first turn begins, at
    ``handoff``. Before that the layer has nobody. ``weekly`` turns last seven days and hand
    off on ``handoff_weekday`` (which must be ``start``'s weekday; it defaults to it);
    ``custom`` turns last ``shift_hours`` of wall-clock time.
    """

    name: _NonEmpty
    time_zone: str
    participants: list[_NonEmpty] = Field(min_length=1)
    kind: Literal["daily", "weekly", "custom"]
    shift_hours: int | None = Field(default=None, ge=1, le=24 * 366)
    handoff: time = time(9, 0)
    handoff_weekday: Weekday | None = None
    start: date
    restrict: list[Restriction] = Field(default_factory=list)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _check_zone(value)

    @field_validator("handoff")
    @classmethod
    def _naive_handoff(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("handoff is a local wall-clock time, without an offset")
        return value

    @model_validator(mode="after")
    def _kind_fields(self) -> Self:
        if self.kind == "custom" and self.shift_hours is None:
            raise ValueError("a custom rotation needs shift_hours")
        if self.kind != "custom" and self.shift_hours is not None:
            raise ValueError("shift_hours only applies to custom rotations")
        if self.handoff_weekday is not None:
            if self.kind != "weekly":
                raise ValueError("handoff_weekday only applies to weekly rotations")
            actual = WEEKDAYS[self.start.weekday()]
            if actual != self.handoff_weekday:
                raise ValueError(
                    f"start {self.start} is a {actual} but handoff_weekday is "
                    f"{self.handoff_weekday}"
                )
        return self

    @property
    def tz(self) -> ZoneInfo:
        return _zone(self.time_zone)

    @property
    def period(self) -> timedelta:
        if self.kind == "daily":
            return timedelta(days=1)
        if self.kind == "weekly":
            return timedelta(days=7)
        assert self.shift_hours is not None
        return timedelta(hours=self.shift_hours)

    def handoff_at(self, turn: int) -> datetime:
        """The UTC instant at which turn ``turn`` (0 = the first) begins."""
        base = datetime.combine(self.start, self.handoff)
        return _local_to_utc(base + turn * self.period, self.tz)

    def turn_at(self, at: datetime) -> int:
        """The turn in progress at ``at`` (negative before the rotation starts)."""
        at = _aware(at)
        base = datetime.combine(self.start, self.handoff)
        turn = math.floor((_local_naive(at, self.tz) - base) / self.period)
        while self.handoff_at(turn) > at:
            turn -= 1
        while self.handoff_at(turn + 1) <= at:
            turn += 1
        return turn

    def windows(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Restriction windows overlapping ``[start, end)``, merged, sorted, clipped (UTC)."""
        start, end = _aware(start), _aware(end)
        if not self.restrict:
            return [(start, end)] if start < end else []
        tz = self.tz
        day = _local_naive(start, tz).date() - timedelta(days=1)
        last = _local_naive(end, tz).date() + timedelta(days=1)
        raw: list[tuple[datetime, datetime]] = []
        while day <= last:
            raw.extend(w for r in self.restrict if (w := _window(r, day, tz)) is not None)
            day += timedelta(days=1)
        raw.sort()
        merged: list[tuple[datetime, datetime]] = []
        for raw_start, raw_end in raw:
            ws, we = max(raw_start, start), min(raw_end, end)
            if ws >= we:
                continue
            if merged and ws <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], we))
            else:
                merged.append((ws, we))
        return merged

    def allows(self, at: datetime) -> bool:
        """Whether ``at`` is inside a restriction window (always, without restrictions)."""
        if not self.restrict:
            return True
        at = _aware(at)
        tz = self.tz
        today = _local_naive(at, tz).date()
        for day in (today - timedelta(days=1), today):
            for r in self.restrict:
                w = _window(r, day, tz)
                if w is not None and w[0] <= at < w[1]:
                    return True
        return False


def _window(r: Restriction, day: date, tz: ZoneInfo) -> tuple[datetime, datetime] | None:
    if WEEKDAYS[day.weekday()] not in r.weekdays:
        return None
    end_day = day + timedelta(days=1) if r.end <= r.start else day
    ws = _local_to_utc(datetime.combine(day, r.start), tz)
    we = _local_to_utc(datetime.combine(end_day, r.end), tz)
    return (ws, we) if ws < we else None


class Override(_Model):
    """``user`` is on call over ``[start, end)``, above every layer."""

    user: _NonEmpty
    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _aware(value, "override bounds")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError("override end must be after its start")
        return self


class Schedule(_Model):
    """Ordered layers (the last one listed is on top) plus overrides (the last listed wins)."""

    name: _NonEmpty
    time_zone: str
    layers: list[Rotation] = Field(default_factory=list)
    overrides: list[Override] = Field(default_factory=list)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _check_zone(value)

    @model_validator(mode="after")
    def _unique_layers(self) -> Self:
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise ValueError("layer names must be unique within a schedule")
        if "override" in names:
            raise ValueError("'override' is reserved and cannot name a layer")
        return self


@dataclass(frozen=True, slots=True)
class Shift:
    """A stretch of the final timeline: ``user`` is on call over ``[start, end)`` (UTC).

    ``layer`` is the rotation name (or ``"override"``) that produced its beginning; ``sources``
    lists every source merged into it, in order.
    """

    user: str
    start: datetime
    end: datetime
    layer: str
    sources: tuple[str, ...]


def rotation_on_call(rotation: Rotation, at: datetime) -> str | None:
    """Who this layer alone puts on call at ``at`` (None before its start or outside windows)."""
    at = _aware(at)
    turn = rotation.turn_at(at)
    if turn < 0 or not rotation.allows(at):
        return None
    return rotation.participants[turn % len(rotation.participants)]


def on_call(schedule: Schedule, at: datetime) -> str | None:
    """Who is on call at ``at``: the latest covering override, else the top layer with someone."""
    at = _aware(at)
    for override in reversed(schedule.overrides):
        if override.start <= at < override.end:
            return override.user
    for layer in reversed(schedule.layers):
        user = rotation_on_call(layer, at)
        if user is not None:
            return user
    return None


def _rotation_segments(
    rotation: Rotation, start: datetime, end: datetime
) -> list[tuple[datetime, datetime, str]]:
    segments: list[tuple[datetime, datetime, str]] = []
    turn = max(rotation.turn_at(start), 0)
    n = len(rotation.participants)
    windows = rotation.windows(start, end)
    w = 0
    while True:
        t0, t1 = rotation.handoff_at(turn), rotation.handoff_at(turn + 1)
        if t0 >= end:
            break
        s, e = max(t0, start), min(t1, end)
        user = rotation.participants[turn % n]
        # Intersect [s, e) with the sorted, disjoint windows.
        while w < len(windows) and windows[w][1] <= s:
            w += 1
        i = w
        while i < len(windows) and windows[i][0] < e:
            ws, we = max(windows[i][0], s), min(windows[i][1], e)
            if ws < we:
                segments.append((ws, we, user))
            i += 1
        turn += 1
    return segments


def shifts(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """The final, flattened timeline over ``[start, end)``.

    Gaps (nobody on call) are left out; adjacent stretches of the same user are merged.
    """
    start, end = _aware(start, "start"), _aware(end, "end")
    if end <= start:
        return []
    # Sources in priority order: the latest override first, then layers from the top.
    sources: list[tuple[str, list[tuple[datetime, datetime, str]]]] = []
    for o in reversed(schedule.overrides):
        s, e = max(o.start, start), min(o.end, end)
        if s < e:
            sources.append(("override", [(s, e, o.user)]))
    for layer in reversed(schedule.layers):
        sources.append((layer.name, _rotation_segments(layer, start, end)))

    cuts = {start, end}
    for _, segs in sources:
        for s, e, _user in segs:
            cuts.update((s, e))
    points = sorted(cuts)
    starts = [[seg[0] for seg in segs] for _, segs in sources]

    out: list[Shift] = []
    for a, b in itertools.pairwise(points):
        for (name, segs), seg_starts in zip(sources, starts, strict=True):
            i = bisect.bisect_right(seg_starts, a) - 1
            if i >= 0 and segs[i][0] <= a < segs[i][1]:
                user = segs[i][2]
                prev = out[-1] if out else None
                if prev is not None and prev.user == user and prev.end == a:
                    merged = prev.sources if prev.sources[-1] == name else (*prev.sources, name)
                    out[-1] = Shift(user, prev.start, b, prev.layer, merged)
                else:
                    out.append(Shift(user, a, b, name, (name,)))
                break
    return out


def schedule_resolver(schedules: Mapping[str, Schedule]) -> ScheduleResolver:
    """A ``resolve_schedule`` callable over schedules keyed by reference (unknown: nobody)."""

    def resolve(ref: str, at: datetime) -> str | None:
        schedule = schedules.get(ref)
        return None if schedule is None else on_call(schedule, at)

    return resolve


# --------------------------------------------------------------------------------------------
# Escalation
# --------------------------------------------------------------------------------------------


class Target(_Model):
    """Whom a step notifies: whoever is on call on a schedule, a user, or a whole team."""

    kind: Literal["schedule", "user", "team"]
    ref: _NonEmpty


class EscalationStep(_Model):
    """Notify every target, then wait ``wait_minutes`` for an acknowledgement."""

    targets: list[Target] = Field(min_length=1)
    wait_minutes: int = Field(ge=1, le=7 * 24 * 60)


class EscalationPolicy(_Model):
    """Ordered steps, run ``1 + repeat`` times in all until acknowledged or resolved."""

    name: _NonEmpty
    steps: list[EscalationStep] = Field(min_length=1)
    repeat: int = Field(default=0, ge=0, le=20)

    @property
    def firings(self) -> int:
        """How many step firings the policy has when nobody acknowledges."""
        return len(self.steps) * (self.repeat + 1)

    @property
    def cycle(self) -> timedelta:
        """The length of one round (the sum of the waits)."""
        return timedelta(minutes=sum(step.wait_minutes for step in self.steps))

    def due_at(self, fired_at: datetime, firing: int) -> datetime:
        """When firing ``firing`` (``round * len(steps) + step_index``) is due."""
        rnd, idx = divmod(firing, len(self.steps))
        offset = sum(step.wait_minutes for step in self.steps[:idx])
        return _aware(fired_at) + rnd * self.cycle + timedelta(minutes=offset)


@dataclass(frozen=True, slots=True)
class Notify:
    """One notification: ``target`` resolved to ``users`` when it was sent.

    ``due_at`` is when the policy schedules it; ``at`` is when it is sent (equal in
    ``escalation_timeline``; a late tick sends at its own ``now``). ``users`` is empty when a
    schedule has nobody on call or a team has no members: the engine should record that.
    """

    at: datetime
    due_at: datetime
    step_index: int
    round: int
    target: Target
    users: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EscalationTick:
    """What a periodic tick must do now, and the state to store afterwards.

    ``sent_steps`` is the new cursor (step firings sent so far, store it on the alert);
    ``next_at`` is when the next firing falls due (None when finished); ``finished`` is True
    once acknowledged, resolved, or every firing is sent.
    """

    notify: tuple[Notify, ...]
    sent_steps: int
    next_at: datetime | None
    finished: bool


def _stop_at(acknowledged_at: datetime | None, resolved_at: datetime | None) -> datetime | None:
    stops = [_aware(t) for t in (acknowledged_at, resolved_at) if t is not None]
    return min(stops) if stops else None


def _resolve(
    target: Target,
    at: datetime,
    resolve_schedule: ScheduleResolver | None,
    resolve_team: TeamResolver | None,
) -> tuple[str, ...]:
    if target.kind == "user":
        return (target.ref,)
    if target.kind == "schedule":
        if resolve_schedule is None:
            raise ValueError(f"target schedule {target.ref!r} needs resolve_schedule")
        user = resolve_schedule(target.ref, at)
        return () if user is None else (user,)
    if resolve_team is None:
        raise ValueError(f"target team {target.ref!r} needs resolve_team")
    return tuple(dict.fromkeys(resolve_team(target.ref)))


def _notifications(
    policy: EscalationPolicy,
    firing: int,
    due: datetime,
    sent: datetime,
    resolve_schedule: ScheduleResolver | None,
    resolve_team: TeamResolver | None,
) -> Iterator[Notify]:
    rnd, idx = divmod(firing, len(policy.steps))
    for target in policy.steps[idx].targets:
        users = _resolve(target, sent, resolve_schedule, resolve_team)
        yield Notify(sent, due, idx, rnd, target, users)


def escalation_timeline(
    policy: EscalationPolicy,
    fired_at: datetime,
    *,
    acknowledged_at: datetime | None = None,
    resolved_at: datetime | None = None,
    resolve_schedule: ScheduleResolver | None = None,
    resolve_team: TeamResolver | None = None,
) -> list[Notify]:
    """Every notification the policy sends for an alert fired at ``fired_at``.

    A firing due at or after the acknowledgement or resolution is not sent. Schedules and teams
    are resolved at the moment each notification is sent.
    """
    stop = _stop_at(acknowledged_at, resolved_at)
    out: list[Notify] = []
    for firing in range(policy.firings):
        due = policy.due_at(fired_at, firing)
        if stop is not None and due >= stop:
            break
        out.extend(_notifications(policy, firing, due, due, resolve_schedule, resolve_team))
    return out


def next_action(
    policy: EscalationPolicy,
    fired_at: datetime,
    now: datetime,
    *,
    sent_steps: int = 0,
    acknowledged_at: datetime | None = None,
    resolved_at: datetime | None = None,
    resolve_schedule: ScheduleResolver | None = None,
    resolve_team: TeamResolver | None = None,
) -> EscalationTick:
    """What a stateless tick at ``now`` must send, given ``sent_steps`` firings already sent.

    Every firing due by ``now`` and not yet sent is returned (a late tick catches up), with
    targets resolved at ``now``. Once the alert is acknowledged or resolved (at or before
    ``now``) nothing more is sent, not even overdue firings.
    """
    now = _aware(now, "now")
    total = policy.firings
    sent = min(max(sent_steps, 0), total)
    stop = _stop_at(acknowledged_at, resolved_at)
    if stop is not None and stop <= now:
        return EscalationTick((), sent, None, True)
    notify: list[Notify] = []
    while sent < total:
        due = policy.due_at(fired_at, sent)
        if due > now:
            break
        notify.extend(_notifications(policy, sent, due, now, resolve_schedule, resolve_team))
        sent += 1
    next_at = policy.due_at(fired_at, sent) if sent < total else None
    return EscalationTick(tuple(notify), sent, next_at, next_at is None)


# --------------------------------------------------------------------------------------------
# Notification chains
# --------------------------------------------------------------------------------------------


class NotificationChain(_Model):
    """Which policy and channels apply to a team (None: any team) at some severities.

    An empty ``severities`` list matches every severity.
    """

    team: _NonEmpty | None = None
    severities: list[Severity] = Field(default_factory=list)
    policy: _NonEmpty
    channels: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]] = Field(min_length=1)

    @field_validator("channels")
    @classmethod
    def _unique_channels(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("channels must not repeat")
        return value


MatchKind = Literal["team_severity", "team", "severity", "default"]
_PRECEDENCE: tuple[MatchKind, ...] = ("team_severity", "team", "severity", "default")


@dataclass(frozen=True, slots=True)
class ChainMatch:
    """The chain that applies, how specifically it matched, and its index in the list."""

    chain: NotificationChain
    index: int
    matched: MatchKind

    @property
    def policy(self) -> str:
        return self.chain.policy

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self.chain.channels)

    @property
    def fallback(self) -> bool:
        """True when no chain named both this team and this severity."""
        return self.matched != "team_severity"


class NoRoute(NotFound):
    """No notification chain matches, not even a catch-all."""

    code = "no_notification_chain"


def route(chains: Sequence[NotificationChain], team: str, severity: Severity | str) -> ChainMatch:
    """The chain for ``team`` at ``severity``, falling back from specific to general.

    Precedence: this team and this severity; this team at any severity; any team at this
    severity; any team at any severity. Within one level the first chain listed wins.
    """
    sev = Severity(severity)
    best: ChainMatch | None = None
    for index, chain in enumerate(chains):
        if chain.team is not None and chain.team != team:
            continue
        if chain.severities and sev not in chain.severities:
            continue
        kind: MatchKind
        if chain.team is not None:
            kind = "team_severity" if chain.severities else "team"
        else:
            kind = "severity" if chain.severities else "default"
        if best is None or _PRECEDENCE.index(kind) < _PRECEDENCE.index(best.matched):
            best = ChainMatch(chain, index, kind)
    if best is None:
        raise NoRoute(f"no notification chain for team {team!r} at severity {sev.value!r}")
    return best
