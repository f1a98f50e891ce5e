"""Incidents API: declare, list, read, patch, lifecycle, roles, severity, notes, timeline and
its exports, declare from an alert, attach alerts, checklist, tiers, root causes and playbooks,
with scopes and JSON error codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from juncture.detect import service as detect_service
from juncture.incidents import defaults
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work
from tests.detect.world import company
from tests.factories import make_token, make_user

API = "/api/v1"


def _headers(db: Database, role: str, scopes: list[str]) -> dict[str, str]:
    user = make_user(db, role=role)
    return {"Authorization": f"Bearer {make_token(db, user_id=user, scopes=scopes)}"}


@pytest.fixture
def ops(db: Database) -> dict[str, str]:
    company(db)
    with unit_of_work(db) as session:
        defaults.ensure_defaults(session)
    return _headers(db, "ops", ["read", "write"])


@pytest.fixture
def viewer(db: Database) -> dict[str, str]:
    return _headers(db, "viewer", ["read"])


def _declare(client: TestClient, headers: dict[str, str], **kw: Any) -> dict[str, Any]:
    body = {"title": "Checkout errors", "severity": "sev2", "services": ["checkout"]} | kw
    r = client.post(f"{API}/incidents", json=body, headers=headers)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


def test_declare_read_list_and_errors(
    client: TestClient, ops: dict[str, str], viewer: dict[str, str]
) -> None:
    r = client.post(
        f"{API}/incidents",
        json={"title": "x", "severity": "sev2", "services": ["nope"]},
        headers=ops,
    )
    assert r.status_code == 422 and r.json()["code"] == "unknown_service"
    assert "nope" in r.json()["detail"]
    r = client.post(
        f"{API}/incidents", json={"title": "x", "severity": "sev9", "services": []}, headers=ops
    )
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    r = client.post(
        f"{API}/incidents",
        json={"title": "x", "severity": "sev2", "services": ["checkout"]},
        headers=viewer,
    )
    assert r.status_code == 403

    created = _declare(client, ops, journeys=["purchase"], kind="deploy")
    assert created["status"] == "declared" and created["severity"] == "sev2"
    assert created["authority"]["public_statement"] == "comms_lead"
    assert any(i["title"] == "Roll back the suspect release" for i in created["checklist"])
    _declare(client, ops, title="Web slow", services=["web"], severity="sev3")

    r = client.get(f"{API}/incidents/{created['id']}", headers=viewer)
    assert r.status_code == 200 and r.json()["title"] == "Checkout errors"
    assert client.get(f"{API}/incidents/999", headers=viewer).json()["code"] == (
        "incident_not_found"
    )
    page = client.get(f"{API}/incidents", params={"service": "web"}, headers=viewer).json()
    assert page["total"] == 1 and page["items"][0]["title"] == "Web slow"
    page = client.get(f"{API}/incidents", params={"limit": 1}, headers=viewer).json()
    assert page["total"] == 2 and len(page["items"]) == 1
    page = client.get(f"{API}/incidents", params={"severity": "sev2"}, headers=viewer).json()
    assert [i["id"] for i in page["items"]] == [created["id"]]


def test_lifecycle_roles_severity_notes_and_timeline(
    client: TestClient, ops: dict[str, str], viewer: dict[str, str]
) -> None:
    incident = _declare(client, ops)
    url = f"{API}/incidents/{incident['id']}"
    r = client.post(f"{url}/transitions", json={"to": "identified", "note": "bad"}, headers=ops)
    assert r.status_code == 200 and r.json()["identified_at"] is not None
    r = client.post(f"{url}/transitions", json={"to": "investigating"}, headers=ops)
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    r = client.post(f"{url}/transitions", json={"to": "reviewed"}, headers=ops)
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    r = client.post(f"{url}/transitions", json={"to": "resolved"}, headers=ops)
    assert r.json()["status"] == "resolved"
    assert r.json()["durations"]["time_to_resolve"] is not None  # measured once resolved
    r = client.post(f"{url}/transitions", json={"to": "investigating"}, headers=ops)
    assert r.status_code == 200 and r.json()["resolved_at"] is None
    assert (
        client.post(f"{url}/transitions", json={"to": "resolved"}, headers=viewer).status_code
        == 403
    )

    r = client.post(f"{url}/roles", json={"role": "commander", "person": "Ann"}, headers=ops)
    assert r.status_code == 201 and r.json()["person"] == "Ann"
    client.post(f"{url}/roles", json={"role": "commander", "person": "Bob"}, headers=ops)
    r = client.post(f"{url}/roles", json={"role": "janitor", "person": "Bob"}, headers=ops)
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    assert "role" in r.json()["detail"]
    roles = client.get(f"{url}/roles", headers=viewer).json()
    assert roles["current"]["commander"]["person"] == "Bob"
    assert [(h["person"], h["released_at"] is None) for h in roles["history"]] == [
        ("Ann", False),
        ("Bob", True),
    ]

    r = client.post(f"{url}/severity", json={"severity": "sev1", "reason": "EU"}, headers=ops)
    assert r.status_code == 200 and r.json()["severity"] == "sev1"
    assert r.json()["ack_minutes"] == 5
    r = client.post(f"{url}/notes", json={"text": "Looking at the DB"}, headers=ops)
    assert r.status_code == 201 and r.json()["kind"] == "note"

    entries = client.get(f"{url}/timeline", headers=viewer).json()
    texts = [e["text"] for e in entries]
    assert "Ann handed commander to Bob" in texts
    assert "Severity sev2 → sev1: EU" in texts
    assert "Incident reopened: resolved → investigating" in texts
    only = client.get(f"{url}/timeline", params={"kind": "note"}, headers=viewer).json()
    assert [e["text"] for e in only] == ["Looking at the DB"]

    r = client.get(f"{url}/timeline.md", headers=viewer)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/markdown")
    assert "attachment" in r.headers["content-disposition"]
    assert r.text.startswith(f"# Incident {incident['id']}: Checkout errors")
    assert "Looking at the DB" in r.text
    r = client.get(f"{url}/timeline.json", headers=viewer)
    assert r.status_code == 200 and r.json()["incident"]["severity"] == "sev1"
    assert "Looking at the DB" in [e["text"] for e in r.json()["entries"]]


def test_patch_root_cause_and_checklist(
    client: TestClient, ops: dict[str, str], viewer: dict[str, str]
) -> None:
    incident = _declare(client, ops)
    url = f"{API}/incidents/{incident['id']}"
    r = client.patch(url, json={"root_cause": "aliens"}, headers=ops)
    assert r.status_code == 422 and r.json()["code"] == "unknown_root_cause"
    r = client.patch(url, json={"regions": ["mars"]}, headers=ops)
    assert r.status_code == 422 and r.json()["code"] == "unknown_region"
    r = client.patch(url, json={"title": None}, headers=ops)
    assert r.status_code == 422 and r.json()["code"] == "invalid_incident"
    r = client.patch(
        url, json={"root_cause": "dependency.third_party", "public": True}, headers=ops
    )
    assert r.status_code == 200 and r.json()["root_cause"] == "dependency.third_party"

    item = incident["checklist"][0]
    r = client.post(f"{url}/checklist/{item['id']}", headers=ops)
    assert r.status_code == 200 and r.json()["done_at"] is not None
    r = client.post(f"{url}/checklist/{item['id']}", json={"done": False}, headers=ops)
    assert r.json()["done_at"] is None
    r = client.post(f"{url}/checklist/99999", headers=ops)
    assert r.status_code == 404 and r.json()["code"] == "checklist_item_not_found"


def test_declare_from_alert_and_attach(
    client: TestClient, db: Database, ops: dict[str, str]
) -> None:
    at = datetime.now(UTC) - timedelta(minutes=15)
    with unit_of_work(db) as session:
        first = detect_service.raise_alert(
            session,
            dedup_key="a",
            title="Checkout 5xx",
            severity="high",
            services=["checkout"],
            at=at,
        ).id
        second = detect_service.raise_alert(
            session, dedup_key="b", title="Web slow", severity="warning", services=["web"], at=at
        ).id
    r = client.post(f"{API}/alerts/{first}/declare", headers=ops)
    assert r.status_code == 201, r.text
    incident = r.json()
    assert incident["severity"] == "sev2" and incident["alert_ids"] == [first]
    assert incident["title"] == "Checkout 5xx"
    alert = client.get(f"{API}/alerts/{first}", headers=ops).json()
    assert alert["state"] == "acknowledged"
    r = client.post(f"{API}/alerts/{first}/declare", json={"severity": "sev1"}, headers=ops)
    assert r.status_code == 409 and r.json()["code"] == "alert_already_declared"
    assert client.post(f"{API}/alerts/4242/declare", headers=ops).json()["code"] == (
        "alert_not_found"
    )

    url = f"{API}/incidents/{incident['id']}/alerts"
    r = client.post(url, json={"alert_id": second}, headers=ops)
    assert r.status_code == 200 and r.json()["alert_ids"] == [first, second]
    r = client.post(url, json={"alert_id": second}, headers=ops)
    assert r.status_code == 409 and r.json()["code"] == "alert_already_attached"
    r = client.post(f"{API}/incidents/{incident['id']}/capture", headers=ops)
    assert r.status_code == 200 and r.json() == {"captured": 0}


def test_tiers_root_causes_and_playbooks(
    client: TestClient, ops: dict[str, str], viewer: dict[str, str]
) -> None:
    tiers = client.get(f"{API}/incident-severity-tiers", headers=viewer).json()
    assert [t["tier"] for t in tiers] == ["sev1", "sev2", "sev3", "sev4"]
    assert tiers[0]["criteria"] == {"orders_share": 0.25}
    r = client.patch(
        f"{API}/incident-severity-tiers/sev2",
        json={"escalation": [{"who": "commander", "minutes": 0}], "update_every_minutes": 45},
        headers=ops,
    )
    assert r.status_code == 200 and r.json()["update_every_minutes"] == 45
    assert r.json()["escalation"] == [{"who": "commander", "minutes": 0}]
    r = client.patch(
        f"{API}/incident-severity-tiers/sev2", json={"criteria": {"bogus": 1}}, headers=ops
    )
    assert r.status_code == 422
    r = client.patch(
        f"{API}/incident-severity-tiers/sev2", json={"authority": {"rollback": None}}, headers=ops
    )
    assert r.status_code == 422
    assert client.get(f"{API}/incident-severity-tiers/sev9", headers=viewer).status_code == 422
    r = client.patch(f"{API}/incident-severity-tiers/sev2", json={"ack_minutes": 3}, headers=viewer)
    assert r.status_code == 403

    r = client.post(
        f"{API}/root-causes", json={"code": "data.backfill", "name": "Backfill"}, headers=ops
    )
    assert r.status_code == 201 and r.json()["parent"] == "data"
    r = client.post(f"{API}/root-causes", json={"code": "data.backfill", "name": "x"}, headers=ops)
    assert r.status_code == 409 and r.json()["code"] == "root_cause_exists"
    r = client.post(f"{API}/root-causes", json={"code": "Bad Code", "name": "x"}, headers=ops)
    assert r.status_code == 422
    r = client.patch(f"{API}/root-causes/data.backfill", json={"active": False}, headers=ops)
    assert r.status_code == 200 and r.json()["active"] is False
    active = client.get(f"{API}/root-causes", params={"active": True}, headers=viewer).json()
    assert "data.backfill" not in [c["code"] for c in active]
    assert client.patch(f"{API}/root-causes/zzz", json={}, headers=ops).status_code == 404

    body = {"name": "Search down", "services": ["web"], "steps": [{"title": "Serve cached"}]}
    r = client.post(f"{API}/playbooks", json=body, headers=ops)
    assert r.status_code == 201, r.text
    book = r.json()
    assert book["steps"][0] == {
        "title": "Serve cached",
        "kind": "ops",
        "detail": "",
        "mitigation": None,
    }
    assert client.post(f"{API}/playbooks", json=body, headers=ops).json()["code"] == (
        "playbook_exists"
    )
    r = client.post(f"{API}/playbooks", json=body | {"name": "Z", "steps": []}, headers=ops)
    assert r.status_code == 422
    r = client.patch(f"{API}/playbooks/{book['id']}", json={"enabled": False}, headers=ops)
    assert r.status_code == 200 and r.json()["enabled"] is False
    names = [p["name"] for p in client.get(f"{API}/playbooks", headers=viewer).json()]
    assert "Search down" in names and "Deploy-caused incident" in names
    r = client.delete(f"{API}/playbooks/{book['id']}", headers=ops)
    assert r.status_code == 204
    assert client.get(f"{API}/playbooks/{book['id']}", headers=viewer).status_code == 404
