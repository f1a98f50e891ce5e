"""Detect service: the alert lifecycle (open, join, silence, flap, ack/unack/resolve, auto-clear,
grouping, history), rule validation, channels, and on-call objects through the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from juncture.access.models import AuditEvent
from juncture.detect import service
from juncture.detect.channels import Attempt, WebhookChannel
from juncture.detect.models import Alert, NotificationChannel
from juncture.detect.schemas import (
    AlertRuleCreate,
    AlertRuleUpdate,
    ChainCreate,
    ChannelCreate,
    PolicyCreate,
    ScheduleCreate,
    ScheduleUpdate,
    SilenceCreate,
    SilenceMatchers,
)
from juncture.kit.errors import Conflict, Invalid, NotFound
from juncture.store.engine import Database
from juncture.store.uow import Actor, unit_of_work
from tests.factories import make_team

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
ALICE = Actor(kind="user", user_id=1, label="alice@example.com", scopes=frozenset({"write"}))


def _raise(db: Database, key: str = "checkout|latency", at: datetime = T0, **kw: Any) -> int:
    data: dict[str, Any] = {
        "dedup_key": key,
        "title": "Checkout latency up",
        "summary": "p95 tripled",
        "severity": "high",
        "evidence": {"ops": {"metric": "latency_p95_ms", "value": 900.0}},
        "services": ["checkout"],
        "at": at,
    } | kw
    with unit_of_work(db) as session:
        return service.raise_alert(session, **data).id


def _kinds(db: Database, alert_id: int) -> list[str]:
    with unit_of_work(db) as session:
        return [e.kind for e in service.alert_history(session, alert_id=alert_id)]


def _alert(db: Database, alert_id: int) -> Alert:
    with unit_of_work(db) as session:
        alert = service.get_alert_or_raise(session, alert_id=alert_id)
        session.expunge(alert)
        return alert


def test_open_then_join_by_dedup_key_merges_evidence(db: Database) -> None:
    first = _raise(db)
    second = _raise(
        db,
        at=T0 + timedelta(minutes=5),
        severity="critical",
        evidence={"ops": {"value": 1200.0}, "customer": {"orders_lost": 42}},
        services=["payments"],
        customer_facing=True,
    )
    assert second == first
    alert = _alert(db, first)
    assert alert.state == "firing"
    assert alert.occurrences == 2
    assert alert.started_at == T0
    assert alert.last_seen_at == T0 + timedelta(minutes=5)
    assert alert.severity == "critical"
    assert alert.customer_facing is True
    assert alert.services == ["checkout", "payments"]
    assert alert.evidence == {
        "ops": {"metric": "latency_p95_ms", "value": 1200.0},
        "customer": {"orders_lost": 42},
    }
    assert _kinds(db, first) == ["fired", "updated"]
    # a join with nothing new adds no history
    _raise(db, at=T0 + timedelta(minutes=6), severity="critical", services=["payments"])
    assert _kinds(db, first) == ["fired", "updated"]


def test_raise_result_says_whether_to_notify(db: Database) -> None:
    with unit_of_work(db) as session:
        opened = service.raise_alert_ex(
            session, dedup_key="k", title="t", severity="warning", at=T0
        )
        joined = service.raise_alert_ex(
            session, dedup_key="k", title="t", severity="warning", at=T0
        )
        rose = service.raise_alert_ex(session, dedup_key="k", title="t", severity="high", at=T0)
    assert (opened.action, opened.notify) == ("opened", True)
    assert (joined.action, joined.notify) == ("joined", False)
    assert (rose.action, rose.notify) == ("joined", True)


def test_active_silence_suppresses_notification(db: Database) -> None:
    with unit_of_work(db, actor=ALICE) as session:
        silence = service.create_silence(
            session,
            data=SilenceCreate(
                matchers=SilenceMatchers(services=["checkout"]),
                starts_at=T0 - timedelta(hours=1),
                ends_at=T0 + timedelta(hours=1),
                reason="db migration",
            ),
        )
        assert silence.created_by == "alice@example.com"
        result = service.raise_alert_ex(
            session, dedup_key="k1", title="t", severity="high", services=["checkout"], at=T0
        )
        assert result.silence is not None and result.silence.id == silence.id
        assert result.notify is False
        other = service.raise_alert_ex(
            session, dedup_key="k2", title="t", severity="high", services=["search"], at=T0
        )
        assert other.silence is None and other.notify is True
        after = service.raise_alert_ex(
            session,
            dedup_key="k3",
            title="t",
            severity="high",
            services=["checkout"],
            at=T0 + timedelta(hours=2),
        )
        assert after.silence is None
        ids = result.alert.id, other.alert.id
    assert _kinds(db, ids[0]) == ["fired", "silenced"]
    assert _kinds(db, ids[1]) == ["fired"]


def test_silence_matchers_combine_and_reject_match_all(db: Database) -> None:
    alert = Alert(services=["checkout"], journeys=["buy"], rule_id=None, severity="warning")
    assert service.silence_matches({"services": ["checkout"], "severities": ["warning"]}, alert)
    assert not service.silence_matches({"services": ["checkout"], "severities": ["high"]}, alert)
    assert service.silence_matches({"journeys": ["buy", "browse"]}, alert)
    assert not service.silence_matches({"rule_ids": [3]}, alert)
    assert not service.silence_matches({}, alert)
    with unit_of_work(db) as session, pytest.raises(Invalid) as exc:
        service.create_silence(
            session,
            data=SilenceCreate(matchers=SilenceMatchers(), starts_at=T0, ends_at=T0 + timedelta(1)),
        )
    assert exc.value.code == "silence_matches_everything"


def test_flap_reopens_within_window_and_counts(db: Database) -> None:
    alert_id = _raise(db)
    with unit_of_work(db, actor=ALICE) as session:
        service.resolve(session, alert_id=alert_id, at=T0 + timedelta(minutes=10))
    again = _raise(db, at=T0 + timedelta(minutes=20))
    assert again == alert_id
    alert = _alert(db, alert_id)
    assert (alert.state, alert.flap_count, alert.resolved_at) == ("firing", 1, None)
    assert alert.open_dedup_key == alert.dedup_key
    # resolved long ago: a new alert, not a flap
    with unit_of_work(db, actor=ALICE) as session:
        service.resolve(session, alert_id=alert_id, at=T0 + timedelta(minutes=30))
    fresh = _raise(db, at=T0 + timedelta(hours=3))
    assert fresh != alert_id
    assert _kinds(db, alert_id) == ["fired", "resolved", "reopened", "resolved"]
    with unit_of_work(db) as session:
        rows, total = service.list_alerts(session, state="open")
        assert total == 1 and rows[0].id == fresh


def test_transitions_and_conflict_codes(db: Database) -> None:
    alert_id = _raise(db)
    with unit_of_work(db, actor=ALICE) as session:
        with pytest.raises(Conflict) as exc:
            service.unacknowledge(session, alert_id=alert_id)
        assert exc.value.code == "not_acknowledged"
        alert = service.acknowledge(session, alert_id=alert_id, at=T0 + timedelta(minutes=1))
        assert (alert.state, alert.acknowledged_by) == ("acknowledged", "alice@example.com")
        with pytest.raises(Conflict) as exc:
            service.acknowledge(session, alert_id=alert_id)
        assert exc.value.code == "already_acknowledged"
        alert = service.unacknowledge(session, alert_id=alert_id, at=T0 + timedelta(minutes=2))
        assert (alert.state, alert.acknowledged_at) == ("firing", None)
        service.acknowledge(session, alert_id=alert_id, at=T0 + timedelta(minutes=3), note="on it")
        alert = service.resolve(session, alert_id=alert_id, at=T0 + timedelta(minutes=4))
        assert (alert.state, alert.resolved_by, alert.open_dedup_key) == (
            "resolved",
            "alice@example.com",
            None,
        )
        for verb, code in (
            (service.acknowledge, "alert_resolved"),
            (service.unacknowledge, "alert_resolved"),
            (service.resolve, "already_resolved"),
        ):
            with pytest.raises(Conflict) as exc:
                verb(session, alert_id=alert_id)
            assert exc.value.code == code
        with pytest.raises(NotFound):
            service.acknowledge(session, alert_id=999)
    with unit_of_work(db) as session:
        found = service.get_alert_with_history(session, alert_id=alert_id)
        kinds = [(e.kind, e.actor) for e in found.history]
        assert kinds == [
            ("fired", "system"),
            ("acknowledged", "alice@example.com"),
            ("unacknowledged", "alice@example.com"),
            ("acknowledged", "alice@example.com"),
            ("resolved", "alice@example.com"),
        ]
        assert found.history[3].detail == {"note": "on it"}
        assert [e.at for e in found.history] == sorted(e.at for e in found.history)
        # audited: creation and state changes, not evaluation noise
        audit = session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "alert", AuditEvent.object_id == str(alert_id))
            .order_by(AuditEvent.id)
        ).all()
        assert audit == ["alert.create"] + ["alert.update"] * 4


def test_joins_are_not_audited(db: Database) -> None:
    alert_id = _raise(db)
    for minute in range(1, 4):
        _raise(db, at=T0 + timedelta(minutes=minute))
    with unit_of_work(db) as session:
        count = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.object_type == "alert", AuditEvent.object_id == str(alert_id))
        )
    assert count == 1


def test_clear_resolves_after_the_delay_and_a_firing_cancels_it(db: Database) -> None:
    alert_id = _raise(db)
    delay = timedelta(minutes=5)
    with unit_of_work(db) as session:
        alert = service.clear_alert(session, dedup_key="checkout|latency", at=T0, clear_delay=delay)
        assert alert is not None and alert.state == "firing" and alert.clear_since == T0
    _raise(db, at=T0 + timedelta(minutes=3))  # the condition is back: clearing cancelled
    with unit_of_work(db) as session:
        step = T0 + timedelta(minutes=4)
        service.clear_alert(session, dedup_key="checkout|latency", at=step, clear_delay=delay)
        alert = service.clear_alert(
            session, dedup_key="checkout|latency", at=step + timedelta(minutes=4), clear_delay=delay
        )
        assert alert is not None and alert.state == "firing"
        alert = service.clear_alert(
            session, dedup_key="checkout|latency", at=step + delay, clear_delay=delay
        )
        assert alert is not None
        assert (alert.state, alert.resolved_by) == ("resolved", "system")
        assert service.clear_alert(session, dedup_key="checkout|latency", at=step) is None
        assert service.clear_alert(session, dedup_key="nothing-open") is None
    history = _kinds(db, alert_id)
    assert history[-1] == "resolved"


def test_grouping_by_service_or_journey_within_the_window(db: Database) -> None:
    a = _raise(db, key="a", services=["checkout"])
    b = _raise(db, key="b", services=["checkout", "payments"], at=T0 + timedelta(minutes=10))
    c = _raise(db, key="c", services=["search"], at=T0 + timedelta(minutes=10))
    d = _raise(db, key="d", services=[], journeys=["buy"], at=T0 + timedelta(minutes=11))
    e = _raise(db, key="e", services=[], journeys=["buy"], at=T0 + timedelta(minutes=12))
    f = _raise(db, key="f", services=["checkout"], at=T0 + timedelta(hours=2))
    g = _raise(db, key="g", services=["checkout"], at=T0 + timedelta(minutes=1), group_key="x")
    keys = {
        n: _alert(db, i).group_key for n, i in zip("abcdefg", (a, b, c, d, e, f, g), strict=True)
    }
    assert keys["a"] == keys["b"] == "service:checkout@20261102T1200"
    assert keys["c"] != keys["a"]
    assert keys["d"] == keys["e"] == "journey:buy@20261102T1211"
    assert keys["f"] != keys["a"]
    assert keys["g"] == "x"
    with unit_of_work(db) as session:
        rows, total = service.list_alerts(session, group_key=keys["a"])
        assert total == 2 and {r.id for r in rows} == {a, b}


def test_list_alerts_filters_and_pages(db: Database) -> None:
    a = _raise(db, key="a", services=["checkout"], severity="critical", customer_facing=True)
    b = _raise(db, key="b", services=["search"], journeys=["browse"], at=T0 + timedelta(minutes=1))
    c = _raise(db, key="c", services=["checkout-eu"], at=T0 + timedelta(minutes=2))
    with unit_of_work(db, actor=ALICE) as session:
        service.acknowledge(session, alert_id=b)

        def ids(**kw: Any) -> list[int]:
            return [r.id for r in service.list_alerts(session, **kw)[0]]

        assert ids() == [c, b, a]
        assert ids(service="checkout") == [a]  # exact element, not a prefix
        assert ids(journey="browse") == [b]
        assert ids(state="acknowledged") == [b]
        assert ids(state="firing") == [c, a]
        assert ids(severity="critical") == [a]
        assert ids(customer_facing=True) == [a]
        assert ids(limit=1, offset=1) == [b]
        assert service.list_alerts(session, limit=1)[1] == 3


def test_rule_crud_and_validation_per_kind(db: Database) -> None:
    team = make_team(db)
    with unit_of_work(db) as session:
        rule = service.create_rule(
            session,
            data=AlertRuleCreate(
                name="Checkout drop-off",
                kind="threshold",
                target={"kpi": "dropoff", "filters": {"step": "purchase/checkout"}},
                params={"threshold": 0.2, "for_minutes": 10},
                severity="critical",
                owner_team_id=team,
            ),
        )
        assert rule.params == {"threshold": 0.2, "op": ">", "for_minutes": 10}
        burn = service.create_rule(
            session,
            data=AlertRuleCreate(
                name="Checkout SLO",
                kind="burn_rate",
                target={"signal_type": "metric", "metric": "error_rate", "subject": "checkout"},
                params={"slo": 0.999},
                owner_team_id=team,
            ),
        )
        assert len(burn.params["windows"]) == 2
        rule_id = rule.id
    bad: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
        ("threshold", {"kpi": "dropoff"}, {}, "invalid_rule_params"),
        ("threshold", {"kpi": "dropoff"}, {"threshold": 1, "op": "=="}, "invalid_rule_params"),
        ("baseline", {"kpi": "dropoff"}, {"min_score": 2}, "invalid_rule_params"),
        ("burn_rate", {"kpi": "availability"}, {"slo": 1.5}, "invalid_rule_params"),
        (
            "burn_rate",
            {"kpi": "availability"},
            {"slo": 0.99, "windows": [{"long_minutes": 5, "short_minutes": 60, "factor": 2}]},
            "invalid_rule_params",
        ),
        ("customer_impact", {"kpi": "csat"}, {}, "invalid_rule_params"),
        ("baseline", {}, {}, "invalid_rule_target"),
        ("baseline", {"kpi": "csat", "metric": "x"}, {}, "invalid_rule_target"),
        ("baseline", {"metric": "latency"}, {}, "invalid_rule_target"),
        ("baseline", {"kpi": "csat", "colour": "red"}, {}, "invalid_rule_target"),
    ]
    for n, (kind, target, params, code) in enumerate(bad):
        with unit_of_work(db) as session, pytest.raises(Invalid) as exc:
            service.create_rule(
                session,
                data=AlertRuleCreate(
                    name=f"bad {n}", kind=kind, target=target, params=params, owner_team_id=team
                ),
            )
        assert exc.value.code == code, (kind, target, params)
    with unit_of_work(db) as session:
        with pytest.raises(Conflict) as conflict:
            service.create_rule(
                session,
                data=AlertRuleCreate(
                    name="Checkout SLO",
                    kind="baseline",
                    target={"kpi": "csat"},
                    owner_team_id=team,
                ),
            )
        assert conflict.value.code == "rule_exists"
    with unit_of_work(db) as session:
        with pytest.raises(Invalid):  # changing the kind re-checks the params
            service.update_rule(session, rule_id=rule_id, data=AlertRuleUpdate(kind="burn_rate"))
    with unit_of_work(db) as session:
        updated = service.update_rule(
            session,
            rule_id=rule_id,
            data=AlertRuleUpdate(kind="baseline", params={"min_score": 0.8}, enabled=False),
        )
        assert updated.params == {"min_score": 0.8, "direction": "both", "for_minutes": 0}
        assert updated.enabled is False
    # deleting a rule keeps its alerts
    alert_id = _raise(db, rule_id=rule_id)
    with unit_of_work(db) as session:
        service.delete_rule(session, rule_id=rule_id)
    assert _alert(db, alert_id).rule_id is None


def _schedule_spec(name: str = "primary") -> dict[str, Any]:
    return {
        "name": name,
        "time_zone": "Europe/Berlin",
        "layers": [
            {
                "name": "weekly",
                "time_zone": "Europe/Berlin",
                "participants": ["ana", "ben"],
                "kind": "weekly",
                "start": "2026-11-02",
                "handoff": "09:00",
            }
        ],
        "overrides": [
            {"user": "cleo", "start": "2026-11-10T00:00:00Z", "end": "2026-11-10T12:00:00Z"}
        ],
    }


def test_schedules_on_call_through_the_database(db: Database) -> None:
    team = make_team(db, slug="payments-sre")
    with unit_of_work(db) as session:
        row = service.create_schedule(
            session, data=ScheduleCreate(team_id=team, spec=_schedule_spec())
        )
        sid = row.id
        assert row.name == "primary"
    with unit_of_work(db) as session:
        on = service.who_is_on_call
        assert on(session, schedule_id=sid, at=datetime(2026, 11, 2, 7, tzinfo=UTC)) is None
        assert on(session, schedule_id=sid, at=datetime(2026, 11, 3, 7, tzinfo=UTC)) == "ana"
        assert on(session, schedule_id=sid, at=datetime(2026, 11, 10, 7, tzinfo=UTC)) == "cleo"
        assert on(session, schedule_id=sid, at=datetime(2026, 11, 10, 13, tzinfo=UTC)) == "ben"
        assert service.schedule_resolver(session)("primary", T0 + timedelta(days=1)) == "ana"
        with pytest.raises(NotFound):
            on(session, schedule_id=sid + 100, at=T0)
    with unit_of_work(db) as session, pytest.raises(Invalid) as exc:
        spec = _schedule_spec("tz") | {"time_zone": "Mars/Olympus"}
        service.create_schedule(session, data=ScheduleCreate(spec=spec))
    assert exc.value.code == "invalid_schedule"
    with unit_of_work(db) as session, pytest.raises(Conflict) as conflict:
        service.create_schedule(session, data=ScheduleCreate(spec=_schedule_spec()))
    assert conflict.value.code == "schedule_exists"
    # a policy paging the schedule, a channel and a chain using the policy
    with unit_of_work(db) as session:
        with pytest.raises(Invalid) as exc:
            service.create_policy(
                session,
                data=PolicyCreate(
                    spec={
                        "name": "p",
                        "steps": [
                            {"targets": [{"kind": "schedule", "ref": "nope"}], "wait_minutes": 5}
                        ],
                    }
                ),
            )
        assert exc.value.code == "unknown_schedule"
    with unit_of_work(db) as session:
        service.create_policy(
            session,
            data=PolicyCreate(
                spec={
                    "name": "payments-default",
                    "steps": [
                        {"targets": [{"kind": "schedule", "ref": "primary"}], "wait_minutes": 10},
                        {"targets": [{"kind": "team", "ref": "payments-sre"}], "wait_minutes": 30},
                    ],
                }
            ),
        )
        service.create_channel(
            session,
            data=ChannelCreate(
                name="ops-slack", config={"kind": "slack", "url": "https://hooks.slack.com/x/y"}
            ),
        )
        with pytest.raises(Invalid) as exc:
            service.create_chain(
                session,
                data=ChainCreate(
                    name="bad", spec={"policy": "payments-default", "channels": ["pager"]}
                ),
            )
        assert exc.value.code == "unknown_channel"
        service.create_chain(
            session,
            data=ChainCreate(
                name="payments critical",
                spec={
                    "team": "payments-sre",
                    "severities": ["critical"],
                    "policy": "payments-default",
                    "channels": ["ops-slack"],
                },
            ),
        )
        match = service.route_alert(session, team="payments-sre", severity="critical")
        assert (match.policy, match.channels) == ("payments-default", ("ops-slack",))
    with unit_of_work(db) as session, pytest.raises(Conflict) as conflict:
        service.delete_schedule(session, schedule_id=sid)
    assert conflict.value.code == "schedule_in_use"
    with unit_of_work(db) as session, pytest.raises(Conflict) as conflict:
        service.update_schedule(
            session, schedule_id=sid, data=ScheduleUpdate(spec=_schedule_spec("renamed"))
        )
    assert conflict.value.code == "schedule_in_use"


def test_channels_store_secrets_mask_reads_and_record_deliveries(db: Database) -> None:
    alert_id = _raise(db)
    config = {
        "kind": "webhook",
        "url": "https://ops.example.com/hooks/juncture",
        "secret": "a-long-random-secret-value",
        "headers": {"X-Tenant": "acme"},
    }
    with unit_of_work(db) as session:
        channel = service.create_channel(
            session, data=ChannelCreate(name="ops-hook", config=config)
        )
        read = service.channel_read(channel)
        assert read.config["secret"] == "***"
        assert read.config["url"] == "https://ops.example.com/***"
        assert read.config["headers"] == {"X-Tenant": "***"}
        parsed = service.channel_config(session, channel_id=channel.id)
        assert isinstance(parsed, WebhookChannel)
        assert parsed.secret.get_secret_value() == "a-long-random-secret-value"
        rows = service.record_deliveries(
            session,
            alert_id=alert_id,
            channel_id=channel.id,
            alert_state="firing",
            dedup_key="checkout|latency",
            attempts=[
                Attempt(1, T0, 120, False, 503, "HTTP 503: busy", True, 1.0),
                Attempt(2, T0 + timedelta(seconds=1), 80, True, 200),
            ],
        )
        assert [r.attempt for r in rows] == [1, 2]
        channel_id = channel.id
        audit = session.scalars(
            select(AuditEvent.after).where(AuditEvent.object_type == "notificationchannel")
        ).all()
        assert audit and audit[0]["config"] == "***"
    with unit_of_work(db) as session:
        found = service.get_alert_with_history(session, alert_id=alert_id)
        assert [d.ok for d in found.deliveries] == [False, True]
        assert found.history[-1].kind == "notified"
        assert found.history[-1].detail["channel"] == "ops-hook"
        stored = session.get(NotificationChannel, channel_id)
        assert stored is not None and stored.config["secret"] == "a-long-random-secret-value"
    for bad in ({"kind": "pager"}, {"kind": "webhook", "url": "https://x", "secret": "short"}, {}):
        with unit_of_work(db) as session, pytest.raises(Invalid) as exc:
            service.create_channel(session, data=ChannelCreate(name="bad", config=bad))
        assert exc.value.code == "invalid_channel_config"
