"""Notification channels against real local receivers: an HTTP server and an SMTP server."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from pydantic import SecretStr, ValidationError

from juncture.detect.channels import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AlertState,
    Attempt,
    EmailChannel,
    Message,
    SlackChannel,
    TeamsChannel,
    WebhookChannel,
    deliver,
    email_message,
    parse_channel,
    sign,
    signature_headers,
    slack_payload,
    teams_payload,
    verify,
    webhook_payload,
)
from juncture.detect.enums import Severity

T0 = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
ACK = "https://juncture.example/alerts/A-42/ack?t=tok123"
OPEN = "https://juncture.example/alerts/A-42"
SECRET = "s3cret-s3cret-s3cret"


def _msg(**overrides: Any) -> Message:
    values: dict[str, Any] = {
        "alert_id": "A-42",
        "title": "Checkout conversion drop in EU",
        "summary": "Checkout drop-off rose while payments latency tripled.",
        "severity": Severity.CRITICAL,
        "state": AlertState.FIRING,
        "started_at": T0,
        "facts": [("Checkout drop-off", "+4.2 pp"), ("payments p95", "3.1x baseline")],
        "links": {"acknowledge": ACK, "open": OPEN, "runbook": "https://wiki.example/rb/42"},
        "dedup_key": "checkout-eu|payments",
    }
    values.update(overrides)
    return Message(**values)


class FakeTime:
    """A clock that only moves when `sleep` is called; records every delay asked for."""

    def __init__(self) -> None:
        self.at = T0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# ---------------------------------------------------------------- the HTTP receiver


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0


class HttpReceiver:
    """A real HTTP server on 127.0.0.1 answering a script of replies (then 200 forever)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.replies: list[Reply] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
                reply = receiver.replies.pop(0) if receiver.replies else Reply()
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (the timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A short poll interval keeps shutdown() (and so each test) fast.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/T1/B2"

    def script(self, *replies: Reply | int) -> None:
        self.replies = [r if isinstance(r, Reply) else Reply(status=r) for r in replies]


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


# ---------------------------------------------------------------- the SMTP receiver


class MailHandler:
    """Records every accepted message; answers scripted replies to RCPT and DATA first."""

    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, EmailMessage]] = []
        self.rcpt_replies: list[str] = []
        self.data_replies: list[str] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        assert isinstance(envelope.content, bytes)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((envelope, parsed))
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), data.password.decode()))
        ok = data.password == b"right"
        return AuthResult(success=ok, handled=False)


@dataclass
class SmtpReceiver:
    handler: MailHandler
    port: int


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    handler = MailHandler()
    port = _free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        server_hostname="mx.test",
        authenticator=handler.authenticate,
        auth_require_tls=False,  # no certificate in the test; real servers want STARTTLS
    )
    controller.start()
    try:
        yield SmtpReceiver(handler, port)
    finally:
        controller.stop()


def _email_channel(port: int, **overrides: Any) -> EmailChannel:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "sender": "juncture <alerts@juncture.example>",
        "to": ["oncall@example.com", "cx-leads@example.com"],
        "timeout": 5,
    }
    values.update(overrides)
    return EmailChannel(**values)


def _ok_codes(attempts: list[Attempt]) -> list[tuple[bool, int | None]]:
    return [(a.ok, a.status_code) for a in attempts]


# ---------------------------------------------------------------- Slack, Teams, webhook


