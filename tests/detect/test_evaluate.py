"""The alert engine's evaluation on ingested data (both engines): threshold rules open, join
and clear alerts; customer-impact rules join an operational jump to a customer effect; the
catch-up walks history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest

from juncture.detect import evaluate, service
from juncture.detect.models import Alert
from juncture.detect.schemas import CustomerImpactParams, RuleTarget, ThresholdParams
from juncture.kit import clock
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work
from tests.detect.world import (
    SETTINGS,
    T0,
    company,
    evaluate_at,
    funnel,
    ingest,
    iso,
    latency,
    make_rule,
    noisy,
)


def _alerts(db: Database) -> list[Alert]:
    with unit_of_work(db) as session:
        rows, _ = service.list_alerts(session, limit=100)
        for row in rows:
            session.expunge(row)
        return list(rows)


def _kinds(db: Database, alert_id: int) -> list[str]:
    with unit_of_work(db) as session:
        return [e.kind for e in service.alert_history(session, alert_id=alert_id)]


def _spike(
    start: datetime, end: datetime, high: float, base: float = 200.0
) -> Callable[[int, datetime], float]:
    return lambda _i, at: high if start <= at < end else base


def test_threshold_params_clear_threshold_defaults_and_checks() -> None:
    assert ThresholdParams(threshold=800).clear_threshold is None
    assert ThresholdParams(threshold=800, clear_threshold=600).clear_threshold == 600
    with pytest.raises(ValueError, match="normal side"):
        ThresholdParams(threshold=800, clear_threshold=900)
    with pytest.raises(ValueError, match="normal side"):
        ThresholdParams(threshold=10, op="<", clear_threshold=5)


def test_threshold_rule_fires_joins_and_clears_after_the_delay(db: Database) -> None:
    team = company(db)
    start = T0 - timedelta(hours=1)
    records = latency(start, 120, _spike(T0, T0 + timedelta(minutes=10), 1200.0), "checkout")
    ingest(db, records, at=start + timedelta(hours=2))
    rule = make_rule(db, team)

    # Two breaching minutes are not three.
    assert evaluate_at(db, T0 + timedelta(minutes=2))["firing"] == 0
    assert _alerts(db) == []

    summary = evaluate_at(db, T0 + timedelta(minutes=3))
    assert summary["opened"] == 1
    assert summary["to_notify"] == 1
    (alert,) = _alerts(db)
    assert alert.rule_id == rule
    assert alert.dedup_key == f"rule:{rule}"
    assert alert.state == "firing"
    assert alert.severity == "high"
    assert alert.services == ["checkout"]
    assert alert.started_at == T0 + timedelta(minutes=3)
    assert alert.evidence["value"] == 1200.0
    assert alert.evidence["threshold"] == 800
    assert alert.evidence["values"][-3:] == [1200.0, 1200.0, 1200.0]
    # Due for notification now (the notify job routes it).
    assert alert.next_escalation_at == T0 + timedelta(minutes=3)

    assert evaluate_at(db, T0 + timedelta(minutes=6))["joined"] == 1
    (alert,) = _alerts(db)
    assert alert.occurrences == 2

    # The incident ends at T0+10: clearing from T0+11, resolved once clear for 5 minutes.
    assert evaluate_at(db, T0 + timedelta(minutes=11))["clearing"] == 1
    assert evaluate_at(db, T0 + timedelta(minutes=15))["clearing"] == 1
    assert _alerts(db)[0].state == "firing"
    assert evaluate_at(db, T0 + timedelta(minutes=16))["resolved"] == 1
    (alert,) = _alerts(db)
    assert alert.state == "resolved"
    assert alert.resolved_at == T0 + timedelta(minutes=16)
    assert _kinds(db, alert.id) == ["fired", "resolved"]


def test_threshold_groups_by_service_when_no_subject(db: Database) -> None:
    team = company(db)
    start = T0 - timedelta(minutes=30)
    hot = _spike(T0, T0 + timedelta(hours=1), 1500.0)
    ingest(
        db,
        latency(start, 40, hot, "checkout") + latency(start, 40, _spike(T0, T0, 0.0), "web"),
        at=T0 + timedelta(hours=1),
    )
    rule = make_rule(
        db,
        team,
        target={"signal_type": "metric", "metric": "latency_p95_ms"},
        params={"threshold": 800},
    )
    evaluate_at(db, T0 + timedelta(minutes=2))
    (alert,) = _alerts(db)
    assert alert.dedup_key == f"rule:{rule}:checkout"
    assert alert.title == "Checkout latency (checkout)"


def test_a_broken_rule_does_not_stop_the_others(db: Database) -> None:
    team = company(db)
    ingest(db, latency(T0 - timedelta(minutes=10), 10, noisy(900, 1), "checkout"), at=T0)
    make_rule(
        db,
        team,
        name="Bad step",
        kind="customer_impact",
        target={"signal_type": "funnel", "metric": "reached", "subject": "purchase/cart"},
        params={"min_customers": 1},
    )
    make_rule(db, team, params={"threshold": 800})
    summary = evaluate_at(db, T0)
    assert summary["rules"] == 2
    assert summary["opened"] == 1
    assert len(summary["errors"]) == 1
    assert "Bad step" in summary["errors"][0]


# ---------------------------------------------------------------- customer impact

HISTORY = timedelta(hours=2)


def _impact_world(
    db: Database, *, customer_effect: bool, sessions_until: datetime | None = None
) -> int:
    team = company(db)
    start = T0 - HISTORY
    minutes = int((HISTORY + timedelta(minutes=40)) / timedelta(minutes=1))
    base = noisy(200.0, 8.0)

    def lat(i: int, at: datetime) -> float:
        return base(i, at) + (700.0 if at >= T0 else 0.0)

    def drop(at: datetime) -> float:
        return 0.6 if customer_effect and at >= T0 + timedelta(minutes=3) else 0.2

    sessions = funnel(start, minutes, drop)
    if sessions_until is not None:  # the shop goes quiet: no sessions after this
        sessions = [r for r in sessions if r["ts"] < iso(sessions_until)]
    ingest(
        db,
        latency(start, minutes, lat, "checkout") + sessions,
        at=start + HISTORY + timedelta(hours=1),
    )
    return _checkout_impact_rule(db, team)


def _checkout_impact_rule(db: Database, team: int, **params: Any) -> int:
    """The customer-impact rule on the checkout step (at least 10 customers, 30-minute lag)."""
    return make_rule(
        db,
        team,
        name="Checkout customer impact",
        kind="customer_impact",
        severity="critical",
        target={"signal_type": "funnel", "metric": "reached", "subject": "purchase/checkout"},
        params={"min_customers": 10, "max_lag_minutes": 30, **params},
    )


def test_customer_impact_fires_when_latency_jumps_and_dropoff_follows(db: Database) -> None:
    rule = _impact_world(db, customer_effect=True)
    # Latency moved at T0 but customers are still fine: nothing yet.
    assert evaluate_at(db, T0 + timedelta(minutes=3))["firing"] == 0
    for minute in range(4, 16):
        evaluate_at(db, T0 + timedelta(minutes=minute))
    (alert,) = _alerts(db)
    assert alert.rule_id == rule
    assert alert.customer_facing
    assert alert.severity == "critical"
    assert alert.journeys == ["purchase"]
    assert alert.services == ["checkout"]
    assert T0 + timedelta(minutes=5) <= alert.started_at <= T0 + timedelta(minutes=10)
    ev = alert.evidence
    assert ev["component"] == "customer_impact"
    # Both sides: the customer series and the operational one, with onsets and the lag.
    # One drop-off series per region (the rule has no region filter): eu's fired.
    assert ev["customer"]["series"] == "funnel purchase/checkout drop-off eu"
    assert ev["region"] == "eu"
    assert ev["regions"] == ["eu"]
    (ops,) = [o for o in ev["ops"] if o["series"] == "checkout latency_p95_ms eu"]
    assert ops["service"] == "checkout"
    ops_onset = datetime.fromisoformat(ops["onset"])
    customer_onset = datetime.fromisoformat(ev["customer"]["onset"])
    assert abs(ops_onset - T0) <= timedelta(minutes=1)
    assert abs(customer_onset - (T0 + timedelta(minutes=3))) <= timedelta(minutes=2)
    assert 1 <= ev["lag_minutes"] <= 5
    assert ev["correlation"] is not None
    assert ev["correlation"] >= 0.5
    # About 0.4 extra drop-off x 30 sessions a minute.
    assert ev["effect"]["unit"] == "customers"
    assert ev["effect"]["customers"] >= 10
    assert ev["effect"]["orders"] == ev["effect"]["customers"]  # checkout is the order step


def test_customer_impact_stays_quiet_when_only_latency_jumps(db: Database) -> None:
    _impact_world(db, customer_effect=False)
    for minute in range(0, 30, 3):
        assert evaluate_at(db, T0 + timedelta(minutes=minute))["firing"] == 0
    assert _alerts(db) == []


# ---------------------------------------------------------------- catch-up


def test_catch_up_over_a_day_opens_and_resolves_with_history(db: Database) -> None:
    team = company(db)
    day = T0.replace(hour=0)
    incident = (day + timedelta(hours=10), day + timedelta(hours=10, minutes=30))
    ingest(
        db,
        latency(day, 24 * 60, _spike(*incident, 1500.0), "checkout"),
        at=day + timedelta(days=1),
    )
    rule = make_rule(db, team)
    with clock.use_clock(clock.FixedClock(day + timedelta(days=2))), unit_of_work(db) as session:
        result = evaluate.catch_up(
            session,
            start=day,
            end=day + timedelta(days=1),
            settings=SETTINGS,
            lookback=timedelta(hours=1),
        )
    assert result["ticks"] == 24 * 12
    assert result["opened"] == 1
    assert result["resolved"] == 1
    assert result["errors"] == []
    (alert,) = _alerts(db)
    assert alert.rule_id == rule
    assert alert.state == "resolved"
    # First tick with three complete breaching minutes; resolved 5 minutes after clearing.
    assert alert.started_at == incident[0] + timedelta(minutes=5)
    assert alert.resolved_at == incident[1] + timedelta(minutes=10)
    # History carries the times the engine would have seen; nobody was paged.
    with unit_of_work(db) as session:
        history = service.alert_history(session, alert_id=alert.id)
        assert [(e.kind, e.at) for e in history] == [
            ("fired", alert.started_at),
            ("resolved", alert.resolved_at),
        ]
    assert alert.next_escalation_at is None
    assert alert.escalation_policy is None


def test_catch_up_command(db: Database, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from juncture.cli.main import app

    team = company(db)
    start = T0 - timedelta(minutes=30)
    ingest(
        db,
        latency(start, 60, _spike(T0, T0 + timedelta(minutes=10), 1500.0), "checkout"),
        at=T0 + timedelta(hours=1),
    )
    make_rule(db, team)
    monkeypatch.setenv("JUNCTURE_DATABASE_URL", db_url)
    runner = CliRunner()
    window = ["--from", iso(start), "--to", iso(T0 + timedelta(minutes=30)), "--step", "1"]
    result = runner.invoke(app, ["detect", "catch-up", *window])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "ticks": 60,
        "opened": 1,
        "reopened": 0,
        "resolved": 1,
        "errors": [],
    }
    refused = runner.invoke(app, ["detect", "catch-up", "--from", iso(T0), "--to", iso(start)])
    assert refused.exit_code == 1
    assert "--to must be after --from" in refused.output


def test_readings_every_ten_minutes_hold_until_the_next(db: Database) -> None:
    """A service that reports every 10 minutes: "for 20 minutes" means minutes, not points."""
    team = company(db)
    start = T0 - timedelta(hours=1)
    every_ten = [
        r
        for i, r in enumerate(
            latency(start, 120, _spike(T0, T0 + timedelta(minutes=40), 1200.0), "checkout")
        )
        if i % 10 == 0
    ]
    ingest(db, every_ten, at=start + timedelta(hours=2))
    make_rule(db, team, params={"threshold": 800, "for_minutes": 20})
    # readings at T0, T0+10, T0+20 breach: the 20th breaching minute is T0+19
    assert evaluate_at(db, T0 + timedelta(minutes=18))["firing"] == 0
    assert evaluate_at(db, T0 + timedelta(minutes=20))["opened"] == 1
    # a reading stands for at most 15 minutes: after that the series is missing, not breaching
    assert evaluate._hold(np.array([1.0, np.nan, np.nan]), limit=1)[2] != 1.0


def test_customer_impact_finding_goes_stale_when_customers_stop_arriving(db: Database) -> None:
    """Missing points never clear a finding; after an hour without an abnormal customer point
    the rule stops firing instead of holding the alert open overnight."""
    _impact_world(db, customer_effect=True, sessions_until=T0 + timedelta(minutes=20))
    for minute in range(4, 16):
        evaluate_at(db, T0 + timedelta(minutes=minute))
    (alert,) = _alerts(db)
    assert alert.state == "firing"
    # still firing while the last abnormal customer minute is recent
    assert evaluate_at(db, T0 + timedelta(minutes=50))["firing"] == 1
    # sessions stop at T0+20, so the drop-off windows (the rule's default and the slow one,
    # three times as long) are abnormal until about T0+20+slow-1, missing after; more than an
    # hour after that the finding is stale (and ended: QUIET_END_MINUTES): not firing
    slow = max(evaluate.customer_windows(CustomerImpactParams(min_customers=10)))
    last_abnormal = 20 + slow - 1
    assert evaluate_at(db, T0 + timedelta(minutes=last_abnormal + 51))["firing"] == 1
    assert evaluate_at(db, T0 + timedelta(minutes=last_abnormal + 66))["firing"] == 0


# ---------------------------------------------------------------- reporting interval


def _ops(db: Database, end: datetime) -> list[evaluate._OpsSide]:
    start = end - timedelta(hours=8)
    grid = evaluate.Grid(int(start.timestamp() * 1000), 8 * 60)
    with unit_of_work(db) as session:
        return evaluate._ops_sides(session, grid, ["checkout"], "eu")


@pytest.mark.parametrize("every", [1, 10])
def test_ops_baseline_spans_six_hours_at_the_native_grain(db: Database, every: int) -> None:
    """A latency plateau of an hour stays a deviation whether the service reports every
    minute or every 10 minutes: the baseline covers 6 hours of readings, not 36 readings
    (36 minutes at a 1-minute grain, which the plateau would fill)."""
    company(db)
    end = T0 + timedelta(hours=1)
    start = end - timedelta(hours=8)
    base = noisy(200.0, 8.0)
    rows = latency(
        start, 8 * 60, lambda i, at: base(i, at) + (200.0 if at >= T0 else 0.0), "checkout"
    )
    ingest(db, rows[::every], at=end)
    (ops,) = _ops(db, end)
    assert ops.step == every
    expected = np.asarray(ops.side.expected, dtype=np.float64)
    scale = np.asarray(ops.side.scale, dtype=np.float64)
    values = np.asarray(ops.side.values, dtype=np.float64)
    # The last minute: an hour into the plateau, still measured against the level before it.
    assert expected[-1] == pytest.approx(200.0, abs=10.0)
    assert (values[-1] - expected[-1]) / scale[-1] > 8.0


def test_native_step_is_the_median_gap_between_readings() -> None:
    assert evaluate.native_step(np.arange(0, 600, 10)) == 10
    assert evaluate.native_step(np.arange(600)) == 1
    # a few missing readings do not change the interval
    assert evaluate.native_step(np.delete(np.arange(600), [5, 6, 7, 100])) == 1
    assert evaluate.native_step(np.array([3])) == 1


def _impact_world_every(db: Database, every: int, spike_minutes: int, ops_points: int) -> None:
    """Latency jumps at T0 for ``spike_minutes`` and customers drop off from T0 + 3 min,
    with latency reported every ``every`` minutes."""
    team = company(db)
    start = T0 - timedelta(hours=4)
    minutes = int((timedelta(hours=4) + timedelta(minutes=40)) / timedelta(minutes=1))
    base = noisy(200.0, 8.0)
    spike = (T0, T0 + timedelta(minutes=spike_minutes))

    def lat(i: int, at: datetime) -> float:
        return base(i, at) + (700.0 if spike[0] <= at < spike[1] else 0.0)

    def drop(at: datetime) -> float:
        return 0.6 if at >= T0 + timedelta(minutes=3) else 0.2

    ingest(
        db,
        latency(start, minutes, lat, "checkout")[::every] + funnel(start, minutes, drop),
        at=T0 + timedelta(hours=1),
    )
    _checkout_impact_rule(db, team, ops_points=ops_points)


@pytest.mark.parametrize(
    ("every", "spike_minutes", "fires"),
    [
        (1, 2, True),  # two 1-minute readings in a row: enough
        (1, 1, False),  # one 1-minute reading: not enough
        (10, 20, True),  # two 10-minute readings in a row
        (10, 10, False),  # one 10-minute reading held for 10 minutes is still one reading
    ],
)
def test_ops_points_count_readings_at_the_native_grain(
    db: Database, every: int, spike_minutes: int, fires: bool
) -> None:
    _impact_world_every(db, every, spike_minutes, ops_points=2)
    for minute in range(4, 31):
        evaluate_at(db, T0 + timedelta(minutes=minute))
    alerts = _alerts(db)
    assert bool(alerts) is fires
    if fires:
        (alert,) = alerts
        (ops,) = [o for o in alert.evidence["ops"] if o["series"] == "checkout latency_p95_ms eu"]
        assert abs(datetime.fromisoformat(ops["onset"]) - T0) <= timedelta(minutes=1)


def _metric(
    start: datetime, minutes: int, metric: str, value: Callable[[int, datetime], float]
) -> list[dict[str, Any]]:
    return [
        {
            "type": "metric",
            "ts": iso(start + timedelta(minutes=i, seconds=10)),
            "service": "checkout",
            "metric": metric,
            "value": value(i, start + timedelta(minutes=i)),
            "unit": "count" if metric == "requests" else "ratio",
            "labels": {"region": "eu"},
        }
        for i in range(minutes)
    ]


@pytest.mark.parametrize(("error_window", "fires"), [(1, False), (5, True)])
def test_error_rate_of_a_quiet_service_is_pooled_over_minutes(
    db: Database, error_window: int, fires: bool
) -> None:
    """Six requests a minute: one error is already a rate of 17%, so a per-minute error rate
    cannot move by 8 scales even when 40% of requests fail; pooled over 5 minutes of requests
    (errors over requests) the same fault stands out."""
    team = company(db)
    start = T0 - timedelta(hours=4)
    minutes = 4 * 60 + 40
    rng = np.random.default_rng(11)
    errors = [
        int(rng.binomial(6, 0.4 if start + timedelta(minutes=i) >= T0 else 0.003))
        for i in range(minutes)
    ]

    def drop(at: datetime) -> float:
        return 0.6 if at >= T0 + timedelta(minutes=3) else 0.2

    ingest(
        db,
        _metric(start, minutes, "requests", lambda _i, _at: 6.0)
        + _metric(start, minutes, "error_rate", lambda i, _at: round(errors[i] / 6, 5))
        + funnel(start, minutes, drop),
        at=T0 + timedelta(hours=1),
    )
    _checkout_impact_rule(db, team, error_window_minutes=error_window)
    for minute in range(4, 21):
        evaluate_at(db, T0 + timedelta(minutes=minute))
    alerts = _alerts(db)
    assert bool(alerts) is fires
    if fires:
        (alert,) = alerts
        (ops,) = [o for o in alert.evidence["ops"] if o["series"] == "checkout error_rate eu"]
        assert T0 <= datetime.fromisoformat(ops["onset"]) <= T0 + timedelta(minutes=5)


def test_pool_errors_is_errors_over_requests() -> None:
    rates = np.array([0.0, 0.5, 0.0, 1.0])
    requests = np.array([10.0, 2.0, 4.0, 1.0])
    pooled, req = evaluate._pool_errors(rates, requests, 2)
    assert pooled == pytest.approx([0.0, 1 / 12, 1 / 6, 1 / 5])
    assert req is not None
    assert req == pytest.approx([10.0, 12.0, 6.0, 5.0])
    # without requests: the mean rate
    mean, none = evaluate._pool_errors(rates, None, 2)
    assert none is None
    assert mean == pytest.approx([0.0, 0.25, 0.25, 0.5])


# ---------------------------------------------------------------- windows and regions


def _two_region_world(db: Database) -> int:
    """Checkout latency jumps in us at T0 and us customers drop off from T0 + 3 min; eu is
    quiet."""
    team = company(db)
    start = T0 - HISTORY
    minutes = int((HISTORY + timedelta(minutes=40)) / timedelta(minutes=1))
    base = noisy(200.0, 8.0)

    def us(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for row in rows:
            r = dict(row)
            if "labels" in r:
                r["labels"] = {**r["labels"], "region": "us"}
            else:
                r["region"] = "us"
                r["session_id"] = "u" + r["session_id"]
            out.append(r)
        return out

    def drop(at: datetime) -> float:
        return 0.6 if at >= T0 + timedelta(minutes=3) else 0.2

    records = (
        latency(start, minutes, base, "checkout")
        + us(
            latency(
                start, minutes, lambda i, at: base(i, at) + (700.0 if at >= T0 else 0.0), "checkout"
            )
        )
        + funnel(start, minutes, lambda _at: 0.2)
        + us(funnel(start, minutes, drop, seed=8))
    )
    ingest(db, records, at=start + HISTORY + timedelta(hours=1))
    return _checkout_impact_rule(db, team)


def test_funnel_sides_per_region_all_regions_and_the_slow_window(db: Database) -> None:
    """Without a region filter a funnel step is read per region and over all regions
    together, each over window_minutes and three times that; the all-regions series is
    joined to every region's operational series."""
    _two_region_world(db)
    params = CustomerImpactParams(min_customers=10, window_minutes=10)
    assert evaluate.customer_windows(params) == (10, 30)
    target = RuleTarget(signal_type="funnel", metric="reached", subject="purchase/checkout")
    end = T0 + timedelta(minutes=20)
    grid = evaluate.Grid(int((end - timedelta(hours=6)).timestamp() * 1000), 6 * 60)
    long_grid = evaluate.Grid(grid.start_ms - 25 * 60 * 60_000, grid.n + 25 * 60)
    with unit_of_work(db) as session:
        sides = evaluate._customer_sides(session, grid, long_grid, target, SETTINGS, params)
    names = [c.side.name for c in sides]
    assert names == [
        "funnel purchase/checkout drop-off eu",
        "funnel purchase/checkout drop-off eu over 30 min",
        "funnel purchase/checkout drop-off us",
        "funnel purchase/checkout drop-off us over 30 min",
        "funnel purchase/checkout drop-off all regions",
        "funnel purchase/checkout drop-off all regions over 30 min",
    ]
    assert [c.ops_regions for c in sides] == [("eu",)] * 2 + [("us",)] * 2 + [("eu", "us")] * 2
    assert [c.region for c in sides] == ["eu", "eu", "us", "us", None, None]


