"""On-call schedules, escalation timelines and notification routing (pure, no database).

Expected instants are worked out by hand from the published DST rules: in 2026 Europe/Berlin
springs forward on Sun 29 Mar at 01:00 UTC (02:00 CET -> 03:00 CEST) and falls back on
Sun 25 Oct at 01:00 UTC (03:00 CEST -> 02:00 CET); America/New_York springs forward on
Sun 8 Mar at 07:00 UTC (02:00 EST -> 03:00 EDT) and falls back on Sun 1 Nov at 06:00 UTC
(02:00 EDT -> 01:00 EST).
"""

from __future__ import annotations

import bisect
import itertools
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from juncture.detect.enums import Severity
from juncture.detect.oncall import (
    WEEKDAYS,
    EscalationPolicy,
    EscalationStep,
    NoRoute,
    NotificationChain,
    Notify,
    Override,
    Restriction,
    Rotation,
    Schedule,
    Shift,
    Target,
    escalation_timeline,
    next_action,
    on_call,
    route,
    schedule_resolver,
    shifts,
)
from juncture.kit.clock import FixedClock


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def rotation(**kw: Any) -> Rotation:
    base: dict[str, Any] = {
        "name": "primary",
        "time_zone": "UTC",
        "participants": ["ann", "bob", "cat"],
        "kind": "daily",
        "handoff": "09:00",
        "start": date(2026, 1, 5),
    }
    base.update(kw)
    return Rotation.model_validate(base)


def schedule(*layers: Rotation, overrides: list[Override] | None = None) -> Schedule:
    return Schedule(
        name="ops", time_zone=layers[0].time_zone, layers=list(layers), overrides=overrides or []
    )


def timeline(s: Schedule, start: datetime, end: datetime) -> list[tuple[str, datetime, datetime]]:
    return [(sh.user, sh.start, sh.end) for sh in shifts(s, start, end)]


# --------------------------------------------------------------------------------------------
# Rotations
# --------------------------------------------------------------------------------------------


def test_daily_rotation_hands_off_at_local_time_and_cycles() -> None:
    # Berlin in January is UTC+1: the 09:00 hand-off is 08:00 UTC.
    s = schedule(rotation(time_zone="Europe/Berlin"))
    assert on_call(s, utc(2026, 1, 5, 7, 59)) is None  # before the first turn
    assert on_call(s, utc(2026, 1, 5, 8, 0)) == "ann"
    assert on_call(s, datetime(2026, 1, 6, 7, 59, 59, tzinfo=UTC)) == "ann"
    assert on_call(s, utc(2026, 1, 6, 8, 0)) == "bob"
    assert on_call(s, utc(2026, 1, 7, 12, 0)) == "cat"
    assert on_call(s, utc(2026, 1, 8, 8, 0)) == "ann"  # turn 3 wraps around
    assert on_call(s, utc(2026, 2, 4, 8, 0)) == "ann"  # turn 30: 30 % 3 == 0


def test_weekly_rotation_hands_off_on_its_weekday() -> None:
    # New York in January is UTC-5: Monday 10:00 local is 15:00 UTC.
    r = rotation(
        time_zone="America/New_York",
        participants=["xan", "yve"],
        kind="weekly",
        handoff="10:00",
        handoff_weekday="mon",
        start=date(2026, 1, 5),
    )
    s = schedule(r)
    assert on_call(s, utc(2026, 1, 5, 15, 0)) == "xan"
    assert on_call(s, utc(2026, 1, 9, 3, 0)) == "xan"
    assert on_call(s, utc(2026, 1, 12, 14, 59)) == "xan"
    assert on_call(s, utc(2026, 1, 12, 15, 0)) == "yve"
    assert on_call(s, utc(2026, 1, 19, 15, 0)) == "xan"
    assert timeline(s, utc(2026, 1, 10), utc(2026, 1, 20)) == [
        ("xan", utc(2026, 1, 10), utc(2026, 1, 12, 15)),
        ("yve", utc(2026, 1, 12, 15), utc(2026, 1, 19, 15)),
        ("xan", utc(2026, 1, 19, 15), utc(2026, 1, 20)),
    ]


