"""Notification and escalation (both engines) against a real local HTTP receiver under a
controlled clock: routing, escalation steps, acknowledgement, silences, retries, and the
acknowledge link of the message."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from juncture.config import Settings
from juncture.detect import jobs, service
from juncture.detect.models import Alert
from juncture.detect.schemas import ChainCreate, ChannelCreate, PolicyCreate, SilenceCreate
from juncture.jobs.registry import get_job
from juncture.kit import clock
from juncture.kit.errors import Invalid
from juncture.store.engine import Database
from juncture.store.uow import Actor, unit_of_work
from tests.detect.test_channels import HttpReceiver
from tests.detect.world import T0, company, evaluate_at, ingest, latency, make_rule

SECRET = "a-test-secret-of-32-characters!!"
PUBLIC = "https://juncture.example"
ALICE = Actor(kind="user", user_id=1, label="alice@example.com", scopes=frozenset({"write"}))
FIRE = T0 + timedelta(minutes=1)  # the first evaluation that sees the breach


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        run_jobs=False,
        log_json=False,
        log_level="WARNING",
        secret_key=SECRET,
        public_url=PUBLIC,
    )


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        receiver.thread.join(5)


@pytest.fixture
def firing(db: Database, http: HttpReceiver) -> int:
    """Checkout latency breaches from T0 on; a two-step policy routes the sre team's alerts
    to one Slack-style channel: ann at once, bob 5 minutes later."""
    team = company(db)
    ingest(
        db,
        latency(
            T0 - timedelta(minutes=10), 70, lambda _i, at: 1200.0 if at >= T0 else 200.0, "checkout"
        ),
        at=T0 + timedelta(hours=1),
    )
    make_rule(db, team, params={"threshold": 800})
    with unit_of_work(db) as session:
        service.create_channel(
            session, data=ChannelCreate(name="ops", config={"kind": "slack", "url": http.url})
        )
        service.create_policy(
            session,
            data=PolicyCreate(
                spec={
                    "name": "sre-policy",
                    "steps": [
                        {"targets": [{"kind": "user", "ref": "ann"}], "wait_minutes": 5},
                        {"targets": [{"kind": "user", "ref": "bob"}], "wait_minutes": 10},
                    ],
                }
            ),
        )
        service.create_chain(
            session,
            data=ChainCreate(
                name="sre", spec={"team": "sre", "policy": "sre-policy", "channels": ["ops"]}
            ),
        )
    return team


def notify_at(db: Database, settings: Settings, at: datetime) -> dict[str, int]:
    with clock.use_clock(clock.FixedClock(at)), unit_of_work(db) as session:
        return jobs.notify_due(session, now=at, settings=settings)


def _alert(db: Database) -> Alert:
    with unit_of_work(db) as session:
        (alert,), _ = service.list_alerts(session)
        session.expunge(alert)
        return alert


def _history(db: Database, alert_id: int) -> list[tuple[str, dict[str, Any]]]:
    with unit_of_work(db) as session:
        return [(e.kind, e.detail) for e in service.alert_history(session, alert_id=alert_id)]


def _texts(http: HttpReceiver) -> list[str]:
    return [str(r.json()["text"]) + str(r.json()["blocks"]) for r in http.requests]


def test_the_jobs_are_registered() -> None:
    evaluate_job = get_job("detect.evaluate")
    notify_job = get_job("detect.notify")
    assert evaluate_job is not None
    assert evaluate_job.every == timedelta(minutes=1)
    assert notify_job is not None
    assert notify_job.every == timedelta(seconds=30)


def test_escalation_steps_until_nobody_is_left(
    db: Database, settings: Settings, firing: int, http: HttpReceiver
) -> None:
    assert evaluate_at(db, FIRE)["to_notify"] == 1
    # Step 1 at once.
    summary = notify_at(db, settings, FIRE)
    assert summary["steps"] == 1
    assert summary["deliveries"] == 1
    assert len(http.requests) == 1
    assert "ann" in _texts(http)[0]
    alert = _alert(db)
    assert alert.escalation_policy == "sre-policy"
    assert alert.escalation_sent_steps == 1
    assert alert.next_escalation_at == FIRE + timedelta(minutes=5)
    # Nothing while step 1 waits (ticks every 30 s).
    for seconds in range(30, 300, 30):
        assert notify_at(db, settings, FIRE + timedelta(seconds=seconds))["deliveries"] == 0
    assert len(http.requests) == 1
    # Nobody acknowledged: step 2 after the wait.
    assert notify_at(db, settings, FIRE + timedelta(minutes=5))["deliveries"] == 1
    assert len(http.requests) == 2
    assert "bob" in _texts(http)[1]
    alert = _alert(db)
    assert alert.escalation_sent_steps == 2
    assert alert.next_escalation_at is None  # no repeat: the policy is done
    assert notify_at(db, settings, FIRE + timedelta(hours=1))["deliveries"] == 0
    kinds = [k for k, _ in _history(db, alert.id)]
    assert kinds == ["fired", "notified", "escalated", "notified"]
    escalated = dict(_history(db, alert.id))["escalated"]
    assert escalated["step"] == 2
    assert escalated["users"] == ["bob"]
    with unit_of_work(db) as session:
        deliveries = service.list_deliveries(session, alert_id=alert.id)
        assert [(d.ok, d.attempt, d.alert_state) for d in deliveries] == [
            (True, 1, "firing"),
            (True, 1, "firing"),
        ]
    # The evaluation joining the alert every minute does not notify again.
    evaluate_at(db, FIRE + timedelta(minutes=70))
    assert notify_at(db, settings, FIRE + timedelta(minutes=70))["deliveries"] == 0


def test_nothing_after_acknowledgement(
    db: Database, settings: Settings, firing: int, http: HttpReceiver
) -> None:
    evaluate_at(db, FIRE)
    notify_at(db, settings, FIRE)
    assert len(http.requests) == 1
    alert_id = _alert(db).id
    with unit_of_work(db, actor=ALICE) as session:
        service.acknowledge(session, alert_id=alert_id, at=FIRE + timedelta(minutes=2))
    for minutes in (3, 5, 6, 15, 60):
        evaluate_at(db, FIRE + timedelta(minutes=minutes))
        assert notify_at(db, settings, FIRE + timedelta(minutes=minutes))["deliveries"] == 0
    assert len(http.requests) == 1
    assert _alert(db).state == "acknowledged"


def test_a_failed_delivery_is_retried_on_a_later_tick(
    db: Database, settings: Settings, firing: int, http: HttpReceiver
) -> None:
    http.script(503, 200)
    evaluate_at(db, FIRE)
    summary = notify_at(db, settings, FIRE)
    assert summary["failed"] == 1
    assert len(http.requests) == 1
    # Not before the retry time (30 s after the failure).
    assert notify_at(db, settings, FIRE + timedelta(seconds=10))["retried"] == 0
    assert len(http.requests) == 1
    summary = notify_at(db, settings, FIRE + timedelta(seconds=30))
    assert summary["retried"] == 1
    assert summary["failed"] == 0
    assert len(http.requests) == 2
    assert "ann" in _texts(http)[1]
    alert_id = _alert(db).id
    with unit_of_work(db) as session:
        deliveries = service.list_deliveries(session, alert_id=alert_id)
        assert [(d.ok, d.attempt, d.status_code, d.retry_in_s) for d in deliveries] == [
            (False, 1, 503, 30.0),
            (True, 2, 200, None),
        ]
    # Delivered: no more retries.
    assert notify_at(db, settings, FIRE + timedelta(minutes=2))["retried"] == 0


def test_a_permanent_failure_is_not_retried(
    db: Database, settings: Settings, firing: int, http: HttpReceiver
) -> None:
    http.script(404)
    evaluate_at(db, FIRE)
    assert notify_at(db, settings, FIRE)["failed"] == 1
    assert notify_at(db, settings, FIRE + timedelta(minutes=2))["retried"] == 0
    assert len(http.requests) == 1


def test_silences_suppress_notification(
    db: Database, settings: Settings, firing: int, http: HttpReceiver
) -> None:
    with unit_of_work(db, actor=ALICE) as session:
        service.create_silence(
            session,
            data=SilenceCreate.model_validate(
                {
                    "matchers": {"services": ["checkout"]},
                    "starts_at": T0 - timedelta(hours=1),
                    "ends_at": T0 + timedelta(hours=1),
                    "reason": "maintenance",
                }
            ),
        )
    summary = evaluate_at(db, FIRE)
    assert summary["opened"] == 1
    assert summary["to_notify"] == 0
    for minutes in (0, 1, 6, 20):
        evaluate_at(db, FIRE + timedelta(minutes=minutes))
        assert notify_at(db, settings, FIRE + timedelta(minutes=minutes))["deliveries"] == 0
    assert http.requests == []
    alert = _alert(db)
    assert alert.state == "firing"
    assert [k for k, _ in _history(db, alert.id)] == ["fired", "silenced"]


def test_no_chain_is_recorded_not_retried(db: Database, settings: Settings) -> None:
    team = company(db)
    ingest(db, latency(T0 - timedelta(minutes=5), 10, lambda _i, _at: 1200.0, "checkout"), at=T0)
    make_rule(db, team, params={"threshold": 800})
    evaluate_at(db, T0 + timedelta(minutes=1))
    assert notify_at(db, settings, T0 + timedelta(minutes=1))["no_route"] == 1
    assert notify_at(db, settings, T0 + timedelta(minutes=2))["no_route"] == 0
    alert = _alert(db)
    assert alert.next_escalation_at is None
    assert _history(db, alert.id)[-1][1]["no_route"]


# ---------------------------------------------------------------- the acknowledge link


@pytest.fixture
def web_clock(monkeypatch: pytest.MonkeyPatch) -> clock.FixedClock:
    """The app's requests run in another thread: move the process-wide clock instead."""
    fixed = clock.FixedClock(FIRE + timedelta(minutes=1))
    monkeypatch.setattr(clock, "_default", fixed)
    return fixed


