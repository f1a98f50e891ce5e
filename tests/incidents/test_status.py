"""The public status page, the banner, subscriptions and their delivery (real SMTP and HTTP)."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session
from fastapi.testclient import TestClient
from sqlalchemy import select

from juncture.config import Settings
from juncture.detect.channels import EmailChannel, verify
from juncture.incidents import comms, status
from juncture.incidents.models import Incident, StatusNotification, StatusSubscription
from juncture.kit.errors import Invalid, NotFound
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work
from tests.factories import make_service
from tests.incidents.test_comms import ALICE, BOB, T0, make_incident

NOW = T0 + timedelta(hours=1)


def _update(
    db: Database, incident_id: int, *, audience: str = "customers", publish: bool = True, **kw: Any
) -> int:
    with unit_of_work(db, actor=ALICE) as session:
        comms.ensure_default_templates(session)
        update_id = comms.draft_update(
            session, incident_id=incident_id, audience=audience, now=T0, **kw
        ).id
    if publish and audience == "customers":
        with unit_of_work(db, actor=ALICE) as session:
            comms.submit_update(session, update_id=update_id)
        with unit_of_work(db, actor=BOB) as session:
            comms.review_update(session, update_id=update_id, approve=True)
    if publish:
        with unit_of_work(db, actor=BOB) as session:
            comms.publish_update(session, update_id=update_id, now=T0 + timedelta(minutes=10))
    return update_id


def _world(db: Database) -> None:
    make_service(db, slug="checkout", name="Checkout")
    make_service(db, slug="search", name="Search")
    with unit_of_work(db) as session:
        from juncture.catalog import service as catalog_service
        from juncture.catalog.schemas import RegionCreate

        catalog_service.create_region(session, data=RegionCreate(slug="eu", name="Europe"))
        catalog_service.create_region(session, data=RegionCreate(slug="us", name="Americas"))


def test_only_published_customer_updates_reach_the_page_and_banner(db: Database) -> None:
    _world(db)
    hidden = make_incident(db, title="Internal only: DB failover", services=["search"])
    _update(db, hidden, audience="executives", subject="EXEC SECRET", body="exec body")
    _update(db, hidden, audience="frontline", subject="AGENT MACRO", body="agent body")
    _update(db, hidden, publish=False, subject="DRAFT TEXT", body="draft body")
    with unit_of_work(db) as session:
        page = status.status_page(session, now=NOW)
        assert page.open_incidents == [] and page.status == "operational"
        assert all(c.status == "operational" for c in page.services + page.regions)
        assert status.banner(session)["active"] is False

    shown = make_incident(db, title="Checkout errors (internal title)")
    pending = _update(db, shown, publish=False, subject="IN REVIEW TEXT", body="x")
    with unit_of_work(db, actor=ALICE) as session:
        comms.submit_update(session, update_id=pending)
    published = _update(
        db, shown, subject="Checkout is slow", body="We are on it.", component_status="major_outage"
    )
    with unit_of_work(db) as session:
        page = status.status_page(session, now=NOW)
        by_slug = {c.slug: c.status for c in page.services}
        assert by_slug == {"checkout": "major_outage", "search": "operational"}
        assert {c.slug: c.status for c in page.regions} == {
            "eu": "major_outage",
            "us": "operational",
        }
        assert [i.id for i in page.open_incidents] == [shown]
        assert [u.id for u in page.open_incidents[0].updates] == [published]
        assert page.open_incidents[0].title == "Checkout is slow"
        checkout = next(c for c in page.services if c.slug == "checkout")
        assert len(checkout.history) == 90 and checkout.history[-1] == (NOW.date(), "major_outage")
        assert checkout.history[0][1] == "operational"
        dump = repr(page)
        for secret in ("EXEC SECRET", "AGENT MACRO", "DRAFT TEXT", "IN REVIEW TEXT", "internal"):
            assert secret not in dump
        b = status.banner(session, service="checkout")
        assert b["active"] is True and b["status"] == "major_outage"
        assert b["subject"] == "Checkout is slow" and b["incident_ids"] == [shown]
        assert b["updated_at"] is not None
        assert status.banner(session, service="search")["active"] is False
        assert status.banner(session, region="us")["active"] is False


def test_resolved_incident_moves_to_history(db: Database) -> None:
    _world(db)
    incident_id = make_incident(db)
    _update(db, incident_id, subject="Slow checkout", body="b", component_status="partial_outage")
    with unit_of_work(db) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        incident.status = "resolved"
        incident.resolved_at = T0 + timedelta(minutes=40)
    with unit_of_work(db) as session:
        page = status.status_page(session, now=NOW + timedelta(days=2), days=7)
        assert page.open_incidents == []
        assert [i.id for i in page.past_incidents] == [incident_id]
        checkout = next(c for c in page.services if c.slug == "checkout")
        assert checkout.status == "operational"
        assert dict(checkout.history)[T0.date()] == "partial_outage"
        assert dict(checkout.history)[(NOW + timedelta(days=2)).date()] == "operational"


def test_subscribe_validates_and_resubscribing_updates_filters(db: Database) -> None:
    _world(db)
    with unit_of_work(db) as session:
        for kind, target, code in (
            ("email", "not-an-address", "invalid_email"),
            ("webhook", "ftp://x.test/h", "invalid_url"),
            ("sms", "+4411", "invalid_kind"),
        ):
            with pytest.raises(Invalid) as exc:
                status.subscribe(session, kind=kind, target=target)
            assert exc.value.code == code
        with pytest.raises(Invalid) as exc:
            status.subscribe(session, kind="email", target="a@b.test", services=["nope"])
        assert exc.value.code == "unknown_service"
        first = status.subscribe(session, kind="email", target="Ann@Example.com")
        again = status.subscribe(
            session, kind="email", target="ann@example.com", services=["checkout"]
        )
        assert again.id == first.id and again.token == first.token
        assert again.services == ["checkout"]
        status.unsubscribe(session, token=first.token)
        assert session.scalars(select(StatusSubscription)).all() == []
        with pytest.raises(NotFound):
            status.unsubscribe(session, token=first.token)


# ---------------------------------------------------------------- delivery


class _Mail:
    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, EmailMessage]] = []

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((envelope, parsed))
        return "250 Message accepted for delivery"


@dataclass
class _Hit:
    headers: dict[str, str]
    body: bytes


class _Receiver:
    def __init__(self, code: int = 200) -> None:
        self.hits: list[_Hit] = []
        self.code = code
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.hits.append(_Hit(dict(self.headers.items()), body))
                self.send_response(receiver.code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/status-hook"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    r = _Receiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


@pytest.fixture
def smtp() -> Iterator[tuple[_Mail, int]]:
    handler = _Mail()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="mx.test")
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def test_subscribers_get_an_email_and_a_signed_webhook(
    db: Database, settings: Settings, smtp: tuple[_Mail, int], receiver: _Receiver
) -> None:
    _world(db)
    mail, port = smtp
    relay = EmailChannel(host="127.0.0.1", port=port, sender="status@shop.test", to=["x@x.test"])
    with unit_of_work(db) as session:
        status.subscribe(session, kind="email", target="ann@example.com")
        hook = status.subscribe(
            session,
            kind="webhook",
            target=receiver.url,
            services=["checkout"],
            allow_private=True,
        )
        token = hook.token
        status.subscribe(session, kind="email", target="search@example.com", services=["search"])
    incident_id = make_incident(db)
    update_id = _update(db, incident_id, subject="Checkout is slow", body="We are on it.")
    with unit_of_work(db) as session:
        summary = status.deliver_pending(session, settings=_local(settings), now=NOW, mail=relay)
    assert summary == {"sent": 2, "failed": 0, "retry": 0, "confirmations": 0}
    assert len(mail.messages) == 1
    envelope, message = mail.messages[0]
    assert envelope.rcpt_tos == ["ann@example.com"]
    assert str(message["Subject"]) == "[Status] Checkout is slow"  # no alert jargon
    assert "/status/unsubscribe/" in str(message["List-Unsubscribe"])
    text = message.get_body(preferencelist=("plain",))
    assert text is not None and "We are on it." in text.get_content()
    assert "/status/unsubscribe/" in text.get_content()
    assert len(receiver.hits) == 1
    hit = receiver.hits[0]
    assert verify(token, hit.headers, hit.body, NOW)
    assert not verify("x" * 43, hit.headers, hit.body, NOW)
    payload = json.loads(hit.body)
    assert (
        payload["update"]["id"] == update_id and payload["update"]["subject"] == "Checkout is slow"
    )
    assert payload["incident"]["id"] == incident_id
    with unit_of_work(db) as session:
        rows = session.scalars(select(StatusNotification)).all()
        assert {(r.state, r.attempts) for r in rows} == {("sent", 1)}
        # nothing left to send
        assert (
            status.deliver_pending(session, settings=_local(settings), now=NOW, mail=relay)["sent"]
            == 0
        )


def test_failed_delivery_is_retried_then_given_up(
    db: Database, settings: Settings, receiver: _Receiver
) -> None:
    _world(db)
    receiver.code = 503
    with unit_of_work(db) as session:
        status.subscribe(session, kind="webhook", target=receiver.url, allow_private=True)
        status.subscribe(session, kind="email", target="ann@example.com")  # no relay configured
    _update(db, make_incident(db), subject="s", body="b")
    for attempt in range(1, status.MAX_ATTEMPTS + 1):
        with unit_of_work(db) as session:
            summary = status.deliver_pending(session, settings=_local(settings), now=NOW)
        expected = "failed" if attempt == status.MAX_ATTEMPTS else "retry"
        assert summary[expected] == 2
    assert len(receiver.hits) == status.MAX_ATTEMPTS
    with unit_of_work(db) as session:
        rows = {r.attempts: r for r in session.scalars(select(StatusNotification)).all()}
        assert set(rows) == {status.MAX_ATTEMPTS}
        errors = sorted(r.error for r in session.scalars(select(StatusNotification)).all())
        assert errors[0].startswith("HTTP 503") and "SMTP relay" in errors[1]
        assert {r.state for r in session.scalars(select(StatusNotification)).all()} == {"failed"}
        assert {s.failures for s in session.scalars(select(StatusSubscription)).all()} == {1}
        assert status.deliver_pending(session, settings=_local(settings), now=NOW)["failed"] == 0


def test_periodic_job_delivers(
    db: Database, receiver: _Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from juncture.incidents.jobs import status_notify

    monkeypatch.setenv("JUNCTURE_STATUS_WEBHOOK_ALLOW_PRIVATE", "true")
    _world(db)
    with unit_of_work(db) as session:
        status.subscribe(session, kind="webhook", target=receiver.url, allow_private=True)
    _update(db, make_incident(db), subject="s", body="b")
    with unit_of_work(db) as session:
        assert status_notify(session) == {"sent": 1, "failed": 0, "retry": 0, "confirmations": 0}
    assert len(receiver.hits) == 1


def _local(settings: Settings) -> Settings:
    """The test receivers listen on 127.0.0.1: allow webhooks to private addresses."""
    return settings.model_copy(update={"status_webhook_allow_private": True})


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
    ],
)
def test_webhooks_to_internal_addresses_are_refused(db: Database, url: str) -> None:
    with unit_of_work(db) as session, pytest.raises(Invalid) as caught:
        status.subscribe(session, kind="webhook", target=url)
    assert caught.value.code == "webhook_not_public"


def test_public_subscribe_never_reveals_an_existing_token(client: TestClient, db: Database) -> None:
    body = {"kind": "email", "target": "ann@example.com"}
    first = client.post("/api/v1/status/subscriptions", json=body)
    assert first.status_code == 201
    assert first.json()["token"] is None and first.json()["confirmed"] is False  # double opt-in
    with unit_of_work(db) as session:
        token = session.scalars(select(StatusSubscription.token)).one()
    assert token not in first.text
    again = client.post("/api/v1/status/subscriptions", json=body)  # unconfirmed: link again
    assert again.status_code == 201 and token not in again.text
    done = client.post(f"/api/v1/status/subscriptions/{token}/confirm")
    assert done.status_code == 200 and done.json()["confirmed"] is True
    taken = client.post("/api/v1/status/subscriptions", json=body | {"services": []})
    assert taken.status_code == 409
    assert taken.json()["code"] == "already_subscribed"
    assert token not in taken.text
    hook = client.post(
        "/api/v1/status/subscriptions", json={"kind": "webhook", "target": "http://127.0.0.1/x"}
    )
    assert hook.status_code == 422 and hook.json()["code"] == "webhook_not_public"


def test_email_subscribers_confirm_before_they_get_updates(
    db: Database, settings: Settings, smtp: tuple[_Mail, int]
) -> None:
    mail, port = smtp
    relay = EmailChannel(host="127.0.0.1", port=port, sender="status@example.com", to=["x@y.z"])
    _world(db)
    with unit_of_work(db) as session:
        sub = status.subscribe(session, kind="email", target="bo@example.com", confirm=True)
        token = sub.token
    incident_id = make_incident(db)
    _update(db, incident_id, subject="Checkout is slow", body="We are on it.")
    with unit_of_work(db) as session:
        summary = status.deliver_pending(session, settings=settings, now=NOW, mail=relay)
    # no update for an unconfirmed address, only the link, and only once
    assert summary == {"sent": 0, "failed": 0, "retry": 0, "confirmations": 1}
    ((envelope, message),) = mail.messages
    assert envelope.rcpt_tos == ["bo@example.com"]
    assert "Confirm" in str(message["Subject"])
    assert f"/status/confirm/{token}" in message.get_content()
    with unit_of_work(db) as session:
        again = status.deliver_pending(session, settings=settings, now=NOW, mail=relay)
        assert again["confirmations"] == 0
        status.confirm_subscription(session, token=token, now=NOW)
    _update(db, incident_id, subject="Fixed", body="All good.")
    with unit_of_work(db) as session:
        summary = status.deliver_pending(session, settings=settings, now=NOW, mail=relay)
    assert summary["sent"] == 1
    assert str(mail.messages[-1][1]["Subject"]) == "[Status] Fixed"