def test_weekly_handoff_weekday_must_match_the_start_date() -> None:
    with pytest.raises(ValidationError, match="is a mon but handoff_weekday is tue"):
        rotation(kind="weekly", handoff_weekday="tue", start=date(2026, 1, 5))


def test_custom_rotation_uses_shift_hours() -> None:
    s = schedule(rotation(kind="custom", shift_hours=12, handoff="08:00", participants=["a", "b"]))
    assert timeline(s, utc(2026, 1, 5), utc(2026, 1, 6, 12)) == [
        ("a", utc(2026, 1, 5, 8), utc(2026, 1, 5, 20)),
        ("b", utc(2026, 1, 5, 20), utc(2026, 1, 6, 8)),
        ("a", utc(2026, 1, 6, 8), utc(2026, 1, 6, 12)),
    ]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"time_zone": "Mars/Olympus"}, "unknown time zone"),
        ({"kind": "custom"}, "needs shift_hours"),
        ({"shift_hours": 8}, "only applies to custom"),
        ({"handoff_weekday": "mon"}, "only applies to weekly"),
        ({"participants": []}, "at least 1"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_rotation_validation(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        rotation(**bad)


# --------------------------------------------------------------------------------------------
# DST: hand-offs stay on the local wall clock
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "start", "expected"),
    [
        # Berlin spring: 09:00 CET = 08:00 UTC, 09:00 CEST = 07:00 UTC; bob's day has 23 h.
        (
            "Europe/Berlin",
            date(2026, 3, 27),
            [
                ("ann", utc(2026, 3, 27, 8), utc(2026, 3, 28, 8), 24),
                ("bob", utc(2026, 3, 28, 8), utc(2026, 3, 29, 7), 23),
                ("cat", utc(2026, 3, 29, 7), utc(2026, 3, 30, 7), 24),
            ],
        ),
        # Berlin autumn: 09:00 CEST = 07:00 UTC, 09:00 CET = 08:00 UTC; bob's day has 25 h.
        (
            "Europe/Berlin",
            date(2026, 10, 23),
            [
                ("ann", utc(2026, 10, 23, 7), utc(2026, 10, 24, 7), 24),
                ("bob", utc(2026, 10, 24, 7), utc(2026, 10, 25, 8), 25),
                ("cat", utc(2026, 10, 25, 8), utc(2026, 10, 26, 8), 24),
            ],
        ),
        # New York spring: 09:00 EST = 14:00 UTC, 09:00 EDT = 13:00 UTC.
        (
            "America/New_York",
            date(2026, 3, 6),
            [
                ("ann", utc(2026, 3, 6, 14), utc(2026, 3, 7, 14), 24),
                ("bob", utc(2026, 3, 7, 14), utc(2026, 3, 8, 13), 23),
                ("cat", utc(2026, 3, 8, 13), utc(2026, 3, 9, 13), 24),
            ],
        ),
        # New York autumn: 09:00 EDT = 13:00 UTC, 09:00 EST = 14:00 UTC.
        (
            "America/New_York",
            date(2026, 10, 30),
            [
                ("ann", utc(2026, 10, 30, 13), utc(2026, 10, 31, 13), 24),
                ("bob", utc(2026, 10, 31, 13), utc(2026, 11, 1, 14), 25),
                ("cat", utc(2026, 11, 1, 14), utc(2026, 11, 2, 14), 24),
            ],
        ),
    ],
)
def test_daily_handoff_stays_at_local_time_across_dst(
    zone: str, start: date, expected: list[tuple[str, datetime, datetime, int]]
) -> None:
    s = schedule(rotation(time_zone=zone, start=start))
    got = shifts(s, expected[0][1], expected[-1][2])
    assert [(sh.user, sh.start, sh.end) for sh in got] == [e[:3] for e in expected]
    assert [(sh.end - sh.start) / timedelta(hours=1) for sh in got] == [e[3] for e in expected]


