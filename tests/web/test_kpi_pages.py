"""KPI pages and the overview page: the numbers shown are the API's, filters change them, and
bad query parameters give a clear error page (never a 500)."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qsl, urlparse

import pytest
from fastapi.testclient import TestClient

from juncture.access.enums import Role
from juncture.kit import clock
from juncture.store.engine import Database
from tests.factories import make_user
from tests.kpis.test_overview import END, company  # noqa: F401  (the fixture)
from tests.web.test_pages import login

HTML = {"Accept": "text/html"}
VALUE = re.compile(r'data-kpi="([^"]+)" data-scope="([^"]+)" data-value="([^"]*)"')
DELTA = re.compile(r'data-kpi-delta="([^"]+)" data-scope="([^"]+)" data-value="([^"]*)"')


@pytest.fixture
def viewer(client: TestClient, company: Database) -> TestClient:  # noqa: F811
    make_user(company, email="viewer@example.com", role=Role.viewer)
    with clock.use_clock(clock.FixedClock(END)):
        login(client, "viewer@example.com")
    return client


def _shown(value: float | None, decimals: int) -> str:
    return "" if value is None else f"{value:,.{decimals}f}"


def test_overview_page_shows_the_api_numbers(viewer: TestClient) -> None:
    page = viewer.get("/")
    assert page.status_code == 200
    api = viewer.get("/api/v1/overview").json()
    text = page.text
    assert "Ops health" in text and "Customer signals" in text
    assert 'data-testid="active-work"' in text
    pairs = VALUE.findall(text)
    decimals = dict(re.findall(r'data-kpi="([^"]+)"[^>]*data-decimals="(\d)"', text))
    headline = {h["kpi"]: h for h in api["ops"] + api["cx"]}
    services = {s["slug"]: s for s in api["services"]}
    journeys = {j["slug"]: j for j in api["journeys"]}
    checked = 0
    for kpi, scope, shown in pairs:
        d = int(decimals[kpi])
        if scope == "all":
            expected = headline[kpi]["value"]
        elif scope in services:
            expected = services[scope]["kpis"][kpi]["value"]
        elif kpi == "dropoff":
            expected = journeys[scope]["dropoff"]
        else:
            expected = journeys[scope]["conversion"]["value"]
        assert shown == _shown(expected, d), (kpi, scope)
        checked += shown != ""
    assert checked >= 8
    for kpi, scope, shown in DELTA.findall(text):
        if scope in services:
            assert shown == _shown(services[scope]["kpis"][kpi]["delta"], int(decimals[kpi]))
    row = text.split('data-testid="recent-web"')[1].split("</tr>")[0]
    assert "203 ms" in row and "4,000" in row
    assert 'class="spark"' in text  # sparklines (bands need weeks of history)


def test_kpi_index_lists_the_catalogue(viewer: TestClient) -> None:
    page = viewer.get("/kpis")
    assert page.status_code == 200
    for heading in ("Ops", "Customer experience", "Journeys"):
        assert f">{heading}</h2>" in page.text
    assert 'href="/kpis/csat"' in page.text
    assert 'href="/kpis/incident_mttr"' in page.text  # the incidents room feeds the catalogue
    assert 'href="/kpis"' in viewer.get("/services").text  # in the nav


def _csv_query(text: str) -> dict[str, str]:
    link = re.search(r'href="(/api/v1/kpis/[^"]+\.csv\?[^"]+)"', text)
    assert link
    return dict(parse_qsl(urlparse(html.unescape(link.group(1))).query))


def test_kpi_detail_equals_the_api_and_filters_change_it(viewer: TestClient) -> None:
    numbers = {}
    for svc in ("web", "pay"):
        page = viewer.get("/kpis/latency_p95", params={"service": svc, "days": 28})
        assert page.status_code == 200, page.text
        shown = re.search(
            r'data-kpi="latency_p95" data-scope="detail" data-value="([^"]*)"', page.text
        )
        assert shown
        query = _csv_query(page.text)
        assert query["service"] == svc and query["bucket"] == "day"
        api = viewer.get("/api/v1/kpis/latency_p95", params=query).json()
        assert shown.group(1) == _shown(api["value"]["value"], 0)
        numbers[svc] = shown.group(1)
        csv = viewer.get("/api/v1/kpis/latency_p95.csv", params=query)
        assert csv.status_code == 200 and csv.text.startswith("kpi,group,bucket")
    assert numbers["web"] != numbers["pay"]
    page = viewer.get("/kpis/latency_p95", params={"group_by": "service", "bucket": "hour"})
    assert page.status_code == 200
    assert 'data-testid="group-web"' in page.text and 'data-testid="group-pay"' in page.text
    assert "Deploys in the window" in page.text and "Incidents in the window" in page.text
    assert "Consistency by" in page.text
    detail = viewer.get("/kpis/csat", params={"days": 7, "by": "region"})
    assert detail.status_code == 200
    assert 'data-testid="p-value"' in detail.text and "95% interval" in detail.text


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/kpis/nope", 404, "unknown_kpi"),
        ("/kpis/csat?bucket=minute", 422, "bad_bucket"),
        ("/kpis/csat?days=5", 422, "bad_days"),
        ("/kpis/csat?days=many", 422, "bad_days"),
        ("/kpis/csat?service=web", 422, "bad_filter"),
        ("/kpis/csat?group_by=team", 422, "bad_group_by"),
        ("/kpis/csat?by=service", 422, "bad_group_by"),
        ("/kpis/dropoff?step=buy/cart", 422, "first_step"),
    ],
)
def test_bad_query_parameters_give_an_error_page(
    viewer: TestClient, path: str, status: int, code: str
) -> None:
    page = viewer.get(path, headers=HTML)
    assert page.status_code == status, page.text[:300]
    assert "<main" in page.text and code in page.text
    assert viewer.get(path).json()["code"] == code


def test_unavailable_kpi_shows_why(viewer: TestClient, unavailable_kpi: str) -> None:
    page = viewer.get(f"/kpis/{unavailable_kpi}")
    assert page.status_code == 200
    assert "switched off" in page.text and 'data-testid="kpi-unavailable"' in page.text


def test_pages_need_a_login(client: TestClient, db: Database) -> None:
    for path in ("/kpis", "/kpis/csat", "/"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