def test_slack_body_as_received(http: HttpReceiver, fake_time: FakeTime) -> None:
    attempts = deliver(
        SlackChannel(url=http.url), _msg(), sleep=fake_time.sleep, clock=fake_time.now
    )

    assert _ok_codes(attempts) == [(True, 200)]
    assert attempts[0].number == 1 and attempts[0].started_at == T0
    assert attempts[0].retry_in_s is None and attempts[0].error is None
    [request] = http.requests
    assert request.path == "/hook/T1/B2"
    assert request.headers["Content-Type"].startswith("application/json")
    body = request.json()
    assert ACK in body["text"] and "CRITICAL" in body["text"]
    blocks = body["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "context", "actions"]
    assert "Checkout conversion drop in EU" in blocks[0]["text"]["text"]
    assert blocks[0]["text"]["type"] == "plain_text"
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert fields[:2] == ["*Severity*\nCritical", "*State*\nFiring"]
    assert "*Checkout drop-off*\n+4.2 pp" in fields
    assert blocks[1]["text"]["text"].startswith("Checkout drop-off rose")
    assert "<!date^" in blocks[2]["elements"][0]["text"]
    buttons = blocks[3]["elements"]
    assert [(b["text"]["text"], b["url"]) for b in buttons] == [
        ("Acknowledge", ACK),
        ("Open in juncture", OPEN),
        ("Runbook", "https://wiki.example/rb/42"),
    ]
    assert buttons[0]["style"] == "primary"
    assert len({b["action_id"] for b in buttons}) == 3


def test_slack_escapes_mrkdwn_and_splits_many_fields() -> None:
    facts = [(f"k{i}", f"<v{i}> & co") for i in range(12)]
    body = slack_payload(_msg(facts=facts, summary="a <b> & c"))

    sections = [b for b in body["blocks"] if b["type"] == "section"]
    assert [len(s["fields"]) for s in sections] == [10, 4]  # 2 + 12 fields, 10 per section
    assert sections[0]["text"]["text"] == "a &lt;b&gt; &amp; c"
    assert "&lt;v0&gt; &amp; co" in sections[0]["fields"][2]["text"]


def test_resolved_message_without_ack_link_has_no_ack_button() -> None:
    body = slack_payload(_msg(state="resolved", links={"open": OPEN}))

    [actions] = [b for b in body["blocks"] if b["type"] == "actions"]
    assert [b["text"]["text"] for b in actions["elements"]] == ["Open in juncture"]
    assert "(resolved)" in body["text"]


def test_teams_body_as_received(http: HttpReceiver, fake_time: FakeTime) -> None:
    http.script(Reply(status=202, body=b""))  # Workflows webhooks answer 202 Accepted

    attempts = deliver(
        TeamsChannel(url=http.url), _msg(), sleep=fake_time.sleep, clock=fake_time.now
    )

    assert _ok_codes(attempts) == [(True, 202)]
    body = http.requests[0].json()
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["text"] == "Checkout conversion drop in EU"
    assert card["body"][0]["color"] == "Attention"
    [fact_set] = [b for b in card["body"] if b["type"] == "FactSet"]
    assert {"title": "payments p95", "value": "3.1x baseline"} in fact_set["facts"]
    assert card["actions"][:2] == [
        {"type": "Action.OpenUrl", "title": "Acknowledge", "url": ACK},
        {"type": "Action.OpenUrl", "title": "Open in juncture", "url": OPEN},
    ]
    assert teams_payload(_msg()) == body


def test_webhook_body_is_signed_and_verifies(http: HttpReceiver, fake_time: FakeTime) -> None:
    channel = WebhookChannel(url=http.url, secret=SecretStr(SECRET), headers={"X-Tenant": "acme"})

    attempts = deliver(channel, _msg(), sleep=fake_time.sleep, clock=fake_time.now)

    assert _ok_codes(attempts) == [(True, 200)]
    [request] = http.requests
    assert request.headers["X-Tenant"] == "acme"
    assert request.headers[TIMESTAMP_HEADER] == str(int(T0.timestamp()))
    assert request.headers[SIGNATURE_HEADER].startswith("v1=")
    body = request.json()
    assert body == webhook_payload(_msg())
    assert body["version"] == 1
    assert body["alert"] == {
        "id": "A-42",
        "title": "Checkout conversion drop in EU",
        "summary": "Checkout drop-off rose while payments latency tripled.",
        "severity": "critical",
        "state": "firing",
        "started_at": "2025-03-04T09:30:00Z",
        "facts": [
            {"label": "Checkout drop-off", "value": "+4.2 pp"},
            {"label": "payments p95", "value": "3.1x baseline"},
        ],
        "dedup_key": "checkout-eu|payments",
    }
    assert body["links"]["acknowledge"] == ACK

    # What a receiver does: check the raw bytes as received, against its own clock.
    now = T0 + timedelta(seconds=20)
    assert verify(SECRET, request.headers, request.body, now)
    assert verify(SECRET, request.headers, request.body, now.timestamp())
    lowercase = {k.lower(): v for k, v in request.headers.items()}
    assert verify(SECRET, lowercase, request.body, now)
    tampered = request.body.replace(b"critical", b"info")
    assert not verify(SECRET, request.headers, tampered, now)
    assert not verify("another-secret-value", request.headers, request.body, now)
    assert not verify(SECRET, request.headers, request.body, T0 + timedelta(seconds=301))
    assert not verify(SECRET, request.headers, request.body, T0 - timedelta(seconds=301))
    assert verify(SECRET, request.headers, request.body, T0 + timedelta(seconds=301), 600)


def test_sign_matches_the_documented_scheme() -> None:
    body = b'{"version":1}'
    expected = hmac.new(b"topsecret", b"1700000000." + body, hashlib.sha256).hexdigest()

    assert sign("topsecret", 1700000000, body) == expected
    assert sign(SecretStr("topsecret"), 1700000000, body) == expected
    assert signature_headers("topsecret", 1700000000, body) == {
        TIMESTAMP_HEADER: "1700000000",
        SIGNATURE_HEADER: f"v1={expected}",
    }


def test_verify_rejects_malformed_headers_and_accepts_rotation() -> None:
    body = b"{}"
    good = sign(SECRET, 1700000000, body)
    now = 1700000010

    rotating = {TIMESTAMP_HEADER: "1700000000", SIGNATURE_HEADER: f"v1=deadbeef, v1={good}"}
    assert verify(SECRET, rotating, body, now)
    for headers in [
        {},
        {TIMESTAMP_HEADER: "1700000000"},
        {SIGNATURE_HEADER: f"v1={good}"},
        {TIMESTAMP_HEADER: "soon", SIGNATURE_HEADER: f"v1={good}"},
        {TIMESTAMP_HEADER: "1700000000", SIGNATURE_HEADER: good},
        {TIMESTAMP_HEADER: "1700000000", SIGNATURE_HEADER: f"v0={good}"},
        {TIMESTAMP_HEADER: "1700000001", SIGNATURE_HEADER: f"v1={good}"},
    ]:
        assert not verify(SECRET, headers, body, now), headers


# ---------------------------------------------------------------- retries


def test_retries_follow_backoff_and_stop_at_success(
    http: HttpReceiver, fake_time: FakeTime
) -> None:
    http.script(500, Reply(status=502, body=b"bad gateway"), 200)
    channel = WebhookChannel(url=http.url, secret=SecretStr(SECRET))

    attempts = deliver(channel, _msg(), sleep=fake_time.sleep, clock=fake_time.now)

    assert _ok_codes(attempts) == [(False, 500), (False, 502), (True, 200)]
    assert [a.number for a in attempts] == [1, 2, 3]
    assert [a.retryable for a in attempts] == [True, True, False]
    assert [a.retry_in_s for a in attempts] == [1.0, 4.0, None]
    assert fake_time.sleeps == [1.0, 4.0]
    assert [a.started_at for a in attempts] == [
        T0,
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=5),
    ]
    assert attempts[1].error == "HTTP 502: bad gateway"
    assert len(http.requests) == 3
    # Each try is signed afresh with its own timestamp.
    stamps = [r.headers[TIMESTAMP_HEADER] for r in http.requests]
    assert stamps == [str(int(a.started_at.timestamp())) for a in attempts]
    for request in http.requests:
        assert verify(SECRET, request.headers, request.body, fake_time.now())