@pytest.mark.parametrize(
    ("zone", "handoff", "day", "expected"),
    [
        # 02:30 does not exist in Berlin on 29 Mar: the hand-off happens at 03:00 CEST.
        ("Europe/Berlin", "02:30", date(2026, 3, 29), utc(2026, 3, 29, 1, 0)),
        # 02:30 happens twice in Berlin on 25 Oct: the first one (CEST, UTC+2) counts.
        ("Europe/Berlin", "02:30", date(2026, 10, 25), utc(2026, 10, 25, 0, 30)),
        # 02:30 does not exist in New York on 8 Mar: 03:00 EDT = 07:00 UTC.
        ("America/New_York", "02:30", date(2026, 3, 8), utc(2026, 3, 8, 7, 0)),
        # 01:30 happens twice in New York on 1 Nov: the first one (EDT, UTC-4) counts.
        ("America/New_York", "01:30", date(2026, 11, 1), utc(2026, 11, 1, 5, 30)),
    ],
)
def test_handoff_inside_a_dst_change(
    zone: str, handoff: str, day: date, expected: datetime
) -> None:
    r = rotation(time_zone=zone, handoff=handoff, start=day - timedelta(days=1))
    s = schedule(r)
    assert on_call(s, expected - timedelta(seconds=1)) == "ann"
    assert on_call(s, expected) == "bob"
    assert [sh.end for sh in shifts(s, expected - timedelta(hours=3), expected)] == [expected]


def test_twelve_hour_shifts_follow_the_wall_clock_on_dst_night() -> None:
    # 08:00/20:00 Berlin; the night 28->29 Mar runs 20:00 CET (19:00 UTC) to 08:00 CEST (06:00 UTC).
    r = rotation(
        time_zone="Europe/Berlin",
        kind="custom",
        shift_hours=12,
        handoff="08:00",
        participants=["d", "n"],
        start=date(2026, 3, 28),
    )
    assert timeline(schedule(r), utc(2026, 3, 28, 7), utc(2026, 3, 29, 18)) == [
        ("d", utc(2026, 3, 28, 7), utc(2026, 3, 28, 19)),
        ("n", utc(2026, 3, 28, 19), utc(2026, 3, 29, 6)),
        ("d", utc(2026, 3, 29, 6), utc(2026, 3, 29, 18)),
    ]


# --------------------------------------------------------------------------------------------
# Layers and restrictions
# --------------------------------------------------------------------------------------------


def business_hours_layer() -> Rotation:
    return rotation(
        name="business",
        participants=["xan"],
        kind="weekly",
        handoff="00:00",
        start=date(2026, 1, 5),
        restrict=[
            {"weekdays": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}
        ],
    )


def test_higher_layer_wins_only_inside_its_restriction() -> None:
    base = rotation(name="base", participants=["ann", "bob"], handoff="00:00")
    s = schedule(base, business_hours_layer())
    # Mon 5 Jan: ann (base) except 09:00-17:00 (xan); Tue 6 Jan: bob except 09:00-17:00.
    assert timeline(s, utc(2026, 1, 5), utc(2026, 1, 6, 12)) == [
        ("ann", utc(2026, 1, 5, 0), utc(2026, 1, 5, 9)),
        ("xan", utc(2026, 1, 5, 9), utc(2026, 1, 5, 17)),
        ("ann", utc(2026, 1, 5, 17), utc(2026, 1, 6, 0)),
        ("bob", utc(2026, 1, 6, 0), utc(2026, 1, 6, 9)),
        ("xan", utc(2026, 1, 6, 9), utc(2026, 1, 6, 12)),
    ]
    assert [sh.layer for sh in shifts(s, utc(2026, 1, 5), utc(2026, 1, 6))] == [
        "base",
        "business",
        "base",
    ]
    # Saturday 10 Jan is turn 5 of the base layer (ann, bob, ann, bob, ann, bob).
    assert on_call(s, utc(2026, 1, 10, 10)) == "bob"
    assert on_call(s, utc(2026, 1, 9, 16, 59)) == "xan"
    assert on_call(s, utc(2026, 1, 9, 17, 0)) == "ann"


