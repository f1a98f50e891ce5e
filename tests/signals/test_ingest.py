"""Signals ingest: validation reasons, dedup, redaction, ticket state by event time, rollups."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select, text

from juncture.config import Settings
from juncture.kit import clock
from juncture.signals import service
from juncture.signals.ingest import TABLES, apply_event, fresh_ticket
from juncture.signals.models import Quarantined, Rollup, Series
from juncture.signals.redact import Redactor, luhn_ok
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work
from tests.signals.fixtures import BASE, metric, mixed, seed_catalog, ticket, ts

NOW = clock.FixedClock(BASE + timedelta(days=1))
_SERIES_TABLE = re.compile(r"\b(INTO|FROM|JOIN)\s+signal_series\b", re.IGNORECASE)


@pytest.fixture(autouse=True)
def _frozen_clock() -> Any:
    with clock.use_clock(NOW):
        yield


def ingest(
    db: Database, records: list[Any], cfg: Settings | None = None, source: str = "test"
) -> dict[str, Any]:
    with unit_of_work(db) as session:
        return service.ingest(
            session, records=records, settings=cfg or Settings(), source=source
        ).as_dict()


def raw_count(db: Database) -> int:
    with unit_of_work(db, write=False) as session:
        return sum(
            session.scalar(select(func.count()).select_from(t)) or 0 for t in TABLES.values()
        )


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ("text", "not_an_object"),
        ({"type": "weather", "ts": ts(0)}, "unknown_type"),
        ({"type": "metric", "schema": 2, "ts": ts(0)}, "unsupported_schema"),
        (metric(0, 1) | {"ts": "yesterday"}, "bad_timestamp"),
        (metric(0, 1) | {"ts": None}, "missing_field"),
        (metric(0, 1) | {"ts": (BASE + timedelta(days=2)).isoformat()}, "future_timestamp"),
        (metric(0, 1) | {"ts": (BASE - timedelta(days=500)).isoformat()}, "too_old"),
        (metric(0, -5), "out_of_range"),
        (metric(0, 1.5, name="error_rate"), "out_of_range"),
        (metric(0, float("nan")), "out_of_range"),
        (metric(0, "fast"), "bad_type"),
        (metric(0, 5) | {"unit": "s"}, "unit_mismatch"),
        (metric(0, 5, service="nosuch"), "unknown_service"),
        ({k: v for k, v in metric(0, 5).items() if k != "service"}, "missing_field"),
        (
            {"type": "funnel", "ts": ts(0), "journey": "nope", "step": "x", "session_id": "s"},
            "unknown_journey",
        ),
        (
            {"type": "funnel", "ts": ts(0), "journey": "purchase", "step": "x", "session_id": "s"},
            "unknown_step",
        ),
        ({"type": "survey", "ts": ts(0), "kind": "nps", "score": 11}, "out_of_range"),
        ({"type": "survey", "ts": ts(0), "kind": "csat", "score": 0}, "out_of_range"),
        ({"type": "survey", "ts": ts(0), "kind": "ces", "score": 3.5}, "bad_type"),
        ({"type": "survey", "ts": ts(0), "kind": "stars", "score": 3}, "unknown_enum"),
        (ticket(0, "T", "exploded"), "unknown_enum"),
        (ticket(0, "T", "status_changed"), "missing_field"),
        (ticket(0, "T", "commented", text="x" * 9000), "too_long"),
        (ticket(0, "T", "commented", text="broken \ud800 text"), "invalid_encoding"),
        (
            {"type": "review", "ts": ts(0), "source": "web", "rating": 9, "text": "x"},
            "out_of_range",
        ),
        ({"_unparsed": "{oops", "_reason": "invalid_json"}, "invalid_json"),
    ],
)
def test_each_refusal_has_a_stable_reason(db: Database, record: Any, reason: str) -> None:
    seed_catalog(db)
    result = ingest(db, [record])
    assert result["quarantined"] == 1, result
    assert result["reasons"] == {reason: 1}
    assert result["errors"][0]["index"] == 0
    assert raw_count(db) == 0
    with unit_of_work(db) as session:
        (item,) = session.scalars(select(Quarantined))
        assert item.reason == reason
        assert item.payload  # the original is kept for replay


def test_valid_records_of_every_type_are_accepted(db: Database) -> None:
    seed_catalog(db)
    records = mixed(120)
    result = ingest(db, records)
    assert result["accepted"] == 120, result
    assert result["accepted_by_type"] == dict.fromkeys(
        ("deploy", "funnel", "metric", "review", "survey", "ticket"), 20
    )
    assert raw_count(db) == 120


def test_series_ids_are_reused_across_calls_only_where_no_rollback_can_undo_them(
    db: Database,
) -> None:
    # On PostgreSQL a new series commits on its own connection, so later calls reuse its id
    # without asking again; on SQLite it is created inside the call's transaction (which may
    # roll back), so each call looks its series up again.
    seed_catalog(db)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert ingest(db, [metric(1, 10), metric(1, 20, region="us")])["accepted"] == 2
        first = [s for s in statements if _SERIES_TABLE.search(s)]
        statements.clear()
        assert ingest(db, [metric(5, 30), metric(5, 40, region="us")])["accepted"] == 2
        second = [s for s in statements if _SERIES_TABLE.search(s)]
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert first, "the first call creates its series"
    if db.dialect == "postgresql":
        assert second == []
    else:
        assert second
    with unit_of_work(db, write=False) as session:
        assert session.scalar(select(func.count()).select_from(Series)) == 2
        # Both calls' points are in the same two series' rollups.
        assert session.scalar(select(func.sum(Rollup.count)).where(Rollup.grain == "h")) == 4


def test_redelivery_is_a_duplicate_by_id_or_by_content(db: Database) -> None:
    seed_catalog(db)
    with_id = metric(1, 100) | {"id": "evt-1"}
    changed_but_same_id = metric(2, 999) | {"id": "evt-1"}
    plain = metric(3, 50)
    first = ingest(db, [with_id, plain, plain])
    assert (first["accepted"], first["duplicates"]) == (2, 1)
    second = ingest(db, [changed_but_same_id, dict(plain)])
    assert (second["accepted"], second["duplicates"]) == (0, 2)
    assert raw_count(db) == 2


def test_free_text_is_redacted_before_storage(db: Database) -> None:
    seed_catalog(db)
    comment = "Call +44 20 7946 0958 or write to jane.doe@example.org; card 4539 1488 0343 6467, order 1234567890123"
    result = ingest(
        db, [{"type": "survey", "ts": ts(0), "kind": "csat", "score": 2, "comment": comment}]
    )
    assert result["accepted"] == 1
    with unit_of_work(db) as session:
        stored = session.execute(text("SELECT comment FROM signal_surveys")).scalar_one()
        actions = session.execute(text("SELECT action FROM audit_events")).scalars().all()
    assert "jane.doe" not in stored and "7946" not in stored and "4539" not in stored
    assert "[email]" in stored and "[phone]" in stored and "[card]" in stored
    assert "1234567890123" in stored  # not Luhn-valid: an order number, kept
    assert "signals.redact" in actions


def test_luhn_and_configured_patterns() -> None:
    assert luhn_ok("4539148803436467")
    assert not luhn_ok("4539148803436468")
    redacted, n = Redactor({"order": r"ORD-\d+"})("see ORD-12345 and bob@x.io")
    assert redacted == "see [order] and [email]"
    assert n == 2


def test_ticket_state_follows_event_time_not_arrival(db: Database) -> None:
    seed_catalog(db)
    events = [
        ticket(0, "T9", "created", "customer", team="support", priority="normal", channel="email"),
        ticket(5, "T9", "replied", "agent"),
        ticket(30, "T9", "reassigned", "system", team="billing"),
        ticket(60, "T9", "resolved", "agent"),
    ]
    ingest(db, [events[3], events[2]])  # the newest first
    ingest(db, [events[0]])  # an old event arrives late: it must not reopen or move the ticket
    ingest(db, [events[1]])
    with unit_of_work(db) as session:
        t = service.get_ticket(session, ref="T9")
        assert t is not None
        assert t.status == "solved"
        assert t.team == "billing"
        assert t.created_ms is not None and t.first_response_ms is not None
        assert t.first_response_ms - t.created_ms == 5 * 60_000
        assert t.priority == "normal" and t.channel == "email"
        assert t.reassign_count == 1 and t.event_count == 4


ticket_events = st.lists(
    st.tuples(
        st.integers(0, 500),
        st.sampled_from(
            ["created", "assigned", "replied", "reassigned", "resolved", "reopened", "commented"]
        ),
        st.sampled_from(["agent", "customer", "system"]),
        st.sampled_from([None, "support", "billing"]),
        st.sampled_from([None, "low", "high"]),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(events=ticket_events, seed=st.integers(0, 10_000))
def test_ticket_state_is_independent_of_arrival_order(
    events: list[tuple[Any, ...]], seed: int
) -> None:
    rows = [
        {
            "ts_ms": t * 1000 + i,
            "kind": k,
            "actor_kind": a,
            "team": team,
            "priority": p,
            "status": None,
            **dict.fromkeys(
                ("channel", "category", "customer_id", "region", "segment", "service", "agent_id")
            ),
        }
        for i, (t, k, a, team, p) in enumerate(events)
    ]
    in_order = fresh_ticket("T")
    for row in sorted(rows, key=lambda r: r["ts_ms"]):
        apply_event(in_order, row)
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    any_order = fresh_ticket("T")
    for row in shuffled:
        apply_event(any_order, row)
    assert any_order == in_order


def _rollup_rows(db: Database) -> list[tuple[Any, ...]]:
    with unit_of_work(db, write=False) as session:
        rows = session.execute(
            select(
                Rollup.series_id,
                Rollup.grain,
                Rollup.bucket_ms,
                Rollup.count,
                Rollup.sum,
                Rollup.min,
                Rollup.max,
                Rollup.sketch,
            ).order_by(Rollup.series_id, Rollup.grain, Rollup.bucket_ms)
        ).all()
    from juncture.signals import sketch

    return [(*r[:4], round(r[4], 6), r[5], r[6], sketch.loads(r[7])) for r in rows]


def test_rebuild_from_raw_rows_gives_identical_rollups(db: Database) -> None:
    seed_catalog(db)
    records = mixed(600, seed=3)
    for start in range(0, 600, 97):  # many small batches, touching the same buckets repeatedly
        ingest(db, records[start : start + 97])
    incremental = _rollup_rows(db)
    assert incremental
    with unit_of_work(db) as session:
        service.rebuild_rollups(session, chunk=128)
    assert _rollup_rows(db) == incremental


def test_rollups_match_a_hand_computation(db: Database) -> None:
    seed_catalog(db)
    values = [120.0, 80.0, 100.0, 400.0]
    ingest(db, [metric(i * 5, v) for i, v in enumerate(values)])  # 08:00..08:15, one hour bucket
    ingest(db, [metric(70, 60.0)])  # 09:10, next hour
    with unit_of_work(db, write=False) as session:
        series = service.read_series(
            session,
            signal_type="metric",
            metric="latency_p95_ms",
            subject="checkout",
            grain="h",
            start=BASE,
            end=BASE + timedelta(hours=3),
        )
    first, second = series["all"]
    assert (first.count, first.sum, first.min, first.max) == (4, 700.0, 80.0, 400.0)
    assert first.mean == pytest.approx(175.0)
    assert first.p50 == pytest.approx(100.0, rel=0.01)  # lower median of 80,100,120,400
    # the "lower" quantile: position floor(0.99 * (4 - 1)) = 2 of 80,100,120,400, as numpy's
    # method="lower" gives
    assert first.p99 == pytest.approx(
        float(np.quantile([80, 100, 120, 400], 0.99, method="lower")), rel=0.01
    )
    assert (second.count, second.sum) == (1, 60.0)
    assert second.bucket == BASE + timedelta(hours=1)


def test_series_group_by_and_filters(db: Database) -> None:
    seed_catalog(db)
    ingest(
        db, [metric(1, 10, region="eu"), metric(2, 30, region="eu"), metric(3, 100, region="us")]
    )
    with unit_of_work(db, write=False) as session:
        grouped = service.read_series(
            session,
            signal_type="metric",
            metric="latency_p95_ms",
            grain="d",
            start=BASE - timedelta(days=1),
            end=BASE + timedelta(days=1),
            group_by="region",
        )
        only_us = service.read_series(
            session,
            signal_type="metric",
            metric="latency_p95_ms",
            grain="d",
            start=BASE - timedelta(days=1),
            end=BASE + timedelta(days=1),
            filters={"region": "us"},
        )
    assert {k: (v[0].count, v[0].sum) for k, v in grouped.items()} == {
        "eu": (2, 40.0),
        "us": (1, 100.0),
    }
    assert [(p.count, p.max) for p in only_us["all"]] == [(1, 100.0)]


def test_quarantine_replay_after_fixing_the_catalog(db: Database) -> None:
    seed_catalog(db)
    bad = metric(1, 10, service="search")
    for _ in range(3):
        ingest(db, [bad])
    with unit_of_work(db) as session:
        rows, total = service.list_quarantine(session)
        assert total == 1 and rows[0].seen_count == 3 and rows[0].reason == "unknown_service"
        result = service.replay(session, settings=Settings(), reason="unknown_service")
        assert (result.replayed, result.accepted, result.still_quarantined) == (1, 0, 1)
    from tests.factories import make_service

    make_service(db, slug="search", name="Search")
    with unit_of_work(db) as session:
        result = service.replay(session, settings=Settings(), reason="unknown_service")
        assert (result.accepted, result.still_quarantined) == (1, 0)
        assert service.list_quarantine(session)[1] == 0
    assert raw_count(db) == 1


def test_auto_register_creates_unknown_services_and_steps(db: Database) -> None:
    seed_catalog(db)
    cfg = Settings(auto_register=True)
    result = ingest(
        db,
        [
            metric(1, 10, service="search"),
            {
                "type": "funnel",
                "ts": ts(1),
                "journey": "returns",
                "step": "start",
                "session_id": "s",
            },
        ],
        cfg,
    )
    assert result["accepted"] == 2, result
    from juncture.catalog import service as catalog_service

    with unit_of_work(db) as session:
        assert catalog_service.get_service_by_slug(session, slug="search") is not None
        journey = catalog_service.get_journey_by_slug(session, slug="returns")
        assert journey is not None and [s.slug for s in journey.steps] == ["start"]


def test_retention_purge_keeps_rollups(db: Database) -> None:
    seed_catalog(db)
    ingest(db, [metric(0, 10), metric(1, 20)])
    before = _rollup_rows(db)
    later = clock.FixedClock(BASE + timedelta(days=401))
    with clock.use_clock(later), unit_of_work(db) as session:
        removed = service.purge_expired(session, settings=Settings())
    assert removed["metric"] == 2
    assert raw_count(db) == 0
    assert _rollup_rows(db) == before


record_strategy = st.one_of(
    st.sampled_from(mixed(30, seed=9)),
    st.builds(lambda v: metric(5, v), st.floats(allow_nan=True, allow_infinity=True, width=32)),
    st.builds(
        lambda s: {"type": "survey", "ts": ts(1), "kind": "nps", "score": s}, st.integers(-3, 14)
    ),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.integers(),
    st.none(),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=st.lists(st.lists(record_strategy, max_size=25), min_size=1, max_size=4))
def test_every_record_is_accounted_for(db_with_catalog: Database, batches: list[list[Any]]) -> None:
    db = db_with_catalog
    before = raw_count(db)
    accepted = 0
    for batch in batches:
        result = ingest(db, batch)
        assert result["received"] == len(batch)
        assert (
            result["received"] == result["accepted"] + result["duplicates"] + result["quarantined"]
        )
        assert sum(result["reasons"].values()) == result["quarantined"]
        accepted += result["accepted"]
    assert raw_count(db) - before == accepted


@pytest.fixture
def db_with_catalog(db: Database) -> Database:
    seed_catalog(db)
    return db


_ = (datetime, UTC)


def test_concurrent_writers_with_overlapping_batches(db: Database) -> None:
    """Two writers ingesting overlapping batches (shared new series, tickets and keys) at once:
    no deadlock on PostgreSQL, no "database is locked" on SQLite, and exact totals."""
    import threading

    seed_catalog(db)
    records = mixed(1200, seed=21)
    batches = [records[i : i + 150] for i in range(0, 1200, 150)]
    errors: list[BaseException] = []
    results: list[dict[str, Any]] = []

    def writer(order: list[list[Any]]) -> None:
        try:
            with clock.use_clock(NOW):
                for batch in order:
                    results.append(ingest(db, batch))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [
        threading.Thread(target=writer, args=(batches,)),
        threading.Thread(target=writer, args=(batches[::-1],)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert sum(r["accepted"] for r in results) == 1200
    assert sum(r["duplicates"] for r in results) == 1200
    assert raw_count(db) == 1200


def test_vectorised_bucket_quantiles_match_the_sketch_walk() -> None:
    """The fast quantile path (bulk decode, numpy) equals the plain sketch walk, for the
    earlier JSON sketch text as Python and PostgreSQL (spaced) wrote it, merged across texts
    (the stored pairs form: tests/signals/test_sketch.py)."""
    import numpy as np

    from juncture.signals import sketch
    from juncture.signals.service import _bucket_quantiles

    rng = np.random.default_rng(3)
    buckets: list[list[str]] = []
    expected: list[list[float | None]] = []
    for i in range(40):
        parts = []
        merged = {"z": 0, "p": {}, "n": {}}
        for _ in range(1 + i % 3):
            values = np.concatenate(
                [
                    rng.gamma(2.0, 50.0, size=int(rng.integers(1, 30))),
                    -rng.gamma(1.0, 5.0, size=int(rng.integers(0, 3))),
                    np.zeros(int(rng.integers(0, 2))),
                ]
            )
            ks = sketch.bin_indices(values)
            uniq, cnt = np.unique(ks, return_counts=True)
            bins = sketch.from_indices(uniq.tolist(), cnt.tolist())
            text = sketch.dumps(bins)
            if i % 2:  # PostgreSQL's json_build_object spacing
                text = text.replace(":", " : ").replace(",", ", ")
            parts.append(text)
            merged = sketch.merge(merged, bins)
        buckets.append(parts)
        expected.append(sketch.quantiles(merged, (0.5, 0.95, 0.99)))
    assert _bucket_quantiles(buckets, (0.5, 0.95, 0.99)) == expected