def test_gives_up_after_max_attempts(http: HttpReceiver, fake_time: FakeTime) -> None:
    http.script(503, 503, 503, 503, 503)

    attempts = deliver(
        SlackChannel(url=http.url), _msg(), sleep=fake_time.sleep, clock=fake_time.now
    )

    assert _ok_codes(attempts) == [(False, 503)] * 4
    assert fake_time.sleeps == [1.0, 4.0, 16.0]
    assert attempts[-1].retryable and attempts[-1].retry_in_s is None
    assert len(http.requests) == 4


def test_backoff_repeats_its_last_step(http: HttpReceiver, fake_time: FakeTime) -> None:
    http.script(500, 500, 500, 500, 500)

    attempts = deliver(
        SlackChannel(url=http.url),
        _msg(),
        max_attempts=5,
        backoff=(2, 3),
        sleep=fake_time.sleep,
        clock=fake_time.now,
    )

    assert len(attempts) == 5
    assert fake_time.sleeps == [2.0, 3.0, 3.0, 3.0]


@pytest.mark.parametrize("status", [400, 403, 404, 410])
def test_client_errors_are_not_retried(
    http: HttpReceiver, fake_time: FakeTime, status: int
) -> None:
    http.script(Reply(status=status, body=b"invalid_payload"))

    attempts = deliver(
        SlackChannel(url=http.url), _msg(), sleep=fake_time.sleep, clock=fake_time.now
    )

    assert _ok_codes(attempts) == [(False, status)]
    assert not attempts[0].retryable
    assert attempts[0].error == f"HTTP {status}: invalid_payload"
    assert fake_time.sleeps == []
    assert len(http.requests) == 1


