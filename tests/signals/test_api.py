"""Signals over HTTP: batch and NDJSON ingest with bounds, webhooks, survey widget, series, quarantine."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from juncture.access.enums import Role
from juncture.kit import clock
from juncture.store.engine import Database
from tests.factories import make_token, make_user
from tests.signals.fixtures import BASE, metric, seed_catalog, ticket, ts

NOW = clock.FixedClock(BASE + timedelta(days=1))


@pytest.fixture(autouse=True)
def _frozen_clock() -> Any:
    with clock.use_clock(NOW):
        yield


@pytest.fixture
def ingest_headers(db: Database) -> dict[str, str]:
    seed_catalog(db)
    user = make_user(db, role=Role.ops, email="pipeline@example.com")
    return {
        "Authorization": f"Bearer {make_token(db, user_id=user, scopes=['read', 'write', 'ingest'])}"
    }


@pytest.fixture
def admin_headers(db: Database) -> dict[str, str]:
    user = make_user(db, role=Role.admin, email="root@example.com")
    return {
        "Authorization": f"Bearer {make_token(db, user_id=user, scopes=['read', 'write', 'ingest', 'admin'])}"
    }


def test_json_array_batch(client: TestClient, ingest_headers: dict[str, str]) -> None:
    body = [metric(1, 100), metric(2, 200), metric(2, 200), metric(3, -1), {"type": "nope"}]
    r = client.post("/api/v1/signals", json=body, headers=ingest_headers)
    assert r.status_code == 200, r.text
    summary = r.json()
    assert summary["received"] == 5
    assert (summary["accepted"], summary["duplicates"], summary["quarantined"]) == (2, 1, 2)
    assert summary["reasons"] == {"out_of_range": 1, "unknown_type": 1}
    assert [e["index"] for e in summary["errors"]] == [3, 4]


def test_ndjson_stream_with_a_broken_line(
    client: TestClient, ingest_headers: dict[str, str]
) -> None:
    lines = [
        orjson.dumps(metric(1, 10)),
        b"{not json",
        b"",
        orjson.dumps(ticket(2, "T1", "created", "customer")),
    ]
    r = client.post(
        "/api/v1/signals",
        content=b"\n".join(lines) + b"\n",
        headers=ingest_headers | {"content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    summary = r.json()
    assert (summary["received"], summary["accepted"], summary["quarantined"]) == (3, 2, 1)
    assert summary["reasons"] == {"invalid_json": 1}


def test_bounds_on_records_and_bytes(
    client: TestClient, ingest_headers: dict[str, str], app: Any
) -> None:
    app.state.settings = app.state.settings.model_copy(
        update={"ingest_max_records": 3, "ingest_max_bytes": 2048}
    )
    r = client.post(
        "/api/v1/signals", json=[metric(i, 1) for i in range(4)], headers=ingest_headers
    )
    assert r.status_code == 413
    assert r.json()["code"] == "too_many_records"
    r = client.post(
        "/api/v1/signals",
        content=b"[" + b" " * 5000 + b"]",
        headers=ingest_headers | {"content-type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"
    r = client.post(
        "/api/v1/signals",
        content=b"{oops",
        headers=ingest_headers | {"content-type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_json"


def test_ingest_needs_the_ingest_scope(client: TestClient, db: Database) -> None:
    user = make_user(db, role=Role.ops)
    reader = make_token(db, user_id=user, scopes=["read"])
    r = client.post("/api/v1/signals", json=[], headers={"Authorization": f"Bearer {reader}"})
    assert r.status_code == 403
    assert client.post("/api/v1/signals", json=[]).status_code == 401


def test_alertmanager_webhook(client: TestClient, ingest_headers: dict[str, str]) -> None:
    payload = {
        "version": "4",
        "status": "firing",
        "receiver": "juncture",
        "groupLabels": {},
        "commonAnnotations": {},
        "commonLabels": {"service": "checkout", "region": "eu"},
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "HighLatency", "severity": "page"},
                "startsAt": ts(10),
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "abc123",
            },
            {
                "status": "resolved",
                "labels": {"alertname": "HighErrors"},
                "startsAt": ts(1),
                "endsAt": ts(9),
                "fingerprint": "def456",
            },
            {
                "status": "firing",
                "labels": {"alertname": "Disk", "service": "nosuch"},
                "startsAt": ts(3),
                "fingerprint": "x",
            },
        ],
    }
    r = client.post("/api/v1/webhooks/alertmanager", json=payload, headers=ingest_headers)
    assert r.status_code == 200, r.text
    summary = r.json()
    assert (summary["accepted"], summary["quarantined"]) == (2, 1)
    assert summary["reasons"] == {"unknown_service": 1}
    again = client.post(
        "/api/v1/webhooks/alertmanager", json=payload, headers=ingest_headers
    ).json()
    assert again["duplicates"] == 2  # Alertmanager re-sends; the fingerprint keys dedupe
    series = client.get(
        "/api/v1/series",
        params={
            "type": "metric",
            "metric": "alert.highlatency",
            "subject": "checkout",
            "bucket": "d",
            "from": (BASE - timedelta(days=1)).isoformat(),
            "to": (BASE + timedelta(days=1)).isoformat(),
        },
        headers=ingest_headers,
    ).json()
    assert series["groups"]["all"][0]["max"] == 1.0


def test_helpdesk_webhook_accepts_other_tools_field_names(
    client: TestClient, ingest_headers: dict[str, str]
) -> None:
    zendesk_style = {
        "ticket.id": "ZD-7",
        "event": "created",
        "requester_id": "cust-1",
        "group": "support",
        "via": "email",
        "subject": "My order never came",
        "created_at": ts(5),
        "priority": "high",
    }
    ours = ticket(6, "ZD-7", "replied", "agent")
    r = client.post(
        "/api/v1/webhooks/helpdesk",
        json=[zendesk_style, {k: v for k, v in ours.items() if k != "type"}],
        headers=ingest_headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2


def test_survey_widget_token_and_rate_limit(
    client: TestClient, ingest_headers: dict[str, str], app: Any
) -> None:
    created = client.post(
        "/api/v1/survey-widgets",
        json={"name": "After checkout", "kind": "ces", "touchpoint_ref": "purchase/pay"},
        headers=ingest_headers,
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    app.state.settings = app.state.settings.model_copy(update={"widget_rate_per_minute": 2})
    ok = client.post(
        "/api/v1/widget/responses",
        json={"score": 6, "comment": "easy"},
        headers={"X-Survey-Token": token},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["accepted"] == 1
    bad = client.post(
        "/api/v1/widget/responses", json={"score": 9}, headers={"X-Survey-Token": token}
    )
    assert bad.json()["reasons"] == {"out_of_range": 1}  # CES is 1-7
    limited = client.post(
        "/api/v1/widget/responses", json={"score": 5}, headers={"X-Survey-Token": token}
    )
    assert limited.status_code == 429
    wrong = client.post(
        "/api/v1/widget/responses", json={"score": 5}, headers={"X-Survey-Token": "jsw_nope_nope"}
    )
    assert wrong.status_code == 401
    missing = client.post("/api/v1/widget/responses", json={"score": 5})
    assert missing.status_code == 422


def test_series_reads_rollups_with_group_by(
    client: TestClient, ingest_headers: dict[str, str]
) -> None:
    client.post(
        "/api/v1/signals",
        json=[metric(1, 100, region="eu"), metric(2, 300, region="eu"), metric(3, 50, region="us")],
        headers=ingest_headers,
    )
    params = {
        "type": "metric",
        "metric": "latency_p95_ms",
        "subject": "checkout",
        "bucket": "hour",
        "from": BASE.isoformat(),
        "to": (BASE + timedelta(hours=2)).isoformat(),
        "group_by": "region",
    }
    body = client.get("/api/v1/series", params=params, headers=ingest_headers).json()
    assert {k: (v[0]["count"], v[0]["sum"]) for k, v in body["groups"].items()} == {
        "eu": (2, 400.0),
        "us": (1, 50.0),
    }
    bad = client.get(
        "/api/v1/series", params=params | {"group_by": "colour"}, headers=ingest_headers
    )
    assert bad.status_code == 422 and bad.json()["code"] == "bad_group_by"
    naive = client.get(
        "/api/v1/series", params=params | {"from": "2026-11-20T08:00:00"}, headers=ingest_headers
    )
    assert naive.status_code == 422
    catalog = client.get("/api/v1/series/catalog?type=metric", headers=ingest_headers).json()
    assert {s["region"] for s in catalog} == {"eu", "us"}


def test_quarantine_api_list_replay_drop(
    client: TestClient, ingest_headers: dict[str, str], admin_headers: dict[str, str]
) -> None:
    client.post(
        "/api/v1/signals",
        json=[metric(1, 5, service="search"), metric(2, -3)],
        headers=ingest_headers,
    )
    page = client.get("/api/v1/quarantine", headers=admin_headers).json()
    assert page["total"] == 2
    reasons = {item["reason"]: item["id"] for item in page["items"]}
    assert set(reasons) == {"unknown_service", "out_of_range"}
    assert client.get("/api/v1/quarantine", headers=ingest_headers).status_code == 403  # admin only
    client.post(
        "/api/v1/services",
        json={"slug": "search", "name": "Search", "owner_team_id": 1},
        headers=ingest_headers,
    )
    replay = client.post(
        "/api/v1/quarantine/replay", json={"reason": "unknown_service"}, headers=admin_headers
    ).json()
    assert replay == {"replayed": 1, "accepted": 1, "duplicates": 0, "still_quarantined": 0}
    dropped = client.post(
        "/api/v1/quarantine/drop", json={"ids": [reasons["out_of_range"]]}, headers=admin_headers
    )
    assert dropped.json() == {"dropped": 1}
    assert client.get("/api/v1/quarantine", headers=admin_headers).json()["total"] == 0
    everything = client.get(
        "/api/v1/quarantine?include_resolved=true", headers=admin_headers
    ).json()
    assert {i["resolved"] for i in everything["items"]} == {"replayed", "dropped"}
    audit = client.get("/api/v1/audit?action=signals.quarantine", headers=admin_headers).json()
    assert audit["total"] == 2