def test_restricted_layer_alone_leaves_gaps() -> None:
    s = schedule(business_hours_layer())
    assert on_call(s, utc(2026, 1, 5, 8, 59)) is None
    assert on_call(s, utc(2026, 1, 10, 12)) is None  # Saturday
    assert timeline(s, utc(2026, 1, 9), utc(2026, 1, 13)) == [
        ("xan", utc(2026, 1, 9, 9), utc(2026, 1, 9, 17)),
        ("xan", utc(2026, 1, 12, 9), utc(2026, 1, 12, 17)),
    ]


def test_restriction_across_midnight_belongs_to_its_start_day() -> None:
    # Friday nights 18:00 -> Saturday 09:00 Berlin (January: UTC+1).
    nights = rotation(
        name="nights",
        time_zone="Europe/Berlin",
        participants=["nia"],
        restrict=[Restriction(weekdays=["fri"], start=time(18), end=time(9))],
    )
    s = schedule(nights)
    assert on_call(s, utc(2026, 1, 9, 16, 59)) is None
    assert on_call(s, utc(2026, 1, 9, 17, 0)) == "nia"
    assert on_call(s, utc(2026, 1, 10, 7, 59)) == "nia"
    assert on_call(s, utc(2026, 1, 10, 8, 0)) is None
    assert on_call(s, utc(2026, 1, 8, 23, 0)) is None  # Thursday night is not covered
    assert timeline(s, utc(2026, 1, 8), utc(2026, 1, 12)) == [
        ("nia", utc(2026, 1, 9, 17), utc(2026, 1, 10, 8)),
    ]


def test_whole_day_restriction_and_weekday_list() -> None:
    weekend = Restriction(weekdays=["sat", "sun"], start=time(0), end=time(0))
    s = schedule(rotation(participants=["wes"], handoff="00:00", restrict=[weekend]))
    assert timeline(s, utc(2026, 1, 5), utc(2026, 1, 13)) == [
        ("wes", utc(2026, 1, 10), utc(2026, 1, 12)),
    ]
    assert Restriction(start=time(9), end=time(17)).weekdays == list(WEEKDAYS)


# --------------------------------------------------------------------------------------------
# Overrides
# --------------------------------------------------------------------------------------------


def test_overrides_cut_into_shifts_and_the_last_one_wins() -> None:
    base = rotation(participants=["ann", "bob"])  # 09:00 UTC hand-offs from Mon 5 Jan
    zed = Override(user="zed", start=utc(2026, 1, 5, 12), end=utc(2026, 1, 6, 12))
    yan = Override(user="yan", start=utc(2026, 1, 6, 0), end=utc(2026, 1, 6, 6))
    s = schedule(base, overrides=[zed, yan])
    assert timeline(s, utc(2026, 1, 5, 9), utc(2026, 1, 7, 9)) == [
        ("ann", utc(2026, 1, 5, 9), utc(2026, 1, 5, 12)),
        ("zed", utc(2026, 1, 5, 12), utc(2026, 1, 6, 0)),
        ("yan", utc(2026, 1, 6, 0), utc(2026, 1, 6, 6)),
        ("zed", utc(2026, 1, 6, 6), utc(2026, 1, 6, 12)),
        ("bob", utc(2026, 1, 6, 12), utc(2026, 1, 7, 9)),
    ]
    assert on_call(s, utc(2026, 1, 6, 5, 59)) == "yan"
    assert on_call(s, utc(2026, 1, 6, 6)) == "zed"
    # Listed the other way round, zed's override covers yan's entirely.
    swapped = schedule(base, overrides=[yan, zed])
    assert on_call(swapped, utc(2026, 1, 6, 3)) == "zed"


