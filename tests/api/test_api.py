"""API behaviour: CRUD through HTTP, the one error shape, health, readiness and metrics."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from juncture.access.enums import Role
from juncture.store.engine import Database
from tests.factories import make_token, make_user


@pytest.fixture
def admin_headers(db: Database) -> dict[str, str]:
    user = make_user(db, role=Role.admin, email="admin@example.com")
    token = make_token(db, user_id=user, scopes=["read", "write", "ingest", "admin"])
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def viewer_headers(db: Database) -> dict[str, str]:
    user = make_user(db, role=Role.viewer)
    return {"Authorization": f"Bearer {make_token(db, user_id=user, scopes=['read'])}"}


def test_catalog_round_trip(client: TestClient, admin_headers: dict[str, str]) -> None:
    team = client.post("/api/v1/teams", json={"slug": "sre", "name": "SRE"}, headers=admin_headers)
    assert team.status_code == 201, team.text
    team_id = team.json()["id"]
    ids = {}
    for slug in ("web", "checkout", "payments"):
        r = client.post(
            "/api/v1/services",
            json={"slug": slug, "name": slug.title(), "owner_team_id": team_id, "tier": 1},
            headers=admin_headers,
        )
        assert r.status_code == 201, r.text
        ids[slug] = r.json()["id"]
    journey = client.post(
        "/api/v1/journeys",
        json={
            "slug": "purchase",
            "name": "Purchase",
            "steps": [
                {"slug": "cart", "name": "Cart", "service_ids": [ids["web"]]},
                {"slug": "pay", "name": "Pay", "service_ids": [ids["checkout"], ids["payments"]]},
            ],
        },
        headers=admin_headers,
    )
    assert journey.status_code == 201, journey.text
    body = journey.json()
    assert [s["slug"] for s in body["steps"]] == ["cart", "pay"]
    assert body["steps"][1]["service_ids"] == sorted([ids["checkout"], ids["payments"]])

    # reorder and remap the steps in one update
    r = client.patch(
        f"/api/v1/journeys/{body['id']}",
        json={
            "steps": [
                {"slug": "pay", "name": "Pay", "service_ids": [ids["payments"]]},
                {"slug": "cart", "name": "Cart", "service_ids": []},
            ]
        },
        headers=admin_headers,
    )
    assert r.status_code == 200, r.text
    assert [(s["slug"], s["position"], s["service_ids"]) for s in r.json()["steps"]] == [
        ("pay", 0, [ids["payments"]]),
        ("cart", 1, []),
    ]

    # a service mapped to a step cannot be deleted; unmapped it can
    r = client.delete(f"/api/v1/services/{ids['payments']}", headers=admin_headers)
    assert r.status_code == 409
    assert r.json()["code"] == "service_in_use"
    assert client.delete(f"/api/v1/services/{ids['web']}", headers=admin_headers).status_code == 204


def test_errors_are_json_with_code_and_detail(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    r = client.get("/api/v1/services/424242", headers=admin_headers)
    assert r.status_code == 404
    assert r.json() == {"code": "not_found", "detail": "service 424242 does not exist"}

    r = client.post(
        "/api/v1/teams", json={"slug": "Not A Slug!", "name": ""}, headers=admin_headers
    )
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "validation_error"
    assert {e["field"] for e in body["errors"]} == {"slug", "name"}
    assert "slug" in body["detail"]

    r = client.post(
        "/api/v1/teams",
        content=b"{not json",
        headers=admin_headers | {"content-type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"

    r = client.post(
        "/api/v1/teams", json={"slug": "x", "name": "X", "extra": 1}, headers=admin_headers
    )
    assert r.status_code == 422

    r = client.get("/api/v1/nowhere", headers=admin_headers)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"

    r = client.put("/api/v1/teams", headers=admin_headers)
    assert r.status_code == 405
    assert r.json()["code"] == "method_not_allowed"

    r = client.get("/api/v1/teams", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_token"


def test_duplicate_slug_is_a_conflict(client: TestClient, admin_headers: dict[str, str]) -> None:
    assert (
        client.post(
            "/api/v1/regions", json={"slug": "eu", "name": "EU"}, headers=admin_headers
        ).status_code
        == 201
    )
    r = client.post("/api/v1/regions", json={"slug": "eu", "name": "Europe"}, headers=admin_headers)
    assert r.status_code == 409
    assert r.json()["code"] == "region_exists"


def test_users_tokens_and_audit_over_http(
    client: TestClient, admin_headers: dict[str, str], db: Database
) -> None:
    r = client.post(
        "/api/v1/users", json={"email": "cx@example.com", "role": "cx"}, headers=admin_headers
    )
    assert r.status_code == 201
    created = r.json()
    assert created["generated_password"]
    assert "password_hash" not in created

    # an admin mints a token for the cx user; it works and carries only what was asked
    r = client.post(
        "/api/v1/tokens",
        json={"scopes": ["read", "ingest"], "user_id": created["id"], "name": "widget"},
        headers=admin_headers,
    )
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["label"] == "cx@example.com"
    assert me["scopes"] == ["ingest", "read"]

    # the same token cannot mint a broader one
    r = client.post(
        "/api/v1/tokens", json={"scopes": ["write"]}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 403

    # revocation takes effect immediately
    widget_token = client.get("/api/v1/tokens?all_users=true", headers=admin_headers).json()
    token_id = next(t["id"] for t in widget_token if t["name"] == "widget")
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=admin_headers).status_code == 200
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert r.json()["code"] == "token_revoked"

    audit = client.get("/api/v1/audit?action=user.", headers=admin_headers).json()
    assert audit["total"] >= 2
    assert {e["action"] for e in audit["items"]} == {"user.create"}
    mine = client.get("/api/v1/audit?actor=admin@example.com", headers=admin_headers).json()
    actions = {e["action"] for e in mine["items"]}
    assert {"user.create", "apitoken.create", "apitoken.update"} <= actions
    assert all(e["request_id"] for e in mine["items"])


def test_viewer_reads_but_cannot_write(client: TestClient, viewer_headers: dict[str, str]) -> None:
    assert client.get("/api/v1/services", headers=viewer_headers).status_code == 200
    r = client.post("/api/v1/regions", json={"slug": "us", "name": "US"}, headers=viewer_headers)
    assert r.status_code == 403
    assert r.json()["code"] == "missing_scope"


def test_health_readiness_and_metrics(client: TestClient, db: Database) -> None:
    r = client.get("/healthz")
    assert r.json()["status"] == "ok"
    assert r.headers["x-request-id"]
    r = client.get("/readyz", headers={"X-Request-ID": "probe-1"})
    assert r.status_code == 200
    assert r.json()["status"] == "ready"
    assert r.headers["x-request-id"] == "probe-1"
    client.get("/api/v1/services/7")  # 401, labelled by its template
    text_metrics = client.get("/metrics").text
    assert (
        'juncture_http_requests_total{method="GET",route="/readyz",status="200"} 1.0'
        in text_metrics
    )
    assert 'route="/api/v1/services/{service_id}",status="401"' in text_metrics
    assert "juncture_http_request_duration_seconds_bucket" in text_metrics

    # an outdated schema makes the instance not ready, with the command to run
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'old'"))
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["code"] == "schema_outdated"
    assert "juncture db upgrade" in r.json()["detail"]


def test_openapi_documents_both_auth_schemes(client: TestClient) -> None:
    spec: dict[str, Any] = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    assert schemes["APIKeyCookie"]["name"] == "juncture_session"
    assert "/api/v1/journeys/{journey_id}" in spec["paths"]
    assert client.get("/docs").status_code == 200
