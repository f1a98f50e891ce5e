"""Pages: login with CSRF and throttling, every page renders for its roles, forms change data."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from juncture.access.enums import Role
from juncture.store.engine import Database
from tests.factories import PASSWORD, make_journey, make_service, make_team, make_user


def _login_csrf(client: TestClient) -> str:
    page = client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "login form carries a CSRF token"
    return match.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token for later posts."""
    token = _login_csrf(client)
    r = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get("/")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def test_pages_redirect_to_login_and_back(client: TestClient, db: Database) -> None:
    make_user(db, email="ops@example.com")
    r = client.get("/services", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/services"
    token = _login_csrf(client)
    r = client.post(
        "/login",
        data={
            "email": "ops@example.com",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/services",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/services"
    cookie = r.headers["set-cookie"]
    assert "juncture_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie


def test_login_refuses_open_redirects_and_missing_csrf(client: TestClient, db: Database) -> None:
    make_user(db, email="ops@example.com")
    token = _login_csrf(client)
    r = client.post(
        "/login",
        data={
            "email": "ops@example.com",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "https://evil.example",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"
    client.cookies.clear()
    r = client.post(
        "/login", data={"email": "ops@example.com", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert r.status_code == 403
    assert "expired" in r.text


def test_wrong_password_then_throttle(client: TestClient, db: Database) -> None:
    make_user(db, email="ops@example.com")
    for _ in range(5):
        token = _login_csrf(client)
        r = client.post(
            "/login",
            data={"email": "ops@example.com", "password": "nope-nope-nope", "csrf_token": token},
        )
        assert r.status_code == 401
        assert "wrong e-mail or password" in r.text
    token = _login_csrf(client)
    r = client.post(
        "/login", data={"email": "ops@example.com", "password": PASSWORD, "csrf_token": token}
    )
    assert r.status_code == 429
    assert "too many failed logins" in r.text


def test_form_posts_need_the_session_csrf_token(client: TestClient, db: Database) -> None:
    make_user(db, email="ops@example.com")
    team = make_team(db)
    csrf = login(client, "ops@example.com")
    data = {"slug": "search", "name": "Search", "owner_team_id": str(team), "tier": "2"}
    r = client.post("/services", data=data, follow_redirects=False)
    assert r.status_code == 403
    r = client.post("/services", data=data | {"csrf_token": "wrong"}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post("/services", data=data | {"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    assert "Search" in page.text


def test_form_errors_are_shown_not_raised(client: TestClient, db: Database) -> None:
    make_user(db, email="ops@example.com")
    team = make_team(db)
    csrf = login(client, "ops@example.com")
    r = client.post(
        "/services",
        data={"slug": "Bad Slug", "name": "X", "owner_team_id": str(team), "csrf_token": csrf},
    )
    assert r.status_code == 422
    assert 'role="alert"' in r.text
    assert "slug" in r.text


def test_journey_form_maps_steps_to_services(client: TestClient, db: Database) -> None:
    make_user(db, email="ux@example.com", role=Role.cx)
    team = make_team(db)
    make_service(db, owner_team_id=team, slug="web", name="Web")
    make_service(db, owner_team_id=team, slug="payments", name="Payments")
    csrf = login(client, "ux@example.com")
    r = client.post(
        "/journeys",
        data={
            "slug": "buy",
            "name": "Buy",
            "steps": "Browse: web\nPay: web, payments\n",
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"]).text
    assert "Browse" in page
    assert "Pay" in page
    assert "Payments" in page
    r = client.post(
        "/journeys",
        data={"slug": "bad", "name": "Bad", "steps": "Pay: nosuch", "csrf_token": csrf},
    )
    assert r.status_code == 422
    assert "unknown service(s) nosuch" in r.text


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_every_page_renders_for_its_roles(client: TestClient, db: Database, role: str) -> None:
    team = make_team(db, slug="sre", name="SRE")
    svc = make_service(db, owner_team_id=team, slug="checkout", name="Checkout")
    journey = make_journey(db, steps=[("Pay", [svc])])
    make_user(db, email=f"{role}@example.com", role=role)
    if role != "admin":
        make_user(db, role=Role.admin)
    login(client, f"{role}@example.com")
    pages = [
        "/",
        "/services",
        f"/services/{svc}",
        "/journeys",
        f"/journeys/{journey}",
        "/teams",
        f"/teams/{team}",
        "/vocabulary",
        "/admin/tokens",
        "/admin/users",
        "/admin/audit",
        "/admin/jobs",
    ]
    for path in pages:
        r = client.get(path)
        admin_only = path in ("/admin/users", "/admin/audit", "/admin/jobs", "/admin/quarantine")
        needs_write = path == "/admin/tokens"
        if (admin_only and role != "admin") or (needs_write and role == "viewer"):
            assert r.status_code == 403, (path, role)
            assert "forbidden" in r.text or "missing_scope" in r.text
        else:
            assert r.status_code == 200, (path, role, r.text[:300])
            assert "<main" in r.text
    overview = client.get("/").text
    assert "Checkout" in overview
    assert "SRE" in overview
    # writers see forms, viewers do not
    services_page = client.get("/services").text
    assert ("New service" in services_page) == (role != "viewer")


def test_audit_filter_returns_a_fragment_for_htmx(client: TestClient, db: Database) -> None:
    make_user(db, email="root@example.com", role=Role.admin)
    make_team(db, slug="cx-team", name="CX")
    login(client, "root@example.com")
    full = client.get("/admin/audit?object_type=team")
    assert "<html" in full.text
    assert "team.create" in full.text
    fragment = client.get("/admin/audit?object_type=team", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text
    assert "team.create" in fragment.text
    assert "user.create" not in fragment.text


def test_logout_ends_the_session(client: TestClient, db: Database) -> None:
    make_user(db, email="ops@example.com")
    csrf = login(client, "ops@example.com")
    r = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).status_code == 303


def test_token_page_shows_a_new_token_once(client: TestClient, db: Database) -> None:
    make_user(db, email="ops@example.com")
    csrf = login(client, "ops@example.com")
    r = client.post(
        "/admin/tokens", data={"name": "ci", "scopes": ["read", "ingest"], "csrf_token": csrf}
    )
    assert r.status_code == 201
    token = re.search(r'data-testid="new-token">([^<]+)<', r.text)
    assert token is not None
    secret = token.group(1)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).json()[
        "scopes"
    ] == ["ingest", "read"]
    assert secret not in client.get("/admin/tokens").text


def test_quarantine_page_replays_after_the_catalog_is_fixed(
    client: TestClient, db: Database
) -> None:
    from juncture.config import Settings
    from juncture.signals import service as signals_service
    from juncture.store.uow import unit_of_work
    from tests.signals.fixtures import metric

    make_user(db, email="root@example.com", role=Role.admin)
    with unit_of_work(db) as session:
        signals_service.ingest(
            session,
            records=[metric(0, 5, service="search") | {"ts": "2026-11-22T07:00:00Z"}],
            settings=Settings(),
            source="test",
        )
    csrf = login(client, "root@example.com")
    page = client.get("/admin/quarantine").text
    assert "unknown_service" in page and "search" in page
    make_service(db, slug="search", name="Search")
    r = client.post(
        "/admin/quarantine/replay", data={"reason": "unknown_service", "csrf_token": csrf}
    )
    assert r.status_code == 200
    assert "accepted 1" in r.text
    assert "Nothing is quarantined" in r.text


def test_overview_shows_the_last_stored_day_from_rollups(client: TestClient, db: Database) -> None:
    from juncture.config import Settings
    from juncture.signals import service as signals_service
    from juncture.store.uow import unit_of_work

    team = make_team(db)
    web = make_service(db, owner_team_id=team, slug="web", name="Web")
    make_journey(db, slug="buy", name="Buy", steps=[("Cart", [web]), ("Pay", [web])])
    make_user(db, email="viewer@example.com", role=Role.viewer)
    records = [
        {
            "type": "metric",
            "ts": "2026-11-21T10:00:00Z",
            "service": "web",
            "metric": "requests",
            "value": 1200,
            "unit": "count",
        },
        {
            "type": "metric",
            "ts": "2026-11-21T11:00:00Z",
            "service": "web",
            "metric": "requests",
            "value": 800,
            "unit": "count",
        },
        {
            "type": "metric",
            "ts": "2026-11-21T10:00:00Z",
            "service": "web",
            "metric": "latency_p95_ms",
            "value": 300,
            "unit": "ms",
        },
        {
            "type": "metric",
            "ts": "2026-11-21T11:00:00Z",
            "service": "web",
            "metric": "latency_p95_ms",
            "value": 100,
            "unit": "ms",
        },
        {
            "type": "metric",
            "ts": "2026-11-21T11:00:00Z",
            "service": "web",
            "metric": "error_rate",
            "value": 0.015,
            "unit": "ratio",
        },
        *[
            {
                "type": "funnel",
                "ts": "2026-11-21T10:30:00Z",
                "journey": "buy",
                "step": "cart",
                "session_id": f"s{i}",
            }
            for i in range(4)
        ],
        {
            "type": "funnel",
            "ts": "2026-11-21T10:40:00Z",
            "journey": "buy",
            "step": "pay",
            "session_id": "s1",
        },
    ]
    with unit_of_work(db) as session:
        result = signals_service.ingest(
            session, records=records, settings=Settings(), source="test"
        )
        assert result.accepted == len(records)
    login(client, "viewer@example.com")
    page = client.get("/").text
    row = page.split('data-testid="recent-web"')[1].split("</tr>")[0]
    assert "2,000" in row  # requests summed over the window
    assert "200 ms" in row  # mean of the hourly p95 points (300, 100)
    assert "1.50 %" in row
    assert "25% of step 1" in page  # 1 of 4 sessions reached Pay


def test_only_admins_revoke_other_peoples_tokens_from_the_page(
    client: TestClient, db: Database
) -> None:
    from tests.factories import make_token

    owner = make_user(db, email="owner@example.com", role=Role.ops)
    make_token(db, user_id=owner, scopes=["read"])
    make_user(db, email="other@example.com", role=Role.ops)
    csrf = login(client, "other@example.com")
    r = client.post("/admin/tokens/1/revoke", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 403
    assert "only admins revoke" in r.text