def test_override_fills_a_gap_and_merges_with_the_same_user() -> None:
    s = schedule(
        business_hours_layer(),
        overrides=[Override(user="xan", start=utc(2026, 1, 5, 17), end=utc(2026, 1, 5, 20))],
    )
    got = shifts(s, utc(2026, 1, 5), utc(2026, 1, 6))
    assert got == [
        Shift("xan", utc(2026, 1, 5, 9), utc(2026, 1, 5, 20), "business", ("business", "override"))
    ]


def test_override_needs_aware_ordered_bounds() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        Override(user="a", start=datetime(2026, 1, 5), end=utc(2026, 1, 6))  # noqa: DTZ001 - the point
    with pytest.raises(ValidationError, match="after its start"):
        Override(user="a", start=utc(2026, 1, 6), end=utc(2026, 1, 6))
    with pytest.raises(ValueError, match="timezone-aware"):
        on_call(schedule(rotation()), datetime(2026, 1, 5))  # noqa: DTZ001 - the point


def test_schedule_rejects_duplicate_or_reserved_layer_names() -> None:
    with pytest.raises(ValidationError, match="unique"):
        schedule(rotation(), rotation())
    with pytest.raises(ValidationError, match="reserved"):
        schedule(rotation(name="override"))


# --------------------------------------------------------------------------------------------
# Property: the flattened timeline agrees with point queries
# --------------------------------------------------------------------------------------------

ZONES = ["Europe/Berlin", "America/New_York", "UTC", "Australia/Lord_Howe", "Asia/Kolkata"]
USERS = [f"u{i}" for i in range(5)]
# Months containing the spring and autumn changes in both hemispheres' zones above.
MONTH_STARTS = [date(2026, 3, 1), date(2026, 3, 25), date(2026, 10, 1), date(2026, 10, 20)]


@st.composite
def local_times(draw: st.DrawFn) -> time:
    return time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 7, 15, 30, 45])))


@st.composite
def rotations(draw: st.DrawFn, name: str, month: date) -> Rotation:
    kind: Literal["daily", "weekly", "custom"] = draw(
        st.sampled_from(["daily", "weekly", "custom"])
    )
    restrict = draw(
        st.lists(
            st.builds(
                Restriction,
                weekdays=st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True),
                start=local_times(),
                end=local_times(),
            ),
            max_size=2,
        )
    )
    return Rotation(
        name=name,
        time_zone=draw(st.sampled_from(ZONES)),
        participants=draw(st.lists(st.sampled_from(USERS), min_size=1, max_size=4)),
        kind=kind,
        shift_hours=draw(st.integers(1, 48)) if kind == "custom" else None,
        handoff=draw(local_times()),
        start=month + timedelta(days=draw(st.integers(-8, 10))),
        restrict=restrict,
    )


@st.composite
def schedules(draw: st.DrawFn) -> tuple[Schedule, datetime]:
    month = draw(st.sampled_from(MONTH_STARTS))
    n_layers = draw(st.integers(1, 3))
    layers = [draw(rotations(f"l{i}", month)) for i in range(n_layers)]
    t0 = datetime.combine(month, time(0), tzinfo=UTC)
    overrides = []
    for _ in range(draw(st.integers(0, 3))):
        start = t0 + timedelta(minutes=draw(st.integers(-600, 31 * 24 * 60)))
        length = timedelta(minutes=draw(st.integers(1, 3 * 24 * 60)))
        overrides.append(
            Override(user=draw(st.sampled_from(USERS)), start=start, end=start + length)
        )
    return Schedule(name="s", time_zone="UTC", layers=layers, overrides=overrides), t0


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedules())
def test_flattened_timeline_agrees_with_point_queries(case: tuple[Schedule, datetime]) -> None:
    s, t0 = case
    t1 = t0 + timedelta(days=31)
    got = shifts(s, t0, t1)
    for prev, sh in itertools.pairwise(got):
        assert prev.end <= sh.start
        assert not (prev.end == sh.start and prev.user == sh.user), "adjacent shifts not merged"
    assert all(t0 <= sh.start < sh.end <= t1 for sh in got)

    starts = [sh.start for sh in got]

    def from_timeline(at: datetime) -> str | None:
        i = bisect.bisect_right(starts, at) - 1
        return got[i].user if i >= 0 and at < got[i].end else None

    samples = [t0 + timedelta(minutes=15 * k) for k in range(31 * 96)]
    for sh in got:  # both sides of every edge of the flattened timeline
        samples += [sh.start, sh.end - timedelta(seconds=1)]
    for at in samples:
        assert on_call(s, at) == from_timeline(at), at