def _ack_path(http: HttpReceiver) -> str:
    text = str(http.requests[0].json()["text"])
    match = re.search(r"https://juncture\.example(/alerts/\d+/ack\?t=[^\s>|]+)", text)
    assert match is not None, text
    return match.group(1)


def test_the_acknowledge_link_acknowledges_as_the_recipient(
    db: Database,
    settings: Settings,
    firing: int,
    http: HttpReceiver,
    client: TestClient,
    web_clock: clock.FixedClock,
) -> None:
    evaluate_at(db, FIRE)
    notify_at(db, settings, FIRE)
    payload = http.requests[0].json()
    assert f"{PUBLIC}/alerts/" in str(payload["blocks"])  # the Open button: absolute
    path = _ack_path(http)
    alert_id = _alert(db).id
    # Opening the link changes nothing: it asks.
    page = client.get(path)
    assert page.status_code == 200
    assert "Acknowledge this alert" in page.text
    assert _alert(db).state == "firing"
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    token = re.search(r'name="t" value="([^"]+)"', page.text)
    assert csrf is not None
    assert token is not None
    form = {"t": token.group(1), "csrf_token": csrf.group(1)}
    # Without the form's cookie (a cross-site post): refused.
    bare = TestClient(client.app, base_url="http://testserver")
    refused = bare.post(f"/alerts/{alert_id}/ack", data=form)
    assert refused.status_code == 403
    assert _alert(db).state == "firing"
    # A forged token: refused.
    forged = client.post(f"/alerts/{alert_id}/ack", data=form | {"t": token.group(1) + "x"})
    assert forged.status_code == 400
    page = client.get(path)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    done = client.post(
        f"/alerts/{alert_id}/ack", data={"t": token.group(1), "csrf_token": csrf.group(1)}
    )
    assert done.status_code == 200, done.text
    assert "acknowledged by link:ann" in done.text
    alert = _alert(db)
    assert alert.state == "acknowledged"
    assert alert.acknowledged_by == "link:ann"
    # Escalation stopped.
    assert notify_at(db, settings, FIRE + timedelta(minutes=10))["deliveries"] == 0


