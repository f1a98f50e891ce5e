"""The overview: its numbers equal the KPI service's, the API returns them, errors are clear."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from juncture.config import Settings
from juncture.kit import clock
from juncture.kit.errors import Invalid
from juncture.kpis import service
from juncture.kpis.overview import overview
from juncture.signals import service as signals_service
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work
from tests.factories import make_journey, make_service, make_team, make_token, make_user

MON = datetime(2026, 11, 16, tzinfo=UTC)
START, END = MON, MON + timedelta(days=7)  # this week; the previous one is 9-16 Nov


def at(days: float) -> str:
    return (MON + timedelta(days=days)).isoformat().replace("+00:00", "Z")


def metric(days: float, svc: str, name: str, value: float) -> dict[str, Any]:
    return {"type": "metric", "ts": at(days), "service": svc, "metric": name, "value": value}


def funnel(days: float, step: str, sid: str) -> dict[str, Any]:
    return {"type": "funnel", "ts": at(days), "journey": "buy", "step": step, "session_id": sid}


def records() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for day, (lat_web, lat_pay, err) in enumerate([(100, 300, 0.01), (200, 500, 0.03)]):
        base = -7 + day * 7  # one reading a day in each week, spread over the week
        for d in range(0, 7, 2):
            out.append(metric(base + d + 0.1, "web", "latency_p95_ms", lat_web + d))
            out.append(metric(base + d + 0.1, "pay", "latency_p95_ms", lat_pay))
            out.append(metric(base + d + 0.2, "web", "error_rate", err))
            out.append(metric(base + d + 0.3, "web", "availability", 1.0 - err))
            out.append(metric(base + d + 0.3, "pay", "availability", 0.999))
            out.append(metric(base + d + 0.4, "web", "requests", 1000))
    # the previous week: 4 enter the cart, 2 pay; this week: 5 enter, 1 pays
    out += [funnel(-5, "cart", f"a{i}") for i in range(4)]
    out += [funnel(-5 + 0.01, "pay", f"a{i}") for i in range(2)]
    out += [funnel(2, "cart", f"b{i}") for i in range(5)]
    out += [funnel(2.01, "pay", "b0")]
    out += [
        {"type": "survey", "ts": at(1 + i / 10), "kind": "csat", "score": s}
        for i, s in enumerate((5, 5, 4, 2))
    ]
    out += [
        {"type": "survey", "ts": at(-3 + i / 10), "kind": "csat", "score": s}
        for i, s in enumerate((5, 1, 1))
    ]
    return out


@pytest.fixture
def company(db: Database) -> Iterator[Database]:
    sre = make_team(db, slug="sre", name="SRE", timezone="UTC")
    make_team(db, slug="support", name="Support", kind="cx", timezone="UTC")
    web = make_service(db, owner_team_id=sre, slug="web", name="Web", tier=1)
    pay = make_service(db, owner_team_id=sre, slug="pay", name="Payments", tier=2)
    make_journey(db, slug="buy", name="Buy", steps=[("cart", [web]), ("pay", [pay])])
    with clock.use_clock(clock.FixedClock(END + timedelta(hours=1))):
        with unit_of_work(db) as session:
            result = signals_service.ingest(
                session,
                records=records(),
                settings=Settings(order_step="buy/pay"),
                source="test",
            )
        assert result.quarantined == 0, result
        yield db


def _value(session: Any, kpi: str, start: datetime, end: datetime, **filters: str) -> Any:
    return service.kpi_value(session, kpi=kpi, start=start, end=end, filters=filters).value


def test_overview_numbers_equal_the_kpi_service(company: Database) -> None:
    with unit_of_work(company, write=False) as session:
        ov = overview(session, start=START, end=END)
        assert ov.has_data
        assert ov.previous_start == START - timedelta(days=7)
        prev = ov.previous_start
        by_slug = {s.slug: s for s in ov.services}
        assert [s.slug for s in ov.services] == ["web", "pay"]  # by tier
        for slug in ("web", "pay"):
            for kpi in ("availability", "latency_p95", "error_rate"):
                row = by_slug[slug].kpis[kpi]
                now = _value(session, kpi, START, END, service=slug)
                before = _value(session, kpi, prev, START, service=slug)
                assert row.value == pytest.approx(now) if now is not None else row.value is None
                if before is not None:
                    assert row.previous == pytest.approx(before)
        web = by_slug["web"].kpis
        assert web["latency_p95"].value == pytest.approx(203.0)  # 200, 202, 204, 206
        assert web["latency_p95"].previous == pytest.approx(103.0)
        assert web["latency_p95"].delta == pytest.approx(100.0)
        assert web["latency_p95"].better is False  # latency went up
        assert web["error_rate"].value == pytest.approx(3.0)
        assert by_slug["web"].requests == pytest.approx(4000.0)
        assert by_slug["pay"].kpis["error_rate"].value is None  # no readings
        assert by_slug["web"].journeys == ["buy/cart"]
        # the headline is compare() over the same period
        for h in ov.ops + ov.cx:
            cmp = service.compare(session, kpi=h.kpi, start=START, end=END)
            assert h.value == cmp.current.value
            assert h.previous == cmp.previous.value
            assert h.better == cmp.better
            assert h.p_value == cmp.p_value
            assert len(h.series) == 14
        csat = next(h for h in ov.cx if h.kpi == "csat")
        assert csat.value == pytest.approx(75.0)
        assert csat.previous == pytest.approx(100 / 3)
        # journeys: conversion per journey, drop-off its complement, steps counted
        (buy,) = ov.journeys
        assert buy.conversion.value == pytest.approx(20.0)
        assert buy.conversion.value == pytest.approx(
            _value(session, "conversion", START, END, journey="buy")
        )
        assert buy.conversion.previous == pytest.approx(50.0)
        assert buy.conversion.better is False
        assert buy.dropoff == pytest.approx(80.0)
        assert [(s.slug, s.reached) for s in buy.steps] == [("cart", 5), ("pay", 1)]
        assert buy.services == ["pay", "web"]
        assert (ov.active.open_alerts, ov.active.open_incidents) == (0, 0)
        assert ov.active.latest_incident is None
        assert ov.objectives == [] and ov.objectives_total == 0


def test_a_period_not_on_day_boundaries_is_still_exact(company: Database) -> None:
    start, end = START + timedelta(hours=5), END + timedelta(hours=5)
    with unit_of_work(company, write=False) as session:
        ov = overview(session, start=start, end=end)
        web = {s.slug: s for s in ov.services}["web"].kpis["latency_p95"]
        assert web.value == pytest.approx(_value(session, "latency_p95", start, end, service="web"))
        previous = _value(session, "latency_p95", ov.previous_start, start, service="web")
        assert web.previous == pytest.approx(previous)
        # the day split between the two periods is one point of the sparkline
        buckets = [p.bucket for p in web.series]
        assert len(buckets) == len(set(buckets)) == 15


def test_empty_database_and_bad_windows(db: Database) -> None:
    with unit_of_work(db, write=False) as session:
        ov = overview(session, start=START, end=END)
        assert not ov.has_data
        assert ov.services == [] and ov.journeys == []
        assert all(h.value is None for h in ov.ops)
        with pytest.raises(Invalid) as err:
            overview(session, start=END, end=START)
        assert err.value.code == "bad_range"
        with pytest.raises(Invalid) as err:
            overview(session, start=START.replace(tzinfo=None), end=END)
        assert err.value.code == "naive_time"
        with pytest.raises(Invalid) as err:
            overview(session, start=START - timedelta(days=100), end=END)
        assert err.value.code == "range_too_long"


def test_overview_api(company: Database, client: TestClient) -> None:
    assert client.get("/api/v1/overview").status_code == 401
    user = make_user(company, email="viewer@example.com", role="viewer")
    token = make_token(company, user_id=user, scopes=["read"])
    headers = {"Authorization": f"Bearer {token}"}
    q = {"from": "2026-11-16T00:00:00Z", "to": "2026-11-23T00:00:00Z"}
    r = client.get("/api/v1/overview", params=q, headers=headers)
    assert r.status_code == 200, r.text
    data = r.json()
    with unit_of_work(company, write=False) as session:
        ov = overview(session, start=START, end=END)
    web = next(s for s in data["services"] if s["slug"] == "web")
    assert web["kpis"]["latency_p95"]["value"] == pytest.approx(203.0)
    assert web["kpis"]["latency_p95"]["tested"] is False
    assert data["journeys"][0]["conversion"]["value"] == pytest.approx(20.0)
    assert [h["value"] for h in data["ops"]] == [h.value for h in ov.ops]
    assert [h["kpi"] for h in data["cx"]] == ["csat", "nps", "negative_sentiment", "ticket_volume"]
    assert len(data["cx"][0]["series"]) == 14
    # a filter-free default window works too (the last 7 days up to the newest stored hour)
    assert client.get("/api/v1/overview", headers=headers).status_code == 200
    bad = client.get("/api/v1/overview", params={"from": "yesterday"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    naive = client.get("/api/v1/overview", params={"from": "2026-11-16T00:00:00"}, headers=headers)
    assert naive.status_code == 422 and naive.json()["code"] == "naive_time"
    backwards = client.get(
        "/api/v1/overview", params={"from": q["to"], "to": q["from"]}, headers=headers
    )
    assert backwards.status_code == 422 and backwards.json()["code"] == "bad_range"


def test_overview_csv_has_every_number_of_the_json(company: Database, client: TestClient) -> None:
    import csv
    import io

    user = make_user(company, email="csv@example.com", role="viewer")
    headers = {"Authorization": f"Bearer {make_token(company, user_id=user, scopes=['read'])}"}
    q = {"from": "2026-11-16T00:00:00Z", "to": "2026-11-23T00:00:00Z"}
    data = client.get("/api/v1/overview", params=q, headers=headers).json()
    answer = client.get("/api/v1/overview.csv", params=q, headers=headers)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = {
        (r["scope"], r["subject"], r["kpi"]): r for r in csv.DictReader(io.StringIO(answer.text))
    }

    def same(cell: str, value: float | None) -> bool:
        return (cell == "" and value is None) or (cell != "" and float(cell) == value)

    for h in [*data["ops"], *data["cx"]]:
        assert same(rows[("company", "all", h["kpi"])]["value"], h["value"])
        assert same(rows[("company", "all", h["kpi"])]["previous"], h["previous"])
    for svc in data["services"]:
        for key, g in svc["kpis"].items():
            assert same(rows[("service", svc["slug"], key)]["value"], g["value"])
    for j in data["journeys"]:
        assert same(rows[("journey", j["slug"], "conversion")]["value"], j["conversion"]["value"])