# --------------------------------------------------------------------------------------------
# Escalation
# --------------------------------------------------------------------------------------------

FIRED = utc(2026, 1, 6, 10, 0)


def three_step_policy(repeat: int = 0) -> EscalationPolicy:
    return EscalationPolicy(
        name="payments",
        steps=[
            EscalationStep(targets=[Target(kind="schedule", ref="primary")], wait_minutes=10),
            EscalationStep(targets=[Target(kind="user", ref="lead")], wait_minutes=15),
            EscalationStep(targets=[Target(kind="team", ref="sre")], wait_minutes=30),
        ],
        repeat=repeat,
    )


def resolvers() -> dict[str, Any]:
    return {
        "resolve_schedule": lambda ref, at: f"{ref}-oncall",
        "resolve_team": lambda ref: ["sam", "sue", "sam"],
    }


def brief(notes: list[Any]) -> list[tuple[datetime, int, int, tuple[str, ...]]]:
    return [(n.at, n.round, n.step_index, n.users) for n in notes]


def test_no_acknowledgement_repeats_then_stops() -> None:
    # One round lasts 10 + 15 + 30 = 55 minutes; repeat=2 runs three rounds.
    got = escalation_timeline(three_step_policy(repeat=2), FIRED, **resolvers())
    p, lead, team = ("primary-oncall",), ("lead",), ("sam", "sue")
    assert brief(got) == [
        (utc(2026, 1, 6, 10, 0), 0, 0, p),
        (utc(2026, 1, 6, 10, 10), 0, 1, lead),
        (utc(2026, 1, 6, 10, 25), 0, 2, team),
        (utc(2026, 1, 6, 10, 55), 1, 0, p),
        (utc(2026, 1, 6, 11, 5), 1, 1, lead),
        (utc(2026, 1, 6, 11, 20), 1, 2, team),
        (utc(2026, 1, 6, 11, 50), 2, 0, p),
        (utc(2026, 1, 6, 12, 0), 2, 1, lead),
        (utc(2026, 1, 6, 12, 15), 2, 2, team),
    ]
    assert all(n.at == n.due_at for n in got)


def test_acknowledgement_in_step_two_stops_it() -> None:
    got = escalation_timeline(
        three_step_policy(repeat=2), FIRED, acknowledged_at=utc(2026, 1, 6, 10, 12), **resolvers()
    )
    assert brief(got) == [
        (utc(2026, 1, 6, 10, 0), 0, 0, ("primary-oncall",)),
        (utc(2026, 1, 6, 10, 10), 0, 1, ("lead",)),
    ]


def test_resolution_stops_it_even_at_the_due_instant() -> None:
    # Resolved exactly when step 3 falls due: step 3 is not sent.
    got = escalation_timeline(
        three_step_policy(repeat=1), FIRED, resolved_at=utc(2026, 1, 6, 10, 25), **resolvers()
    )
    assert [(n.round, n.step_index) for n in got] == [(0, 0), (0, 1)]
    # The earlier of acknowledgement and resolution counts.
    got = escalation_timeline(
        three_step_policy(repeat=1),
        FIRED,
        acknowledged_at=utc(2026, 1, 6, 11, 0),
        resolved_at=utc(2026, 1, 6, 10, 5),
        **resolvers(),
    )
    assert [(n.round, n.step_index) for n in got] == [(0, 0)]