def test_429_honours_retry_after(http: HttpReceiver, fake_time: FakeTime) -> None:
    http.script(
        Reply(status=429, headers={"Retry-After": "7"}, body=b"rate_limited"),
        Reply(status=429, headers={"Retry-After": "3600"}),  # capped
        Reply(status=503, headers={"Retry-After": "Tue, 04 Mar 2025 09:32:00 GMT"}),
        200,
    )

    attempts = deliver(
        TeamsChannel(url=http.url),
        _msg(),
        max_attempts=5,
        sleep=fake_time.sleep,
        clock=fake_time.now,
    )

    assert _ok_codes(attempts) == [(False, 429), (False, 429), (False, 503), (True, 200)]
    # 7 s as asked; 3600 s capped at 60; the HTTP date is 53 s after the third try started.
    assert fake_time.sleeps == [7.0, 60.0, 53.0]


def test_429_without_retry_after_uses_backoff(http: HttpReceiver, fake_time: FakeTime) -> None:
    http.script(429, 200)

    attempts = deliver(
        SlackChannel(url=http.url), _msg(), sleep=fake_time.sleep, clock=fake_time.now
    )

    assert _ok_codes(attempts) == [(False, 429), (True, 200)]
    assert fake_time.sleeps == [1.0]


def test_unreachable_port_gives_retryable_failures(fake_time: FakeTime) -> None:
    url = f"http://127.0.0.1:{_free_port()}/hook"

    attempts = deliver(
        WebhookChannel(url=url, secret=SecretStr(SECRET), timeout=2),
        _msg(),
        max_attempts=3,
        sleep=fake_time.sleep,
        clock=fake_time.now,
    )

    assert [(a.ok, a.status_code, a.retryable) for a in attempts] == [(False, None, True)] * 3
    assert all(a.error and a.error.startswith("ConnectError") for a in attempts)
    assert fake_time.sleeps == [1.0, 4.0]


def test_timeout_is_retryable(http: HttpReceiver, fake_time: FakeTime) -> None:
    http.script(Reply(delay=0.5), 200)

    attempts = deliver(
        SlackChannel(url=http.url, timeout=0.1),
        _msg(),
        sleep=fake_time.sleep,
        clock=fake_time.now,
    )

    assert _ok_codes(attempts) == [(False, None), (True, 200)]
    assert attempts[0].retryable
    assert attempts[0].error is not None and "Timeout" in attempts[0].error


def test_unsupported_scheme_is_not_retried(fake_time: FakeTime) -> None:
    # A URL the validator accepts but the transport cannot use would be a bug; simulate one.
    channel = SlackChannel.model_construct(url="ftp://127.0.0.1/hook", timeout=1.0)

    attempts = deliver(channel, _msg(), sleep=fake_time.sleep, clock=fake_time.now)

    assert [(a.ok, a.retryable) for a in attempts] == [(False, False)]


