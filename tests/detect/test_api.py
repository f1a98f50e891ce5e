"""Detect API: rules, alerts (filters, detail, transitions), silences, channels and on-call,
with RBAC and JSON errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from juncture.detect import service
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work
from tests.factories import make_team, make_token, make_user

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def _headers(db: Database, role: str, scopes: list[str]) -> dict[str, str]:
    user = make_user(db, role=role)
    return {"Authorization": f"Bearer {make_token(db, user_id=user, scopes=scopes)}"}


@pytest.fixture
def ops(db: Database) -> dict[str, str]:
    return _headers(db, "ops", ["read", "write"])


@pytest.fixture
def viewer(db: Database) -> dict[str, str]:
    return _headers(db, "viewer", ["read"])


@pytest.fixture
def admin(db: Database) -> dict[str, str]:
    return _headers(db, "admin", ["read", "write", "admin"])


def _alert(db: Database, key: str, at: datetime = T0, **kw: Any) -> int:
    data: dict[str, Any] = {
        "dedup_key": key,
        "title": f"Alert {key}",
        "severity": "high",
        "services": ["checkout"],
        "evidence": {"lag_minutes": 4, "effect": {"orders": 42}},
        "at": at,
    } | kw
    with unit_of_work(db) as session:
        return service.raise_alert(session, **data).id


def test_rules_crud(client: TestClient, db: Database, ops: dict[str, str]) -> None:
    team = make_team(db)
    body = {
        "name": "Checkout latency",
        "kind": "threshold",
        "target": {"signal_type": "metric", "metric": "latency_p95_ms", "subject": "checkout"},
        "params": {"threshold": 800, "for_minutes": 5},
        "severity": "high",
        "owner_team_id": team,
    }
    r = client.post("/api/v1/alert-rules", json=body, headers=ops)
    assert r.status_code == 201, r.text
    rule = r.json()
    assert rule["params"] == {"threshold": 800.0, "op": ">", "for_minutes": 5}
    assert (
        client.post("/api/v1/alert-rules", json=body, headers=ops).json()["code"] == "rule_exists"
    )
    r = client.post(
        "/api/v1/alert-rules", json=body | {"name": "x", "params": {"op": ">"}}, headers=ops
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_rule_params"
    assert "threshold" in r.json()["detail"]
    r = client.post("/api/v1/alert-rules", json=body | {"name": "y", "kind": "magic"}, headers=ops)
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    r = client.patch(f"/api/v1/alert-rules/{rule['id']}", json={"group_by": None}, headers=ops)
    assert r.status_code == 422 and r.json()["code"] == "invalid_rule"
    r = client.patch(f"/api/v1/alert-rules/{rule['id']}", json={"enabled": False}, headers=ops)
    assert r.status_code == 200 and r.json()["enabled"] is False
    listed = client.get("/api/v1/alert-rules?enabled=false", headers=ops).json()
    assert [x["id"] for x in listed] == [rule["id"]]
    assert client.get("/api/v1/alert-rules?kind=baseline", headers=ops).json() == []
    assert client.delete(f"/api/v1/alert-rules/{rule['id']}", headers=ops).status_code == 204
    r = client.get(f"/api/v1/alert-rules/{rule['id']}", headers=ops)
    assert r.status_code == 404 and r.json()["code"] == "alert_rule_not_found"


def test_alerts_list_filters_detail_and_transitions(
    client: TestClient, db: Database, ops: dict[str, str], viewer: dict[str, str]
) -> None:
    a = _alert(db, "a", severity="critical", customer_facing=True)
    b = _alert(db, "b", services=["search"], journeys=["browse"], at=T0 + timedelta(minutes=1))
    page = client.get("/api/v1/alerts", headers=viewer).json()
    assert page["total"] == 2 and [x["id"] for x in page["items"]] == [b, a]

    def ids(query: str) -> list[int]:
        r = client.get(f"/api/v1/alerts?{query}", headers=viewer)
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()["items"]]

    assert ids("service=checkout") == [a]
    assert ids("journey=browse") == [b]
    assert ids("severity=critical") == [a]
    assert ids("customer_facing=true") == [a]
    assert ids("state=open&limit=1&offset=1") == [a]
    bad = client.get("/api/v1/alerts?severity=urgent", headers=viewer)
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    assert client.get("/api/v1/alerts?state=sleeping", headers=viewer).status_code == 422

    # a viewer can read but not act
    r = client.post(f"/api/v1/alerts/{a}/acknowledge", headers=viewer)
    assert r.status_code == 403 and r.json()["code"] == "missing_scope"

    r = client.post(f"/api/v1/alerts/{a}/acknowledge", json={"note": "looking"}, headers=ops)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "acknowledged" and r.json()["acknowledged_by"]
    r = client.post(f"/api/v1/alerts/{a}/acknowledge", headers=ops)
    assert r.status_code == 409 and r.json()["code"] == "already_acknowledged"
    r = client.post(f"/api/v1/alerts/{a}/unacknowledge", headers=ops)
    assert r.status_code == 200 and r.json()["state"] == "firing"
    r = client.post(f"/api/v1/alerts/{a}/resolve", headers=ops)
    assert r.status_code == 200 and r.json()["state"] == "resolved"
    r = client.post(f"/api/v1/alerts/{a}/unacknowledge", headers=ops)
    assert r.status_code == 409 and r.json()["code"] == "alert_resolved"
    assert ids("state=resolved") == [a]

    detail = client.get(f"/api/v1/alerts/{a}", headers=viewer).json()
    assert detail["evidence"] == {"lag_minutes": 4, "effect": {"orders": 42}}
    assert [e["kind"] for e in detail["history"]] == [
        "fired",
        "acknowledged",
        "unacknowledged",
        "resolved",
    ]
    assert detail["history"][1]["detail"] == {"note": "looking"}
    assert detail["deliveries"] == []
    r = client.get("/api/v1/alerts/424242", headers=viewer)
    assert r.status_code == 404 and r.json()["code"] == "alert_not_found"
    r = client.post("/api/v1/alerts/424242/resolve", headers=ops)
    assert r.status_code == 404


def test_silences_crud(
    client: TestClient, db: Database, ops: dict[str, str], viewer: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    body = {
        "matchers": {"services": ["checkout"], "severities": ["warning"]},
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
        "reason": "database upgrade",
    }
    r = client.post("/api/v1/silences", json=body, headers=ops)
    assert r.status_code == 201, r.text
    silence = r.json()
    assert silence["created_by"] and silence["matchers"]["services"] == ["checkout"]
    assert client.post("/api/v1/silences", json=body, headers=viewer).status_code == 403
    r = client.post("/api/v1/silences", json=body | {"matchers": {}}, headers=ops)
    assert r.status_code == 422 and r.json()["code"] == "silence_matches_everything"
    r = client.post("/api/v1/silences", json=body | {"ends_at": body["starts_at"]}, headers=ops)
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    # naive times are UTC, never a 500
    naive = {
        "matchers": {"journeys": ["buy"]},
        "starts_at": "2026-01-01T00:00:00",
        "ends_at": "2026-01-01T02:00:00",
    }
    r = client.post("/api/v1/silences", json=naive, headers=ops)
    assert r.status_code == 201 and r.json()["starts_at"].startswith("2026-01-01T00:00:00")
    active = client.get("/api/v1/silences?active=true", headers=viewer).json()
    assert [s["id"] for s in active] == [silence["id"]]
    assert len(client.get("/api/v1/silences", headers=viewer).json()) == 2
    r = client.patch(
        f"/api/v1/silences/{silence['id']}",
        json={"ends_at": (now - timedelta(hours=2)).isoformat()},
        headers=ops,
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_window"
    r = client.patch(f"/api/v1/silences/{silence['id']}", json={"reason": "later"}, headers=ops)
    assert r.status_code == 200 and r.json()["reason"] == "later"
    assert client.delete(f"/api/v1/silences/{silence['id']}", headers=ops).status_code == 204
    assert client.get(f"/api/v1/silences/{silence['id']}", headers=viewer).status_code == 404


def test_channels_need_admin_and_mask_secrets(
    client: TestClient, admin: dict[str, str], ops: dict[str, str]
) -> None:
    body = {
        "name": "ops-mail",
        "config": {
            "kind": "email",
            "host": "smtp.example.com",
            "sender": "juncture <alerts@example.com>",
            "to": ["oncall@example.com"],
            "username": "alerts",
            "password": "hunter2-hunter2",
        },
    }
    r = client.post("/api/v1/notification-channels", json=body, headers=ops)
    assert r.status_code == 403 and r.json()["code"] == "missing_scope"
    r = client.post("/api/v1/notification-channels", json=body, headers=admin)
    assert r.status_code == 201, r.text
    channel = r.json()
    assert channel["kind"] == "email" and channel["config"]["password"] == "***"
    assert "hunter2" not in client.get("/api/v1/notification-channels", headers=ops).text
    r = client.post(
        "/api/v1/notification-channels",
        json={"name": "bad", "config": {"kind": "slack", "url": "ftp://x"}},
        headers=admin,
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_channel_config"
    r = client.post(
        "/api/v1/notification-channels", json={"name": "Bad Name!", "config": {}}, headers=admin
    )
    assert r.status_code == 422
    r = client.patch(
        f"/api/v1/notification-channels/{channel['id']}", json={"enabled": False}, headers=admin
    )
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert r.json()["config"]["password"] == "***"
    r = client.delete(f"/api/v1/notification-channels/{channel['id']}", headers=admin)
    assert r.status_code == 204


def test_schedules_policies_chains_and_on_call(
    client: TestClient, db: Database, ops: dict[str, str], admin: dict[str, str]
) -> None:
    make_team(db, slug="payments-sre")
    spec = {
        "name": "primary",
        "time_zone": "UTC",
        "layers": [
            {
                "name": "daily",
                "time_zone": "UTC",
                "participants": ["ana", "ben"],
                "kind": "daily",
                "start": "2026-11-01",
                "handoff": "09:00",
            }
        ],
    }
    r = client.post("/api/v1/schedules", json={"spec": spec}, headers=ops)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    r = client.get(f"/api/v1/schedules/{sid}/on-call?at=2026-11-01T10:00:00Z", headers=ops)
    assert r.status_code == 200 and r.json()["user"] == "ana"
    r = client.get(f"/api/v1/schedules/{sid}/on-call?at=2026-11-02T10:00:00", headers=ops)
    assert r.json()["user"] == "ben"  # naive: UTC
    r = client.get(f"/api/v1/schedules/{sid}/on-call?at=2026-10-01T10:00:00Z", headers=ops)
    assert r.json()["user"] is None
    assert client.get(f"/api/v1/schedules/{sid}/on-call", headers=ops).status_code == 200
    r = client.get(f"/api/v1/schedules/{sid}/on-call?at=yesterday", headers=ops)
    assert r.status_code == 422
    r = client.post(
        "/api/v1/schedules", json={"spec": spec | {"layers": [{"name": "x"}]}}, headers=ops
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_schedule"

    policy = {
        "name": "payments-default",
        "steps": [{"targets": [{"kind": "schedule", "ref": "primary"}], "wait_minutes": 10}],
    }
    r = client.post("/api/v1/escalation-policies", json={"spec": policy}, headers=ops)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    r = client.post(
        "/api/v1/notification-channels",
        json={"name": "ops-slack", "config": {"kind": "slack", "url": "https://hooks.example/x"}},
        headers=admin,
    )
    assert r.status_code == 201
    chain = {"team": "payments-sre", "policy": "payments-default", "channels": ["ops-slack"]}
    r = client.post(
        "/api/v1/notification-chains", json={"name": "payments", "spec": chain}, headers=ops
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    r = client.post(
        "/api/v1/notification-chains",
        json={"name": "other", "spec": chain | {"policy": "nope"}},
        headers=ops,
    )
    assert r.status_code == 422 and r.json()["code"] == "unknown_policy"
    r = client.delete(f"/api/v1/escalation-policies/{pid}", headers=ops)
    assert r.status_code == 409 and r.json()["code"] == "policy_in_use"
    assert client.delete(f"/api/v1/notification-chains/{cid}", headers=ops).status_code == 204
    assert client.delete(f"/api/v1/escalation-policies/{pid}", headers=ops).status_code == 204
    assert client.delete(f"/api/v1/schedules/{sid}", headers=ops).status_code == 204
    assert client.get("/api/v1/schedules", headers=ops).json() == []