def test_handoff_during_an_escalation_notifies_the_new_person() -> None:
    # Daily 10:30 UTC hand-off from Mon 5 Jan: ann until Tue 6 Jan 10:30, then bob.
    primary = schedule(rotation(participants=["ann", "bob"], handoff="10:30"))
    policy = EscalationPolicy(
        name="solo",
        steps=[EscalationStep(targets=[Target(kind="schedule", ref="primary")], wait_minutes=20)],
        repeat=2,
    )
    got = escalation_timeline(
        policy, FIRED, resolve_schedule=schedule_resolver({"primary": primary})
    )
    assert brief(got) == [
        (utc(2026, 1, 6, 10, 0), 0, 0, ("ann",)),
        (utc(2026, 1, 6, 10, 20), 1, 0, ("ann",)),
        (utc(2026, 1, 6, 10, 40), 2, 0, ("bob",)),
    ]


def test_unknown_schedule_resolves_to_nobody_and_missing_resolvers_fail() -> None:
    policy = three_step_policy()
    got = escalation_timeline(
        policy, FIRED, resolve_schedule=schedule_resolver({}), resolve_team=lambda ref: []
    )
    assert [n.users for n in got] == [(), ("lead",), ()]
    with pytest.raises(ValueError, match="needs resolve_schedule"):
        escalation_timeline(policy, FIRED)


def test_ticks_under_a_controlled_clock_reproduce_the_timeline() -> None:
    policy = three_step_policy(repeat=1)
    ack = utc(2026, 1, 6, 11, 7)  # during round 1, step 1 (due 11:05)
    clock = FixedClock(FIRED - timedelta(minutes=3))
    sent_steps, sent = 0, list[Notify]()
    while clock.now() < utc(2026, 1, 6, 13):
        known_ack = ack if ack <= clock.now() else None
        tick = next_action(
            policy,
            FIRED,
            clock.now(),
            sent_steps=sent_steps,
            acknowledged_at=known_ack,
            **resolvers(),
        )
        sent.extend(tick.notify)
        sent_steps = tick.sent_steps
        clock.advance(timedelta(minutes=1))
    expected = escalation_timeline(policy, FIRED, acknowledged_at=ack, **resolvers())
    assert sent == expected
    assert [(n.round, n.step_index) for n in sent] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]


def test_late_tick_catches_up_and_resolves_targets_now() -> None:
    policy = three_step_policy(repeat=1)
    now = utc(2026, 1, 6, 10, 30)  # steps due at 10:10 and 10:25 are both overdue
    seen: list[datetime] = []

    def resolve_team(ref: str) -> list[str]:
        return ["sam"]

    def resolve_schedule(ref: str, at: datetime) -> str:
        seen.append(at)
        return "ann"

    tick = next_action(
        policy,
        FIRED,
        now,
        sent_steps=1,
        resolve_schedule=resolve_schedule,
        resolve_team=resolve_team,
    )
    assert [(n.due_at, n.at, n.step_index) for n in tick.notify] == [
        (utc(2026, 1, 6, 10, 10), now, 1),
        (utc(2026, 1, 6, 10, 25), now, 2),
    ]
    assert (tick.sent_steps, tick.next_at, tick.finished) == (3, utc(2026, 1, 6, 10, 55), False)
    assert seen == []  # no schedule target among the overdue steps

    # Nothing due yet: the tick says when to look again.
    idle = next_action(
        policy, FIRED, utc(2026, 1, 6, 10, 40), sent_steps=3, resolve_team=resolve_team
    )
    assert (idle.notify, idle.sent_steps, idle.next_at) == ((), 3, utc(2026, 1, 6, 10, 55))

    # All six firings sent: finished.
    done = next_action(policy, FIRED, utc(2026, 1, 6, 14), sent_steps=6)
    assert (done.notify, done.next_at, done.finished) == ((), None, True)

    # Acknowledged before this tick: overdue firings are dropped.
    acked = next_action(policy, FIRED, now, sent_steps=1, acknowledged_at=utc(2026, 1, 6, 10, 26))
    assert (acked.notify, acked.sent_steps, acked.finished) == ((), 1, True)


