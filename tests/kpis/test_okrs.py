"""OKRs: objectives and key results through the service and the API, progress, projection,
KPI-bound refresh from ingested surveys, and the CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from juncture.config import Settings
from juncture.jobs.registry import get_job
from juncture.kit.errors import Invalid
from juncture.kpis import okrs
from juncture.kpis.catalogue import CATALOGUE
from juncture.kpis.models import KeyResult, KeyResultCheckin
from juncture.kpis.okr_schemas import (
    CheckinCreate,
    KeyResultCreate,
    KeyResultUpdate,
    ObjectiveCreate,
    ObjectiveUpdate,
)
from juncture.signals import service as signals_service
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work
from tests.factories import make_team, make_token, make_user

PERIOD = (date(2026, 10, 1), date(2026, 12, 31))


def _teams(db: Database) -> tuple[int, int]:
    return make_team(db, kind="ops"), make_team(db, kind="cx")


def _objective(db: Database, ops: int, cx: int, **kw: Any) -> int:
    data = {
        "title": "Happier checkouts",
        "ops_team_id": ops,
        "cx_team_id": cx,
        "period_start": PERIOD[0],
        "period_end": PERIOD[1],
    } | kw
    with unit_of_work(db) as session:
        return okrs.create_objective(session, data=ObjectiveCreate(**data)).id


def _kr(db: Database, objective_id: int, **kw: Any) -> int:
    data = {"title": "KR", "kind": "manual", "baseline": 10.0, "target": 20.0} | kw
    with unit_of_work(db) as session:
        return okrs.create_key_result(
            session, objective_id=objective_id, data=KeyResultCreate(**data)
        ).id


def _checkins(db: Database, kr_id: int, points: list[tuple[datetime, float]]) -> None:
    with unit_of_work(db) as session:
        for at, value in points:
            okrs.checkin(
                session, key_result_id=kr_id, data=CheckinCreate(value=value, at=at), actor="t"
            )


def _read_kr(db: Database, kr_id: int, now: datetime) -> Any:
    with unit_of_work(db) as session:
        return okrs.read_key_result(session, key_result_id=kr_id, now=now)


@pytest.fixture
def writer(db: Database) -> dict[str, str]:
    user = make_user(db, role="ops")
    return {"Authorization": f"Bearer {make_token(db, user_id=user, scopes=['read', 'write'])}"}


# ---------------------------------------------------------------- progress by hand


def test_progress_up_and_down_clamped() -> None:
    # up: 10 -> 20, at 15 is half way
    assert okrs.progress(baseline=10, target=20, current=15) == pytest.approx(0.5)
    # down: 40 h -> 20 h, at 35 h a quarter of the way: (40 - 35) / (40 - 20)
    assert okrs.progress(baseline=40, target=20, current=35) == pytest.approx(0.25)
    # worse than the baseline, beyond the target, no value
    assert okrs.progress(baseline=40, target=20, current=45) == 0.0
    assert okrs.progress(baseline=10, target=20, current=26) == 1.0
    assert okrs.progress(baseline=10, target=20, current=None) is None


def test_manual_checkins_history_and_progress(db: Database) -> None:
    ops, cx = _teams(db)
    obj = _objective(db, ops, cx)
    up = _kr(db, obj, title="Agents trained", baseline=10.0, target=20.0)
    down = _kr(db, obj, title="Backlog", baseline=40.0, target=20.0, direction="down", unit="h")
    t0 = datetime(2026, 10, 5, 9, tzinfo=UTC)
    _checkins(db, up, [(t0, 12.0), (t0 + timedelta(days=7), 15.0)])
    # a back-dated check-in joins the history but does not replace the latest value
    _checkins(db, up, [(t0 - timedelta(days=2), 11.0)])
    _checkins(db, down, [(t0, 35.0)])
    now = t0 + timedelta(days=8)

    kr_up = _read_kr(db, up, now)
    assert kr_up.current == 15.0
    assert kr_up.progress == pytest.approx((15 - 10) / (20 - 10))
    assert kr_up.checkins == 3
    kr_down = _read_kr(db, down, now)
    assert kr_down.direction == "down"
    assert kr_down.progress == pytest.approx((40 - 35) / (40 - 20))

    with unit_of_work(db) as session:
        history = okrs.list_checkins(session, key_result_id=up)
        assert [(c.value, c.source, c.actor) for c in history] == [
            (11.0, "manual", "t"),
            (12.0, "manual", "t"),
            (15.0, "manual", "t"),
        ]
        objective = okrs.read_objective(session, objective_id=obj, now=now)
    # the objective's progress is the mean of its key results'
    assert objective.progress == pytest.approx((0.5 + 0.25) / 2)

    # reaching the target: progress 1, status ahead
    _checkins(db, down, [(t0 + timedelta(days=1), 18.0)])
    kr_down = _read_kr(db, down, now)
    assert (kr_down.progress, kr_down.status, kr_down.on_track) == (1.0, "ahead", True)


def test_projection_rising_is_on_track_and_flat_is_off_track(db: Database) -> None:
    ops, cx = _teams(db)
    obj = _objective(db, ops, cx)
    rising = _kr(db, obj, title="Rising", baseline=0.0, target=100.0)
    flat = _kr(db, obj, title="Flat", baseline=0.0, target=100.0)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    weeks = [start + timedelta(days=7 * i) for i in range(9)]  # Oct 1 .. Nov 26
    # 1.5 a day from 0: the line reaches 1.5 * 92 = 138 at the deadline (end of Dec 31,
    # 92 days after Oct 1), above the target; the last value (84) is not yet there.
    _checkins(db, rising, [(at, 1.5 * 7 * i) for i, at in enumerate(weeks)])
    _checkins(db, flat, [(at, [50.0, 51.0, 49.0][i % 3]) for i, at in enumerate(weeks)])
    now = datetime(2026, 11, 27, tzinfo=UTC)

    up = _read_kr(db, rising, now)
    assert up.current == 84.0
    assert up.status == "on_track"
    assert up.status_basis == "trend"
    assert up.on_track is True
    assert up.projection == pytest.approx(138.0)

    level = _read_kr(db, flat, now)
    assert level.status == "off_track"
    assert level.on_track is False
    assert level.projection == pytest.approx(50.0, abs=2.0)
    assert level.projection_high is not None and level.projection_high < 100.0

    # fewer than 3 check-ins: no projection, the pace decides (half the time gone, a
    # tenth of the way done: at risk)
    slow = _kr(db, obj, title="Slow", baseline=0.0, target=100.0)
    _checkins(db, slow, [(start, 0.0), (start + timedelta(days=40), 10.0)])
    pace = _read_kr(db, slow, datetime(2026, 11, 16, tzinfo=UTC))
    assert (pace.projection, pace.status_basis, pace.status) == (None, "pace", "at_risk")
    # after the deadline without reaching the target
    late = _read_kr(db, slow, datetime(2027, 1, 2, tzinfo=UTC))
    assert (late.status, late.status_basis, late.on_track) == ("off_track", "deadline", False)
    # no value at all
    empty = _kr(db, obj, title="Empty", baseline=0.0, target=1.0)
    none = _read_kr(db, empty, now)
    assert (none.current, none.progress, none.status, none.on_track) == (
        None,
        None,
        "no_data",
        None,
    )


def test_service_validation(db: Database, unavailable_kpi: str) -> None:
    ops, cx = _teams(db)
    product = make_team(db, kind="product")
    obj = _objective(db, ops, cx)
    cases: list[tuple[str, dict[str, Any]]] = [
        ("unknown_kpi", {"kind": "kpi", "kpi": "nope", "baseline": 1, "target": 2}),
        ("kpi_unavailable", {"kind": "kpi", "kpi": unavailable_kpi, "baseline": 5, "target": 2}),
        ("kpi_required", {"kind": "kpi", "baseline": 1, "target": 2}),
        (
            "invalid_filter",
            {"kind": "kpi", "kpi": "csat", "filters": {"journey": "x"}, "baseline": 1, "target": 2},
        ),
        ("target_equals_baseline", {"baseline": 3, "target": 3}),
        ("target_direction", {"baseline": 3, "target": 1, "direction": "up"}),
        ("manual_has_kpi", {"kind": "manual", "kpi": "csat", "baseline": 1, "target": 2}),
        ("deadline_outside_period", {"baseline": 1, "target": 2, "deadline": date(2027, 1, 5)}),
        (
            "kpi_bound",
            {"kind": "kpi", "kpi": "csat", "baseline": 1, "target": 2, "current_value": 1.5},
        ),
    ]
    for code, data in cases:
        with pytest.raises(Invalid) as err, unit_of_work(db) as session:
            okrs.create_key_result(
                session,
                objective_id=obj,
                data=KeyResultCreate(**({"title": "x", "kind": "manual"} | data)),
            )
        assert err.value.code == code, data
    with pytest.raises(Invalid) as err, unit_of_work(db) as session:
        okrs.create_objective(
            session,
            data=ObjectiveCreate(
                title="x",
                ops_team_id=ops,
                cx_team_id=product,
                period_start=PERIOD[0],
                period_end=PERIOD[1],
            ),
        )
    assert err.value.code == "wrong_team_kind"
    # a KPI key result takes its direction and unit from the catalogue (FRT: lower is better)
    kr = _kr(db, obj, kind="kpi", kpi="frt_median", baseline=8.0, target=4.0)
    with unit_of_work(db) as session:
        row = session.get(KeyResult, kr)
        assert row is not None
        definition = CATALOGUE["frt_median"]
        assert definition.direction == "down"
        assert (row.direction, row.unit, row.deadline) == ("down", definition.unit, PERIOD[1])
    with pytest.raises(Invalid) as err, unit_of_work(db) as session:
        okrs.checkin(session, key_result_id=kr, data=CheckinCreate(value=3.0))
    assert err.value.code == "kpi_bound"
    with pytest.raises(Invalid) as err, unit_of_work(db) as session:
        okrs.update_key_result(session, key_result_id=kr, data=KeyResultUpdate(target=9.0))
    assert err.value.code == "target_direction"


# ---------------------------------------------------------------- KPI-bound refresh


def _survey(day: datetime, score: int, region: str, n: int) -> dict[str, Any]:
    return {
        "type": "survey",
        "id": f"s-{region}-{day:%m%d%H}-{score}-{n}",
        "kind": "csat",
        "score": score,
        "ts": day.isoformat().replace("+00:00", "Z"),
        "region": region,
    }


def test_refresh_progress_from_ingested_surveys(db: Database, settings: Settings) -> None:
    ops, cx = _teams(db)
    obj = _objective(db, ops, cx, period_start=date(2026, 11, 1), period_end=date(2026, 12, 31))
    kr = _kr(
        db,
        obj,
        title="EU CSAT",
        kind="kpi",
        kpi="csat",
        filters={"region": "eu"},
        baseline=50.0,
        target=90.0,
    )
    apac = _kr(
        db,
        obj,
        title="APAC CSAT",
        kind="kpi",
        kpi="csat",
        filters={"region": "apac"},
        baseline=50.0,
        target=90.0,
    )
    cancelled = _objective(
        db, ops, cx, period_start=date(2026, 11, 1), period_end=date(2026, 12, 31)
    )
    idle = _kr(db, cancelled, kind="kpi", kpi="csat", baseline=50.0, target=90.0)
    with unit_of_work(db) as session:
        okrs.update_objective(
            session, objective_id=cancelled, data=ObjectiveUpdate(status="cancelled")
        )

    day1 = datetime(2026, 11, 10, 10, tzinfo=UTC)
    first = [_survey(day1, s, "eu", i) for i, s in enumerate([5, 4, 2, 1])]
    first += [_survey(day1, 1, "us", i) for i in range(2)]  # another region: not counted
    with unit_of_work(db) as session:
        result = signals_service.ingest(session, records=first, settings=settings, source="test")
        assert result.accepted == 6

    now1 = datetime(2026, 11, 20, tzinfo=UTC)
    with unit_of_work(db) as session:
        summary = okrs.refresh_progress(session, now=now1)
    # EU: 2 of 4 answers score 4-5 -> 50.0; APAC has no answers; the cancelled one is skipped
    assert summary == {"checked": 2, "changed": 1, "no_data": 1, "failed": 0}
    assert _read_kr(db, kr, now1).current == pytest.approx(50.0)

    # nothing new: no new check-in
    with unit_of_work(db) as session:
        assert okrs.refresh_progress(session, now=now1)["changed"] == 0

    day2 = datetime(2026, 11, 21, 15, tzinfo=UTC)
    second = [_survey(day2, s, "eu", 10 + i) for i, s in enumerate([5, 5, 4, 3])]
    with unit_of_work(db) as session:
        signals_service.ingest(session, records=second, settings=settings, source="test")
    now2 = datetime(2026, 11, 25, tzinfo=UTC)
    with unit_of_work(db) as session:
        okrs.refresh_progress(session, now=now2)
    # EU now: 2 + 3 satisfied of 8 -> 62.5; progress (62.5 - 50) / (90 - 50)
    read = _read_kr(db, kr, now2)
    assert read.current == pytest.approx(62.5)
    assert read.progress == pytest.approx(12.5 / 40)
    assert read.current_at == now2
    with unit_of_work(db) as session:
        history = okrs.list_checkins(session, key_result_id=kr)
        assert [(c.at, c.value, c.source) for c in history] == [
            (now1, pytest.approx(50.0), "computed"),
            (now2, pytest.approx(62.5), "computed"),
        ]
        counts = session.execute(
            select(KeyResultCheckin.key_result_id, func.count())
            .where(KeyResultCheckin.key_result_id.in_([apac, idle]))
            .group_by(KeyResultCheckin.key_result_id)
        ).all()
        assert counts == []

    # a window that ends at the deadline: surveys after it do not count
    with unit_of_work(db) as session:
        okrs.update_key_result(
            session, key_result_id=kr, data=KeyResultUpdate(deadline=date(2026, 11, 15))
        )
        okrs.refresh_progress(session, now=now2)
    assert _read_kr(db, kr, now2).current == pytest.approx(50.0)


def test_refresh_job_is_registered() -> None:
    job = get_job("kpis.refresh_okrs")
    assert job is not None
    assert job.every == timedelta(minutes=15)


# ---------------------------------------------------------------- API


def test_api_crud(client: TestClient, db: Database, writer: dict[str, str]) -> None:
    ops, cx = _teams(db)
    body = {
        "title": "Fewer failed payments",
        "ops_team_id": ops,
        "cx_team_id": cx,
        "period_start": "2026-10-01",
        "period_end": "2026-12-31",
    }
    r = client.post("/api/v1/okrs", json=body, headers=writer)
    assert r.status_code == 201, r.text
    created = r.json()
    oid = created["id"]
    assert created["status"] == "active"
    assert created["key_results"] == []
    assert created["progress"] is None

    r = client.post(
        f"/api/v1/okrs/{oid}/key-results",
        json={"title": "Refunds handled", "kind": "manual", "baseline": 0, "target": 200},
        headers=writer,
    )
    assert r.status_code == 201, r.text
    kr = r.json()
    assert (kr["direction"], kr["deadline"], kr["status"]) == ("up", "2026-12-31", "no_data")

    r = client.post(
        f"/api/v1/key-results/{kr['id']}/checkins",
        json={"value": 50, "note": "first batch"},
        headers=writer,
    )
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "manual"
    r = client.get(f"/api/v1/key-results/{kr['id']}/checkins", headers=writer)
    assert [(c["value"], c["note"]) for c in r.json()] == [(50.0, "first batch")]

    r = client.get(f"/api/v1/okrs/{oid}", headers=writer)
    got = r.json()["key_results"][0]
    assert got["current"] == 50.0
    assert got["progress"] == pytest.approx(0.25)

    r = client.patch(
        f"/api/v1/key-results/{kr['id']}", json={"target": 100, "unit": "refunds"}, headers=writer
    )
    assert r.status_code == 200, r.text
    assert r.json()["progress"] == pytest.approx(0.5)
    r = client.patch(
        f"/api/v1/okrs/{oid}", json={"title": "Payments", "status": "achieved"}, headers=writer
    )
    assert (r.json()["title"], r.json()["status"]) == ("Payments", "achieved")

    r = client.get("/api/v1/okrs", params={"status": "achieved"}, headers=writer)
    page = r.json()
    assert (page["total"], page["limit"], page["offset"]) == (1, 100, 0)
    assert page["items"][0]["id"] == oid
    assert client.get("/api/v1/okrs?status=active", headers=writer).json()["total"] == 0
    assert client.get(f"/api/v1/okrs?team_id={cx}", headers=writer).json()["total"] == 1

    assert client.delete(f"/api/v1/key-results/{kr['id']}", headers=writer).status_code == 204
    assert client.delete(f"/api/v1/okrs/{oid}", headers=writer).status_code == 204
    r = client.get(f"/api/v1/okrs/{oid}", headers=writer)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")


def test_api_delete_objective_cascades(
    client: TestClient, db: Database, writer: dict[str, str]
) -> None:
    ops, cx = _teams(db)
    obj = _objective(db, ops, cx)
    kr = _kr(db, obj)
    _checkins(db, kr, [(datetime(2026, 10, 2, tzinfo=UTC), 12.0)])
    assert client.delete(f"/api/v1/okrs/{obj}", headers=writer).status_code == 204
    with unit_of_work(db) as session:
        assert session.scalar(select(func.count()).select_from(KeyResult)) == 0
        assert session.scalar(select(func.count()).select_from(KeyResultCheckin)) == 0


def test_api_errors_are_json_with_a_code(
    client: TestClient, db: Database, writer: dict[str, str]
) -> None:
    ops, cx = _teams(db)
    other_ops = make_team(db, kind="ops")
    obj = _objective(db, ops, cx, period_start=date(2026, 10, 1), period_end=date(2026, 12, 31))
    manual = _kr(db, obj)
    bound = _kr(db, obj, kind="kpi", kpi="csat", baseline=70.0, target=80.0)
    base = {
        "title": "x",
        "ops_team_id": ops,
        "cx_team_id": cx,
        "period_start": "2026-10-01",
        "period_end": "2026-12-31",
    }
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("POST", "/api/v1/okrs", base | {"cx_team_id": ops}, 422, "validation_error"),
        ("POST", "/api/v1/okrs", base | {"cx_team_id": other_ops}, 422, "wrong_team_kind"),
        ("POST", "/api/v1/okrs", base | {"ops_team_id": 999999}, 422, "unknown_team"),
        ("POST", "/api/v1/okrs", base | {"period_end": "2026-09-01"}, 422, "validation_error"),
        ("POST", "/api/v1/okrs", base | {"owner": 1}, 422, "validation_error"),
        ("POST", "/api/v1/okrs", base | {"status": "done"}, 422, "validation_error"),
        (
            "PATCH",
            f"/api/v1/okrs/{obj}",
            {"period_end": "2026-11-01"},
            422,
            "deadline_outside_period",
        ),
        ("PATCH", f"/api/v1/okrs/{obj}", {"title": None}, 422, "required"),
        ("PATCH", "/api/v1/okrs/999999", {"title": "y"}, 404, "not_found"),
        (
            "POST",
            f"/api/v1/okrs/{obj}/key-results",
            {"title": "k", "kind": "kpi", "kpi": "nope", "baseline": 1, "target": 2},
            422,
            "unknown_kpi",
        ),
        (
            "POST",
            f"/api/v1/okrs/{obj}/key-results",
            {"title": "k", "kind": "manual", "baseline": 1, "target": "NaN"},
            422,
            "validation_error",
        ),
        ("POST", f"/api/v1/key-results/{bound}/checkins", {"value": 75}, 422, "kpi_bound"),
        (
            "POST",
            f"/api/v1/key-results/{manual}/checkins",
            {"value": 1, "at": "2026-10-02T10:00:00"},
            422,
            "validation_error",
        ),
        ("PATCH", f"/api/v1/key-results/{manual}", {"target": 10}, 422, "target_equals_baseline"),
        (
            "PATCH",
            f"/api/v1/key-results/{bound}",
            {"filters": {"team": "x"}},
            422,
            "invalid_filter",
        ),
        ("DELETE", "/api/v1/key-results/999999", {}, 404, "not_found"),
        ("GET", "/api/v1/key-results/999999/checkins", {}, 404, "not_found"),
    ]
    for method, url, payload, status, code in cases:
        r = client.request(method, url, json=payload or None, headers=writer)
        assert r.status_code == status, (method, url, payload, r.text)
        assert r.json()["code"] == code, (method, url, payload, r.text)
    # and nothing half-done stayed behind
    assert client.get("/api/v1/okrs", headers=writer).json()["total"] == 1


def test_csv_export_matches_json(client: TestClient, db: Database, writer: dict[str, str]) -> None:
    ops, cx = _teams(db)
    obj = _objective(db, ops, cx)
    up = _kr(db, obj, title="Trained, agents", baseline=10.0, target=20.0)
    down = _kr(db, obj, title="Backlog", baseline=40.0, target=20.0, direction="down")
    _kr(db, obj, kind="kpi", kpi="csat", filters={"region": "eu"}, baseline=70.0, target=80.0)
    t0 = datetime(2026, 10, 5, tzinfo=UTC)
    _checkins(db, up, [(t0 + timedelta(days=i), 10.0 + i / 3) for i in range(5)])
    _checkins(db, down, [(t0, 33.0)])
    items = client.get("/api/v1/okrs", headers=writer).json()["items"]
    r = client.get("/api/v1/okrs.csv", headers=writer)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    krs = {kr["id"]: kr for o in items for kr in o["key_results"]}
    assert len(rows) == len(krs) == 3
    for row in rows:
        kr = krs[int(row["key_result_id"])]
        assert int(row["objective_id"]) == obj
        assert row["title"] == kr["title"]
        assert row["kpi"] == (kr["kpi"] or "")
        for col in ("baseline", "target", "current", "progress", "projection"):
            expected = kr[col]
            assert (float(row[col]) if row[col] else None) == expected, col
        assert row["status"] == kr["status"]
        assert row["on_track"] == {True: "true", False: "false", None: ""}[kr["on_track"]]
        assert row["deadline"] == kr["deadline"]
    by_title = {row["title"]: row for row in rows}
    assert float(by_title["Backlog"]["progress"]) == pytest.approx((40 - 33) / (40 - 20))
    assert by_title["Trained, agents"]["projection"] != ""
    assert by_title["KR"]["filters"] == '{"region": "eu"}'