# ---------------------------------------------------------------- e-mail


def test_email_arrives_with_subject_alternatives_and_ack_link(
    smtp: SmtpReceiver, fake_time: FakeTime
) -> None:
    channel = _email_channel(smtp.port)

    attempts = deliver(channel, _msg(), sleep=fake_time.sleep, clock=fake_time.now)

    assert _ok_codes(attempts) == [(True, 250)]
    [(envelope, mail)] = smtp.handler.messages
    assert envelope.mail_from == "alerts@juncture.example"
    assert envelope.rcpt_tos == ["oncall@example.com", "cx-leads@example.com"]
    assert mail["Subject"] == "[CRITICAL] Checkout conversion drop in EU (firing)"
    assert mail["To"] == "oncall@example.com, cx-leads@example.com"
    assert mail["X-Juncture-Alert-Id"] == "A-42"
    assert mail["Date"] == "Tue, 04 Mar 2025 09:30:00 +0000"
    assert mail.get_content_type() == "multipart/alternative"
    text_part = mail.get_body(preferencelist=("plain",))
    html_part = mail.get_body(preferencelist=("html",))
    assert text_part is not None and html_part is not None
    text = text_part.get_content()
    page = html_part.get_content()
    assert f"Acknowledge: {ACK}" in text
    assert "Checkout drop-off  +4.2 pp" in text
    assert f'href="{ACK.replace("&", "&amp;")}"' in page
    assert "Acknowledge</a>" in page
    assert "3.1x baseline" in page


def test_email_threads_by_dedup_key_and_escapes_html() -> None:
    channel = _email_channel(25)
    firing = email_message(_msg(title="<script>x</script>"), channel)
    resolved = email_message(_msg(state="resolved", links={"open": OPEN}), channel)

    assert firing["References"] == resolved["References"]
    assert resolved["Subject"].endswith("(resolved)")
    html_part = firing.get_body(preferencelist=("html",))
    assert html_part is not None
    assert "<script>" not in html_part.get_content()


def test_email_logs_in_when_credentials_are_given(smtp: SmtpReceiver, fake_time: FakeTime) -> None:
    channel = _email_channel(smtp.port, username="juncture", password="right")

    attempts = deliver(channel, _msg(), sleep=fake_time.sleep, clock=fake_time.now)

    assert _ok_codes(attempts) == [(True, 250)]
    assert smtp.handler.logins == [("juncture", "right")]
    assert len(smtp.handler.messages) == 1


def test_email_bad_credentials_are_not_retried(smtp: SmtpReceiver, fake_time: FakeTime) -> None:
    channel = _email_channel(smtp.port, username="juncture", password="wrong")

    attempts = deliver(channel, _msg(), sleep=fake_time.sleep, clock=fake_time.now)

    assert _ok_codes(attempts) == [(False, 535)]
    assert not attempts[0].retryable
    assert smtp.handler.messages == []


def test_smtp_5xx_is_not_retried(smtp: SmtpReceiver, fake_time: FakeTime) -> None:
    smtp.handler.rcpt_replies = ["550 5.1.1 No such user", "550 5.1.1 No such user"]

    attempts = deliver(
        _email_channel(smtp.port), _msg(), sleep=fake_time.sleep, clock=fake_time.now
    )

    assert _ok_codes(attempts) == [(False, 550)]
    assert not attempts[0].retryable
    assert attempts[0].error is not None and "No such user" in attempts[0].error
    assert fake_time.sleeps == []
    assert smtp.handler.messages == []


def test_smtp_4xx_is_retried(smtp: SmtpReceiver, fake_time: FakeTime) -> None:
    smtp.handler.data_replies = ["451 4.3.0 Try again later"]

    attempts = deliver(
        _email_channel(smtp.port), _msg(), sleep=fake_time.sleep, clock=fake_time.now
    )

    assert _ok_codes(attempts) == [(False, 451), (True, 250)]
    assert attempts[0].retryable and attempts[0].error == "SMTP 451: 4.3.0 Try again later"
    assert fake_time.sleeps == [1.0]
    assert len(smtp.handler.messages) == 1