def test_a_regional_fault_fires_once_and_counts_its_customers_once(db: Database) -> None:
    """us customers drop off after us latency jumps: the per-region, all-regions and slow
    series of the step may all be ongoing, but the effect counts each customer once (a
    region's largest window; the regions' sum or the all-regions series, not both)."""
    _two_region_world(db)
    for minute in range(4, 20):
        evaluate_at(db, T0 + timedelta(minutes=minute))
    (alert,) = _alerts(db)
    ev = alert.evidence
    assert "us" in ev["regions"] and "eu" not in ev["regions"]
    assert all(o["region"] == "us" for o in ev["ops"])
    effect = ev["effect"]
    # About 0.4 extra drop-off × 30 us sessions a minute for some 15 minutes: ~180, not
    # twice or four times that
    assert 60 <= effect["customers"] <= 300
    assert set(effect["by_region"]) == {"us"}
    assert effect["customers"] >= effect["by_region"]["us"]


def test_step_excess_takes_a_regions_largest_window_and_no_double_count() -> None:
    def finding(excess: float) -> Any:
        return type("F", (), {"excess": excess})()

    def cust(region: str | None) -> Any:
        return type("C", (), {"region": region})()

    firing = [
        (finding(40.0), cust("eu")),
        (finding(55.0), cust("eu")),  # eu's slow window
        (finding(20.0), cust("us")),
        (finding(70.0), cust(None)),  # all regions
    ]
    total, by_region = evaluate._step_excess(firing)
    assert by_region == {"eu": 55.0, "us": 20.0}
    assert total == 75.0
    total, _ = evaluate._step_excess([(finding(70.0), cust(None)), (finding(10.0), cust("us"))])
    assert total == 70.0
