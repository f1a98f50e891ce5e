"""The simulated on-call staff acknowledge alerts through the detect service, deterministically."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from juncture.detect import service as detect_service
from juncture.simulate import responders
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def test_plan_is_deterministic_and_follows_severity() -> None:
    a = responders.plan("rule:1", T0, "critical")
    assert a == responders.plan("rule:1", T0, "critical")
    criticals = [responders.plan(f"k{i}", T0, "critical").ack_after for i in range(200)]
    infos = [responders.plan(f"k{i}", T0, "info").ack_after for i in range(200)]
    median = sorted(criticals)[100]
    assert timedelta(minutes=2) < median < timedelta(minutes=4.5)  # median 3 min
    assert sorted(infos)[100] > median * 5


def test_respond_acknowledges_when_due_and_records_escalations(db: Database) -> None:
    keys = [f"k{i}" for i in range(40)]
    with unit_of_work(db) as session:
        ids = {
            k: detect_service.raise_alert(
                session, dedup_key=k, title=k, severity="warning", at=T0
            ).id
            for k in keys
        }
    later = T0 + timedelta(hours=5)
    with unit_of_work(db) as session:
        assert responders.respond(session, now=T0) == 0  # nobody is that fast
        acked = responders.respond(session, now=later)
    assert acked == len(keys)
    with unit_of_work(db) as session:
        for k in keys:
            plan = responders.plan(k, T0, "warning")
            alert = detect_service.get_alert_or_raise(session, alert_id=ids[k])
            assert alert.state == "acknowledged"
            assert alert.acknowledged_at == T0 + plan.ack_after
            kinds = [e.kind for e in detect_service.alert_history(session, alert_id=ids[k])]
            assert ("escalated" in kinds) == plan.escalates
            who = plan.secondary if plan.escalates else plan.primary
            assert alert.acknowledged_by == f"sim:{who}"
    # with a 15-minute median, some of 40 warnings escalate and some do not
    escalations = [responders.plan(k, T0, "warning").escalates for k in keys]
    assert any(escalations) and not all(escalations)
