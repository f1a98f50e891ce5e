"""Incident KPIs: count by severity and root cause, MTTA, MTTR and customer-minutes lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from juncture.incidents.metrics import incident_facts
from juncture.incidents.models import Incident
from juncture.kit.errors import Invalid
from juncture.kpis import service
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
START, END = T0 - timedelta(days=1), T0 + timedelta(days=6)


def _incident(session: Any, minutes: float, **kw: Any) -> None:
    at = T0 + timedelta(minutes=minutes)
    data: dict[str, Any] = {
        "title": "x",
        "severity": "sev2",
        "services": ["checkout"],
        "regions": ["eu"],
        "started_at": at,
        "declared_at": at + timedelta(minutes=10),
    } | kw
    session.add(Incident(**data))


@pytest.fixture
def incidents(db: Database) -> Database:
    with unit_of_work(db) as session:
        # declared 10 min after start, acknowledged 5 min later, resolved 60 min after start;
        # 100 customers for 30 minutes of impact
        _incident(
            session,
            0,
            severity="sev1",
            root_cause="change.deploy",
            acknowledged_at=T0 + timedelta(minutes=15),
            resolved_at=T0 + timedelta(minutes=60),
            impact_ended_at=T0 + timedelta(minutes=30),
            impact={"customers_affected": 100},
        )
        # detected at start, acknowledged 25 min after detection, resolved after 120 min;
        # the measured snapshot already carries customer-minutes
        _incident(
            session,
            24 * 60,
            severity="sev2",
            root_cause="dependency",
            services=["payments", "checkout"],
            regions=["us"],
            detected_at=T0 + timedelta(days=1),
            acknowledged_at=T0 + timedelta(days=1, minutes=25),
            resolved_at=T0 + timedelta(days=1, minutes=120),
            impact={"customers_affected": 50, "customer_minutes_lost": 4000.0},
        )
        # open, never acknowledged, never measured
        _incident(session, 2 * 24 * 60, severity="sev2", root_cause=None)
        # declared outside the window
        _incident(session, -3 * 24 * 60, severity="sev1")
    return db


def test_facts(incidents: Database) -> None:
    with unit_of_work(incidents) as session:
        facts = incident_facts(session, start=START, end=END)
    assert [f.severity for f in facts] == ["sev1", "sev2", "sev2"]
    assert facts[0].customer_minutes_lost == pytest.approx(100 * 30)
    assert facts[1].customer_minutes_lost == pytest.approx(4000.0)
    assert facts[2].customer_minutes_lost is None


def test_incident_kpis(incidents: Database) -> None:
    with unit_of_work(incidents) as session:
        count = service.kpi_value(session, kpi="incidents", start=START, end=END)
        assert count.value == 3
        sev2 = service.kpi_value(
            session, kpi="incidents", start=START, end=END, filters={"severity": "sev2"}
        )
        assert sev2.value == 2
        deploys = service.kpi_value(
            session, kpi="incidents", start=START, end=END, filters={"root_cause": "dependency"}
        )
        assert deploys.value == 1
        payments = service.kpi_value(
            session, kpi="incidents", start=START, end=END, filters={"service": "payments"}
        )
        assert payments.value == 1
        # MTTA: (15 - 10) declared->ack and 25 detected->ack; the open one is left out
        mtta = service.kpi_value(session, kpi="incident_mtta", start=START, end=END)
        assert mtta.value == pytest.approx((5 + 25) / 2)
        assert mtta.n == 2
        # MTTR: start -> resolved, 60 and 120 minutes
        mttr = service.kpi_value(session, kpi="incident_mttr", start=START, end=END)
        assert mttr.value == pytest.approx(90.0)
        lost = service.kpi_value(session, kpi="customer_minutes_lost", start=START, end=END)
        assert lost.value == pytest.approx(3000 + 4000)
        series = service.kpi_series(
            session, kpi="incidents", start=START, end=END, bucket="day", group_by="severity"
        )
        totals = {k: sum(p.value or 0 for p in v) for k, v in series.items()}
        assert totals == {"sev1": 1, "sev2": 2}
        # a day without incidents counts 0 (not "no data")
        (daily,) = service.kpi_series(
            session, kpi="incidents", start=START, end=END, bucket="day"
        ).values()
        by_day = {p.bucket: p.value for p in daily}
        assert len(by_day) == 8  # 7 days from 08:00 touch 8 calendar days
        assert sorted(by_day.values()) == [0.0] * 5 + [1.0, 1.0, 1.0]
        quiet = service.kpi_value(
            session, kpi="incidents", start=END + timedelta(days=30), end=END + timedelta(days=31)
        )
        assert quiet.value == 0
        with pytest.raises(Invalid):
            service.kpi_value(
                session, kpi="incidents", start=START, end=END, filters={"channel": "web"}
            )
