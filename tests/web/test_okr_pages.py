"""OKR pages: the list and the detail render, and objectives and key results change through forms."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from fastapi.testclient import TestClient

from juncture.kpis import okrs
from juncture.kpis.okr_schemas import CheckinCreate, KeyResultCreate, ObjectiveCreate
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work
from tests.factories import make_team, make_user
from tests.web.test_pages import login


def _objective_id(location: str) -> int:
    match = re.fullmatch(r"/okrs/(\d+)", location)
    assert match, location
    return int(match.group(1))


def _kr_section(html: str, kr_id: int) -> str:
    start = html.index(f'id="kr-{kr_id}"')
    end = html.find("</article>", start)
    return html[start:end]


def test_okr_pages_create_and_edit_through_forms(client: TestClient, db: Database) -> None:
    ops = make_team(db, kind="ops", name="Payments SRE")
    cx = make_team(db, kind="cx", name="Support EU")
    make_user(db, email="ops@example.com", role="ops")
    csrf = login(client, "ops@example.com")

    page = client.get("/okrs")
    assert page.status_code == 200
    assert "No objectives yet" in page.text
    assert "New objective" in page.text
    assert 'href="/okrs"' in page.text  # the sidebar entry

    r = client.post(
        "/okrs",
        data={
            "csrf_token": csrf,
            "title": "Smooth payments",
            "description": "Fewer failures, happier customers",
            "ops_team_id": str(ops),
            "cx_team_id": str(cx),
            "period_start": "2026-10-01",
            "period_end": "2026-12-31",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    oid = _objective_id(r.headers["location"])

    # a manual key result with a first value: 10 -> 20, at 15 = 50%
    r = client.post(
        f"/okrs/{oid}/key-results",
        data={
            "csrf_token": csrf,
            "title": "Runbooks written",
            "kind": "manual",
            "baseline": "10",
            "target": "20",
            "current_value": "15",
            "unit": "runbooks",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    # a KPI key result: CSAT in the EU, direction and unit from the catalogue
    r = client.post(
        f"/okrs/{oid}/key-results",
        data={
            "csrf_token": csrf,
            "title": "EU CSAT",
            "kind": "kpi",
            "kpi": "csat",
            "filters": "region=eu",
            "baseline": "70",
            "target": "85",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    api = client.get(f"/api/v1/okrs/{oid}").json()
    manual, bound = api["key_results"]
    assert (bound["kpi"], bound["filters"], bound["direction"]) == ("csat", {"region": "eu"}, "up")

    page = client.get(f"/okrs/{oid}")
    assert page.status_code == 200
    assert "Smooth payments" in page.text
    assert "Payments SRE" in page.text and "Support EU" in page.text
    section = _kr_section(page.text, manual["id"])
    assert 'data-testid="kr-progress">50%' in section
    assert "15 runbooks" in section
    assert "Check in" in section
    assert "Check in" not in _kr_section(page.text, bound["id"])  # computed, not checked in
    assert "no data" in _kr_section(page.text, bound["id"])

    # a manual check-in: 18 -> (18 - 10) / (20 - 10) = 80%
    r = client.post(
        f"/okrs/{oid}/key-results/{manual['id']}/checkins",
        data={"csrf_token": csrf, "value": "18", "note": "two more"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get(f"/okrs/{oid}")
    section = _kr_section(page.text, manual["id"])
    assert 'data-testid="kr-progress">80%' in section
    assert "two more" in section  # the history table
    assert "History (2)" in section

    # edit the key result: target 30 -> (18 - 10) / (30 - 10) = 40%
    r = client.post(
        f"/okrs/{oid}/key-results/{manual['id']}",
        data={
            "csrf_token": csrf,
            "title": "Runbooks written",
            "baseline": "10",
            "target": "30",
            "direction": "up",
            "deadline": "2026-12-15",
            "unit": "runbooks",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get(f"/okrs/{oid}")
    assert 'data-testid="kr-progress">40%' in _kr_section(page.text, manual["id"])
    assert client.get(f"/api/v1/key-results/{manual['id']}").json()["deadline"] == "2026-12-15"

    # edit the objective
    r = client.post(
        f"/okrs/{oid}",
        data={
            "csrf_token": csrf,
            "title": "Smoother payments",
            "description": "",
            "ops_team_id": str(ops),
            "cx_team_id": str(cx),
            "period_start": "2026-10-01",
            "period_end": "2026-12-31",
            "status": "active",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    listing = client.get("/okrs")
    assert "Smoother payments" in listing.text
    assert "Runbooks written" in listing.text and "EU CSAT" in listing.text
    assert 'aria-valuenow="40"' in listing.text

    # delete the key result, then the objective
    r = client.post(
        f"/okrs/{oid}/key-results/{bound['id']}/delete",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert len(client.get(f"/api/v1/okrs/{oid}").json()["key_results"]) == 1
    r = client.post(f"/okrs/{oid}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.headers["location"] == "/okrs"
    assert client.get(f"/okrs/{oid}", headers={"accept": "text/html"}).status_code == 404


def test_okr_form_errors_are_shown_not_500(client: TestClient, db: Database) -> None:
    ops = make_team(db, kind="ops")
    cx = make_team(db, kind="cx")
    make_user(db, email="cx@example.com", role="cx")
    csrf = login(client, "cx@example.com")
    base = {
        "csrf_token": csrf,
        "title": "x",
        "ops_team_id": str(ops),
        "cx_team_id": str(ops),
        "period_start": "2026-10-01",
        "period_end": "2026-12-31",
    }
    r = client.post("/okrs", data=base)
    assert r.status_code == 422
    assert "two different teams" in r.text
    assert "New objective" in r.text  # the list page, with the form

    r = client.post("/okrs", data=base | {"cx_team_id": str(cx)}, follow_redirects=False)
    oid = _objective_id(r.headers["location"])
    bad = {"csrf_token": csrf, "title": "k", "kind": "manual", "baseline": "5", "target": "5"}
    r = client.post(f"/okrs/{oid}/key-results", data=bad)
    assert r.status_code == 422
    assert "target must differ from baseline" in r.text
    r = client.post(
        f"/okrs/{oid}/key-results",
        data=bad | {"kind": "kpi", "kpi": "csat", "filters": "region", "target": "9"},
    )
    assert r.status_code == 422
    assert "slice=value" in r.text
    r = client.post(
        f"/okrs/{oid}",
        data=base | {"cx_team_id": str(cx), "period_end": "2026-09-01", "status": "active"},
    )
    assert r.status_code == 422
    assert "period_end must not be before period_start" in r.text
    assert client.get("/api/v1/okrs").json()["items"][0]["period_end"] == "2026-12-31"


def test_okr_pages_read_only_for_viewers(client: TestClient, db: Database) -> None:
    ops = make_team(db, kind="ops")
    cx = make_team(db, kind="cx")
    with unit_of_work(db) as session:
        obj = okrs.create_objective(
            session,
            data=ObjectiveCreate(
                title="Calmer on-call",
                ops_team_id=ops,
                cx_team_id=cx,
                period_start=date(2026, 10, 1),
                period_end=date(2026, 12, 31),
            ),
        )
        kr = okrs.create_key_result(
            session,
            objective_id=obj.id,
            data=KeyResultCreate(
                title="Pages per week", kind="manual", baseline=40, target=20, direction="down"
            ),
        )
        okrs.checkin(
            session,
            key_result_id=kr.id,
            data=CheckinCreate(value=35, at=datetime(2026, 10, 8, tzinfo=UTC)),
        )
        oid = obj.id
    make_user(db, email="viewer@example.com", role="viewer")
    login(client, "viewer@example.com")
    listing = client.get("/okrs")
    assert "Calmer on-call" in listing.text
    assert "New objective" not in listing.text
    page = client.get(f"/okrs/{oid}")
    assert page.status_code == 200
    # down: (40 - 35) / (40 - 20) = 25%
    assert 'data-testid="kr-progress">25%' in page.text
    assert "Edit objective" not in page.text and "Check in" not in page.text
    r = client.post(f"/okrs/{oid}/delete", follow_redirects=False)
    assert r.status_code == 403
