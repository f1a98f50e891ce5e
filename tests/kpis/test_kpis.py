"""Every KPI on a small hand-made company, computed by hand here and compared (both engines)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from juncture.config import Settings
from juncture.kit import clock
from juncture.kit.errors import Conflict, Invalid, NotFound
from juncture.kpis import service
from juncture.signals import service as signals_service
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work
from tests.factories import make_journey, make_service, make_team, make_token, make_user

MON = datetime(2026, 11, 16, tzinfo=UTC)  # a Monday
START, END = MON, MON + timedelta(days=2)  # the window: Monday and Tuesday
SETTINGS: dict[str, Any] = {
    "business_hours": {"*": {"mon-fri": "09:00-17:00"}},
    "order_step": "purchase/pay",
}


def at(hours: float) -> str:
    return (MON + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


def survey(hours: float, kind: str, score: int, region: str = "eu") -> dict[str, Any]:
    return {"type": "survey", "ts": at(hours), "kind": kind, "score": score, "region": region}


def tev(hours: float, ref: str, kind: str, actor: str = "agent", **kw: Any) -> dict[str, Any]:
    return {
        "type": "ticket",
        "ts": at(hours),
        "ticket_id": ref,
        "kind": kind,
        "actor_kind": actor,
    } | kw


def created(hours: float, ref: str, customer: str, **kw: Any) -> dict[str, Any]:
    extra = {"team": "support", "priority": "normal", "region": "eu"} | kw
    return tev(hours, ref, "created", "customer", customer_id=customer, **extra)


def records() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    # CSAT: Monday eu 5 5 4 2 1, Tuesday us 5 3; the previous window (Sunday) 5 5
    out += [survey(1 + i, "csat", s) for i, s in enumerate((5, 5, 4, 2, 1))]
    out += [survey(30 + i, "csat", s, "us") for i, s in enumerate((5, 3))]
    out += [survey(-10 - i, "csat", 5) for i in range(2)]
    # NPS: 5 promoters, 2 passives, 3 detractors
    out += [survey(2 + i / 10, "nps", s) for i, s in enumerate((10, 9, 9, 8, 7, 6, 0, 3, 10, 10))]
    # CES
    out += [survey(3 + i / 10, "ces", s) for i, s in enumerate((7, 6, 5, 2))]
    # Tickets (team support, business hours 09-17 Mon-Fri UTC)
    out += [
        created(8, "T1", "c1"),
        tev(9.5, "T1", "replied"),
        tev(10, "T1", "resolved"),
        created(12, "T2", "c2"),
        tev(12 + 10 / 60, "T2", "replied"),
        tev(12 + 20 / 60, "T2", "reassigned", team="support"),
        tev(14, "T2", "resolved"),
        created(16 + 50 / 60, "T3", "c3"),
        tev(24 + 9 + 5 / 60, "T3", "replied"),
        tev(24 + 10, "T3", "resolved"),
        tev(24 + 11, "T3", "reopened", "customer"),
        tev(24 + 12, "T3", "resolved"),
        created(24 + 10, "T4", "c1"),
        created(24 + 11, "T5", "c5"),
        tev(24 + 11 + 5 / 60, "T5", "replied"),
        tev(24 + 11.5, "T5", "assigned", priority="urgent"),
    ]
    # Availability of web (tier 1: SLO 99.9%): hourly readings 1.0, 0.998, 1.0
    out += [
        {
            "type": "metric",
            "ts": at(h + 0.5),
            "service": "web",
            "metric": "availability",
            "value": v,
            "unit": "ratio",
            "labels": {"region": "eu"},
        }
        for h, v in ((0, 1.0), (1, 0.998), (2, 1.0))
    ]
    # Funnel: 10 sessions reach the cart, 4 pay
    out += [
        {
            "type": "funnel",
            "ts": at(5),
            "journey": "purchase",
            "step": "cart",
            "session_id": f"s{i}",
            "region": "eu",
        }
        for i in range(10)
    ]
    out += [
        {
            "type": "funnel",
            "ts": at(5.1),
            "journey": "purchase",
            "step": "pay",
            "session_id": f"s{i}",
            "region": "eu",
            "value": 20.0,
        }
        for i in range(4)
    ]
    # Reviews and deploys
    out += [
        {"type": "review", "ts": at(6), "source": "app_store", "rating": r, "text": f"review {i}"}
        for i, r in enumerate((1, 2, 5, 4))
    ]
    out += [
        {
            "type": "deploy",
            "ts": at(7 + i),
            "service": "web",
            "version": f"1.{i}",
            "actor": "ci",
            "status": s,
        }
        for i, s in enumerate(("succeeded", "failed", "rolled_back"))
    ]
    return out


@pytest.fixture
def company(db: Database) -> Iterator[Database]:
    sre = make_team(db, slug="sre", name="SRE", timezone="UTC")
    make_team(db, slug="support", name="Support", kind="cx", timezone="UTC")
    web = make_service(db, owner_team_id=sre, slug="web", name="Web", tier=1)
    pay = make_service(db, owner_team_id=sre, slug="payments", name="Payments", tier=2)
    make_journey(db, slug="purchase", name="Purchase", steps=[("cart", [web]), ("pay", [pay])])
    with clock.use_clock(clock.FixedClock(MON + timedelta(days=3))):
        with unit_of_work(db) as session:
            result = signals_service.ingest(
                session, records=records(), settings=Settings(**SETTINGS), source="test"
            )
        assert result.quarantined == 0, result
        yield db


def value(db: Database, kpi: str, **filters: str) -> service.Result:
    with unit_of_work(db) as session:
        return service.kpi_value(
            session, kpi=kpi, start=START, end=END, filters=filters, settings=Settings(**SETTINGS)
        )


def close(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def test_survey_kpis_by_hand(company: Database) -> None:
    assert close(value(company, "csat").value, 100 * 4 / 7)
    assert close(value(company, "csat_mean").value, 25 / 7)
    assert close(value(company, "nps").value, 100 * (5 - 3) / 10)
    assert close(value(company, "ces").value, 20 / 4)
    assert close(value(company, "ces_easy").value, 75.0)
    assert value(company, "csat").n == 7
    assert close(value(company, "csat", region="eu").value, 60.0)
    assert close(value(company, "csat", location="us").value, 50.0)


def test_nps_interval_matches_an_independent_formula(company: Database) -> None:
    scores = np.array([10, 9, 9, 8, 7, 6, 0, 3, 10, 10])
    # each answer as +100 / 0 / -100: NPS is their mean; its standard error is the population
    # standard deviation over sqrt(n) (the multinomial variance of a difference of shares)
    points = np.where(scores >= 9, 100.0, np.where(scores <= 6, -100.0, 0.0))
    se = points.std(ddof=0) / math.sqrt(points.size)
    z = 1.959963984540054
    r = value(company, "nps")
    assert r.low is not None and r.high is not None
    assert math.isclose(r.low, points.mean() - z * se, rel_tol=1e-9)
    assert math.isclose(r.high, points.mean() + z * se, rel_tol=1e-9)


def test_ticket_kpis_by_hand(company: Database) -> None:
    # business minutes to first reply: T1 08:00->09:30 = 30, T2 10, T3 Mon 16:50->Tue 09:05 = 15,
    # T5 5; T4 unanswered
    frt = np.array([30.0, 10.0, 15.0, 5.0])
    assert close(value(company, "frt_median").value, float(np.median(frt)))
    assert close(value(company, "frt_p90").value, float(np.quantile(frt, 0.9)))
    # hours to the last resolution: T1 2, T2 2, T3 19 h 10 min
    assert close(value(company, "ttr_median").value, 2.0)
    assert close(value(company, "resolution_rate").value, 60.0)  # T1 T2 T3 of 5
    assert close(value(company, "fcr").value, 100 / 3)  # T1 only (T2 reassigned, T3 reopened)
    assert close(value(company, "reopen_rate").value, 100 / 3)
    assert close(value(company, "repeat_contact_rate").value, 20.0)  # T4: c1 again
    assert close(value(company, "handoff_rate").value, 20.0)
    assert close(value(company, "escalation_rate").value, 20.0)  # T5 raised to urgent
    assert close(value(company, "ticket_volume").value, 5.0)
    assert close(value(company, "tickets_per_1k_orders").value, 5 / 4 * 1000)
    with unit_of_work(company) as session:  # grouped: the label column and the repeat flag
        by_day = service.kpi_series(
            session, kpi="repeat_contact_rate", start=START, end=END, group_by="team"
        )["support"]
    assert [p.value for p in by_day] == pytest.approx([0.0, 50.0])  # Tue: T4 of T4, T5


def test_ops_and_journey_kpis_by_hand(company: Database) -> None:
    mean = (1.0 + 0.998 + 1.0) / 3
    assert close(value(company, "availability").value, 100 * mean)
    assert close(value(company, "slo_attainment").value, 100 * 2 / 3)
    assert close(value(company, "error_budget_remaining").value, 100 * (1 - (1 - mean) / 0.001))
    assert close(value(company, "change_failure_rate").value, 100 * 2 / 3)
    assert close(value(company, "negative_sentiment").value, 50.0)
    assert close(value(company, "conversion").value, 40.0)
    assert close(value(company, "dropoff", step="purchase/pay").value, 60.0)


def test_series_groups_and_comparison(company: Database) -> None:
    with unit_of_work(company) as session:
        days = service.kpi_series(session, kpi="csat", start=START, end=END, bucket="day")
        by_region = service.kpi_series(
            session, kpi="csat", start=START, end=END, bucket="day", group_by="region"
        )
        cmp = service.compare(session, kpi="csat", start=START, end=END)
    assert [p.value for p in days["all"]] == pytest.approx([60.0, 50.0])
    assert [p.bucket for p in days["all"]] == [MON, MON + timedelta(days=1)]
    assert by_region["eu"][0].value == pytest.approx(60.0) and by_region["eu"][1].value is None
    assert by_region["us"][1].value == pytest.approx(50.0)
    assert cmp.previous.value == pytest.approx(100.0)  # Saturday-Sunday: 5, 5
    assert cmp.delta == pytest.approx(100 * 4 / 7 - 100.0)
    assert cmp.test == "two_proportion_z"


def test_consistency_ranks_regions(company: Database) -> None:
    with unit_of_work(company) as session:
        spread = service.consistency(session, kpi="csat", by="region", start=START, end=END)
    assert [g.label for g in spread.groups] == ["eu", "us"]
    assert spread.overall == pytest.approx(100 * 4 / 7)
    assert spread.groups[0].value == pytest.approx(60.0)


def test_clear_errors(company: Database, unavailable_kpi: str) -> None:
    with unit_of_work(company) as session:
        with pytest.raises(NotFound):
            service.kpi_value(session, kpi="nope", start=START, end=END)
        with pytest.raises(Conflict):
            service.kpi_value(session, kpi=unavailable_kpi, start=START, end=END)
        with pytest.raises(Invalid):
            service.kpi_value(session, kpi="csat", start=START, end=END, filters={"team": "x"})
        with pytest.raises(Invalid):
            service.kpi_value(session, kpi="csat", start=END, end=START)


@pytest.fixture
def reader(company: Database) -> str:
    user = make_user(company, role="viewer")
    return make_token(company, user_id=user, scopes=["read"])


def test_api_value_csv_and_errors(
    company: Database, client: TestClient, reader: str, unavailable_kpi: str
) -> None:
    headers = {"Authorization": f"Bearer {reader}"}
    q = {"from": START.isoformat(), "to": END.isoformat(), "bucket": "day"}
    body = client.get("/api/v1/kpis/csat", params=q, headers=headers).json()
    assert body["value"]["value"] == pytest.approx(100 * 4 / 7)
    assert [p["value"] for p in body["groups"]["all"]] == pytest.approx([60.0, 50.0])
    text = client.get("/api/v1/kpis/csat.csv", params=q, headers=headers)
    assert text.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text.text)))
    assert [float(r["value"]) for r in rows] == [p["value"] for p in body["groups"]["all"]]
    assert [int(r["n"]) for r in rows] == [5, 2]
    catalogue = client.get("/api/v1/kpis", headers=headers).json()
    assert {"csat", "nps", "frt_median", "mttr"} <= {k["key"] for k in catalogue}
    for path, params, status, code in (
        ("/api/v1/kpis/nope", q, 404, "unknown_kpi"),
        (f"/api/v1/kpis/{unavailable_kpi}", q, 409, "kpi_unavailable"),
        ("/api/v1/kpis/csat", q | {"team": "support"}, 422, "bad_filter"),
        ("/api/v1/kpis/csat", q | {"from": "2026-11-16T00:00:00"}, 422, "naive_time"),
        ("/api/v1/kpis/csat", q | {"bucket": "year"}, 422, None),
    ):
        answer = client.get(path, params=params, headers=headers)
        assert answer.status_code == status, (path, answer.text)
        if code:
            assert answer.json()["code"] == code
    year = client.get("/api/v1/kpis/csat", params=q | {"compare_to": "year"}, headers=headers)
    cmp = year.json()["comparison"]
    assert cmp["previous_from"].startswith((START - timedelta(weeks=52)).date().isoformat())
    assert cmp["previous"]["value"] is None and cmp["delta"] is None  # no data a year back
    spread = client.get(
        "/api/v1/kpis/csat/consistency", params=q | {"by": "region"}, headers=headers
    ).json()
    assert [g["label"] for g in spread["groups"]] == ["eu", "us"]


def test_cli_show_json_and_csv(
    company: Database, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from juncture.cli import app

    monkeypatch.setenv("JUNCTURE_DATABASE_URL", db_url)
    runner = CliRunner()
    window = ["--from", START.isoformat(), "--to", END.isoformat()]
    shown = runner.invoke(app, ["kpis", "show", "csat", *window, "--format", "json"])
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.stdout)
    assert body["value"]["value"] == pytest.approx(100 * 4 / 7)
    as_csv = runner.invoke(
        app, ["kpis", "show", "csat", *window, "--format", "csv", "--group-by", "region"]
    )
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert {(r["group"], r["value"]) for r in rows if r["value"]} == {
        ("eu", "60.0"),
        ("us", "50.0"),
    }
    refused = runner.invoke(app, ["kpis", "show", "csat", *window, "--where", "team=support"])
    assert refused.exit_code == 1
    assert "cannot be sliced by 'team'" in refused.stderr


def test_random_survey_answers_equal_a_direct_count(db: Database) -> None:
    """Hundreds of random answers: the KPIs read from rollup sketches equal counts of the answers
    themselves, for the whole window, per region and per day (window edges not day-aligned)."""
    rng = np.random.default_rng(5)
    n = 600
    kinds = rng.choice(["nps", "csat", "ces"], size=n)
    high = {"nps": 10, "csat": 5, "ces": 7}
    low = {"nps": 0, "csat": 1, "ces": 1}
    scores = [int(rng.integers(low[k], high[k] + 1)) for k in kinds]
    hours = rng.uniform(0, 96, size=n)
    regions = rng.choice(["eu", "us", "apac"], size=n)
    recs = [
        survey(float(h), str(k), s, str(r))
        for h, k, s, r in zip(hours, kinds, scores, regions, strict=True)
    ]
    with clock.use_clock(clock.FixedClock(MON + timedelta(days=5))):
        with unit_of_work(db) as session:
            assert (
                signals_service.ingest(
                    session, records=recs, settings=Settings(), source="t"
                ).accepted
                == n
            )
    start, end = MON + timedelta(hours=7), MON + timedelta(hours=80)  # partial first/last days
    h = np.asarray(hours)
    k = np.asarray(kinds)
    s = np.asarray(scores)
    r = np.asarray(regions)
    inside = (h >= 7) & (h < 80)

    def expect(kpi: str, mask: np.ndarray) -> float:
        if kpi == "nps":
            v = s[mask & (k == "nps")]
            return 100 * (np.sum(v >= 9) - np.sum(v <= 6)) / v.size
        if kpi == "csat":
            v = s[mask & (k == "csat")]
            return 100 * np.sum(v >= 4) / v.size
        v = s[mask & (k == "ces")]
        return float(v.mean())

    with unit_of_work(db) as session:
        for kpi in ("nps", "csat", "ces"):
            got = service.kpi_value(session, kpi=kpi, start=start, end=end).value
            assert got == pytest.approx(expect(kpi, inside)), kpi
            for region in ("eu", "us", "apac"):
                got = service.kpi_value(
                    session, kpi=kpi, start=start, end=end, filters={"region": region}
                ).value
                assert got == pytest.approx(expect(kpi, inside & (r == region))), (kpi, region)
            days = service.kpi_series(session, kpi=kpi, start=start, end=end, bucket="day")["all"]
            for point in days:
                first = (point.bucket - MON).total_seconds() / 3600
                mask = inside & (h >= first) & (h < first + 24)
                assert point.value == pytest.approx(expect(kpi, mask)), (kpi, point.bucket)


def test_mtta_and_mttr_from_alerts_by_hand(db: Database) -> None:
    from juncture.detect import service as detect_service

    t0 = MON + timedelta(hours=10)
    plan = [  # (service, severity, fired after t0, ack after firing, resolve after firing) min
        ("checkout", "critical", 0, 4, 30),
        ("checkout", "high", 60, None, 20),  # resolved without an acknowledgement
        ("search", "high", 120, 10, None),  # still open after its acknowledgement
        ("search", "warning", 60 * 30, 1, 2),  # fired outside the window
    ]
    with unit_of_work(db) as session:
        for i, (svc, severity, fired, ack, res) in enumerate(plan):
            at = t0 + timedelta(minutes=fired)
            alert = detect_service.raise_alert(
                session, dedup_key=f"k{i}", title=f"alert {i}", severity=severity, at=at,
                services=[svc],
            )  # fmt: skip
            if ack is not None:
                detect_service.acknowledge(
                    session, alert_id=alert.id, at=at + timedelta(minutes=ack)
                )
            if res is not None:
                detect_service.resolve(session, alert_id=alert.id, at=at + timedelta(minutes=res))
    window = {"start": MON, "end": MON + timedelta(hours=24)}
    with unit_of_work(db) as session:
        mtta = service.kpi_value(session, kpi="mtta", **window)
        mttr = service.kpi_value(session, kpi="mttr", **window)
        checkout = service.kpi_value(session, kpi="mttr", filters={"service": "checkout"}, **window)
        by_severity = service.kpi_series(
            session, kpi="mtta", bucket="day", group_by="severity", **window
        )
    assert mtta.value == pytest.approx((4 + 20 + 10) / 3) and mtta.n == 3
    assert mttr.value == pytest.approx((30 + 20) / 2) and mttr.n == 2
    assert checkout.value == pytest.approx(25.0)
    assert by_severity["critical"][0].value == pytest.approx(4.0)
    assert by_severity["high"][0].value == pytest.approx(15.0)