def test_acknowledge_tokens_expire_and_bind_the_alert() -> None:
    secret = SECRET.encode()
    token = service.ack_token(
        alert_id=7, recipient="ann", expires_at=T0 + timedelta(hours=1), secret=secret
    )
    assert service.check_ack_token(token, alert_id=7, secret=secret, now=T0) == "ann"
    with pytest.raises(Invalid) as expired:
        service.check_ack_token(token, alert_id=7, secret=secret, now=T0 + timedelta(hours=1))
    assert expired.value.code == "ack_link_expired"
    for bad in (
        lambda: service.check_ack_token(token, alert_id=8, secret=secret, now=T0),
        lambda: service.check_ack_token(token, alert_id=7, secret=b"another-secret!!", now=T0),
        lambda: service.check_ack_token("nonsense", alert_id=7, secret=secret, now=T0),
    ):
        with pytest.raises(Invalid) as err:
            bad()
        assert err.value.code == "invalid_ack_link"


def test_an_expired_link_shows_an_error_page(
    db: Database,
    settings: Settings,
    firing: int,
    client: TestClient,
    web_clock: clock.FixedClock,
) -> None:
    evaluate_at(db, FIRE)
    alert_id = _alert(db).id
    token = service.ack_token(
        alert_id=alert_id,
        recipient="ann",
        expires_at=clock.now() - timedelta(minutes=1),
        secret=SECRET.encode(),
    )
    page = client.get(f"/alerts/{alert_id}/ack?t={token}")
    assert page.status_code == 400
    assert "expired" in page.text
    assert "Acknowledge this alert" not in page.text
    assert urlsplit(PUBLIC).netloc == "juncture.example"


def test_a_signed_in_user_acknowledges_as_themselves(
    db: Database,
    settings: Settings,
    firing: int,
    http: HttpReceiver,
    client: TestClient,
    web_clock: clock.FixedClock,
) -> None:
    from tests.factories import make_user
    from tests.web.test_pages import login

    evaluate_at(db, FIRE)
    notify_at(db, settings, FIRE)
    path = _ack_path(http)
    alert_id = _alert(db).id
    make_user(db, email="ops@example.com", role="ops")
    session_csrf = login(client, "ops@example.com")
    page = client.get(path)
    assert page.status_code == 200
    assert f'name="csrf_token" value="{session_csrf}"' in page.text
    token = re.search(r'name="t" value="([^"]+)"', page.text)
    assert token is not None
    # The session's CSRF token is required.
    refused = client.post(f"/alerts/{alert_id}/ack", data={"t": token.group(1)})
    assert refused.status_code == 403
    assert _alert(db).state == "firing"
    done = client.post(
        f"/alerts/{alert_id}/ack", data={"t": token.group(1), "csrf_token": session_csrf}
    )
    assert done.status_code == 200, done.text
    assert _alert(db).acknowledged_by == "ops@example.com"