def test_policy_validation() -> None:
    with pytest.raises(ValidationError):
        EscalationPolicy(name="p", steps=[])
    with pytest.raises(ValidationError):
        EscalationStep(targets=[Target(kind="user", ref="a")], wait_minutes=0)
    with pytest.raises(ValidationError):
        Target.model_validate({"kind": "channel", "ref": "x"})
    assert three_step_policy(repeat=3).firings == 12


# --------------------------------------------------------------------------------------------
# Routing
# --------------------------------------------------------------------------------------------

CHAINS = [
    NotificationChain(policy="default", channels=["email"]),
    NotificationChain(severities=[Severity.CRITICAL], policy="sev1", channels=["sms", "voice"]),
    NotificationChain(team="payments", policy="payments", channels=["slack"]),
    NotificationChain(
        team="payments",
        severities=[Severity.CRITICAL, Severity.HIGH],
        policy="payments-urgent",
        channels=["sms", "push"],
    ),
]


@pytest.mark.parametrize(
    ("team", "severity", "policy", "matched", "index"),
    [
        ("payments", "critical", "payments-urgent", "team_severity", 3),
        ("payments", "high", "payments-urgent", "team_severity", 3),
        ("payments", "warning", "payments", "team", 2),
        ("search", "critical", "sev1", "severity", 1),
        ("search", "info", "default", "default", 0),
    ],
)
def test_route_falls_back_from_specific_to_general(
    team: str, severity: str, policy: str, matched: str, index: int
) -> None:
    m = route(CHAINS, team, severity)
    assert (m.policy, m.matched, m.index) == (policy, matched, index)
    assert m.fallback == (matched != "team_severity")


def test_route_first_listed_wins_and_no_route_raises() -> None:
    twice = [
        NotificationChain(team="t", policy="first", channels=["email"]),
        NotificationChain(team="t", policy="second", channels=["sms"]),
    ]
    assert route(twice, "t", Severity.INFO).policy == "first"
    assert route(CHAINS, "payments", "warning").channels == ("slack",)
    with pytest.raises(NoRoute, match="no notification chain for team 'u'"):
        route(twice, "u", "info")
    with pytest.raises(ValueError, match="'urgent' is not a valid Severity"):
        route(CHAINS, "t", "urgent")
    with pytest.raises(ValidationError, match="must not repeat"):
        NotificationChain(policy="p", channels=["sms", "sms"])


def test_the_example_timeline_in_the_docs() -> None:
    # docs/oncall.md "Example timeline": primary hands off from ann to bob at 10:30.
    primary = schedule(rotation(participants=["ann", "bob"], handoff="10:30"))
    got = escalation_timeline(
        three_step_policy(repeat=1),
        FIRED,
        resolve_schedule=schedule_resolver({"primary": primary}),
        resolve_team=lambda ref: ["sam", "sue"],
    )
    assert [(n.at, n.round, n.step_index, n.target.kind, n.users) for n in got] == [
        (utc(2026, 1, 6, 10, 0), 0, 0, "schedule", ("ann",)),
        (utc(2026, 1, 6, 10, 10), 0, 1, "user", ("lead",)),
        (utc(2026, 1, 6, 10, 25), 0, 2, "team", ("sam", "sue")),
        (utc(2026, 1, 6, 10, 55), 1, 0, "schedule", ("bob",)),
        (utc(2026, 1, 6, 11, 5), 1, 1, "user", ("lead",)),
        (utc(2026, 1, 6, 11, 20), 1, 2, "team", ("sam", "sue")),
    ]