def test_smtp_partly_refused_recipients_count_as_delivered(
    smtp: SmtpReceiver, fake_time: FakeTime
) -> None:
    smtp.handler.rcpt_replies = ["550 5.1.1 No such user"]  # the first recipient only

    attempts = deliver(
        _email_channel(smtp.port), _msg(), sleep=fake_time.sleep, clock=fake_time.now
    )

    assert _ok_codes(attempts) == [(True, 250)]
    assert attempts[0].error is not None and "oncall@example.com" in attempts[0].error
    [(envelope, _)] = smtp.handler.messages
    assert envelope.rcpt_tos == ["cx-leads@example.com"]


def test_starttls_not_offered_is_not_retried(smtp: SmtpReceiver, fake_time: FakeTime) -> None:
    attempts = deliver(
        _email_channel(smtp.port, starttls=True),
        _msg(),
        sleep=fake_time.sleep,
        clock=fake_time.now,
    )

    assert [(a.ok, a.retryable) for a in attempts] == [(False, False)]
    assert attempts[0].error is not None and "STARTTLS" in attempts[0].error
    assert smtp.handler.messages == []


def test_smtp_unreachable_gives_retryable_failures(fake_time: FakeTime) -> None:
    attempts = deliver(
        _email_channel(_free_port(), timeout=2),
        _msg(),
        max_attempts=2,
        sleep=fake_time.sleep,
        clock=fake_time.now,
    )

    assert [(a.ok, a.status_code, a.retryable) for a in attempts] == [(False, None, True)] * 2
    assert fake_time.sleeps == [1.0]


# ---------------------------------------------------------------- configuration and message


def test_channel_configs_parse_by_kind_and_forbid_extras() -> None:
    slack = parse_channel({"kind": "slack", "url": "https://hooks.slack.com/services/T/B/X"})
    assert isinstance(slack, SlackChannel)
    hook = parse_channel({"kind": "webhook", "url": "https://x.example", "secret": SECRET})
    assert isinstance(hook, WebhookChannel)
    assert SECRET not in repr(hook)
    mail = parse_channel(
        {"kind": "email", "host": "mx", "port": 25, "sender": "a@b.c", "to": ["d@e.f"]}
    )
    assert isinstance(mail, EmailChannel) and not mail.starttls and mail.timeout == 10
    assert isinstance(parse_channel({"kind": "teams", "url": "https://t.example"}), TeamsChannel)

    bad_configs: list[dict[str, Any]] = [
        {"kind": "pager", "url": "https://x.example"},
        {"kind": "slack", "url": "https://x.example", "channel": "#ops"},
        {"kind": "slack", "url": "hooks.slack.com/services/T/B/X"},
        {"kind": "webhook", "url": "https://x.example", "secret": "short"},
        {
            "kind": "webhook",
            "url": "https://x.example",
            "secret": SECRET,
            "headers": {"x-juncture-signature": "v1=forged"},
        },
        {"kind": "email", "host": "mx", "sender": "nobody", "to": ["d@e.f"]},
        {"kind": "email", "host": "mx", "sender": "a@b.c", "to": []},
    ]
    for bad in bad_configs:
        with pytest.raises(ValidationError):
            parse_channel(bad)


def test_message_validates_and_freezes() -> None:
    msg = _msg(severity="warning", state="acknowledged")
    assert msg.severity is Severity.WARNING and msg.state is AlertState.ACKNOWLEDGED
    assert isinstance(msg.facts, tuple)

    with pytest.raises(ValueError, match="timezone-aware"):
        _msg(started_at=datetime(2025, 3, 4, 9, 30))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="Severity"):
        _msg(severity="catastrophic")
    with pytest.raises(ValueError, match="absolute"):
        _msg(links={"acknowledge": "/alerts/A-42/ack"})
