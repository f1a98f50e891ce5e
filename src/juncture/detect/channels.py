"""Notification channels: render an alert for Slack, Teams, a signed webhook or e-mail; deliver it.

Pure code: no database and no web framework. The caller (the detect room's jobs) builds a
:class:`Message`, picks a :data:`ChannelConfig` and calls :func:`deliver`, which never raises
for a delivery failure and returns one :class:`Attempt` per try, to be stored by the caller.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import html
import json
import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from enum import StrEnum
from typing import Annotated, Any, Literal

import httpx2 as httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, field_validator

from juncture import __version__
from juncture.detect.enums import Severity
from juncture.kit import clock as kit_clock

logger = logging.getLogger(__name__)

USER_AGENT = f"juncture/{__version__}"
TIMESTAMP_HEADER = "X-Juncture-Timestamp"
SIGNATURE_HEADER = "X-Juncture-Signature"
SIGNATURE_VERSION = "v1"
WEBHOOK_PAYLOAD_VERSION = 1
ERROR_TEXT_LIMIT = 500
RESERVED_HEADERS = frozenset(
    {TIMESTAMP_HEADER.lower(), SIGNATURE_HEADER.lower(), "content-type", "content-length", "host"}
)


# --------------------------------------------------------------------------------------
# The message
# --------------------------------------------------------------------------------------


class AlertState(StrEnum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Message:
    """One alert notification, the same for every channel.

    ``facts`` are ``(label, value)`` pairs shown as a table ("Checkout drop-off", "+4.2 pp");
    ``links`` maps a name to an absolute URL: ``acknowledge`` and ``open`` get dedicated
    buttons, any other link is shown after them under its name. A message without an
    ``acknowledge`` link (e.g. a resolved alert) simply has no Acknowledge button.
    Lists and dicts passed in are copied into tuples so the message stays immutable.
    """

    alert_id: str
    title: str
    summary: str
    severity: Severity
    state: AlertState
    started_at: datetime
    facts: Sequence[tuple[str, str]] = ()
    links: Mapping[str, str] = field(default_factory=dict)
    dedup_key: str = ""

    def __post_init__(self) -> None:
        if self.started_at.tzinfo is None:
            raise ValueError("Message.started_at must be timezone-aware")
        for name, url in self.links.items():
            if not url.startswith(("https://", "http://")):
                raise ValueError(f"link {name!r} must be an absolute http(s) URL")
        # Coerce plain strings ("critical") to the enums and freeze the containers.
        object.__setattr__(self, "severity", Severity(self.severity))
        object.__setattr__(self, "state", AlertState(self.state))
        object.__setattr__(self, "facts", tuple((str(k), str(v)) for k, v in self.facts))
        object.__setattr__(self, "links", dict(self.links))


# --------------------------------------------------------------------------------------
# Channel configurations
# --------------------------------------------------------------------------------------


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _HttpChannel(_Channel):
    url: str
    timeout: float = Field(default=10.0, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("url must start with https:// or http://")
        return value


class SlackChannel(_HttpChannel):
    """A Slack incoming webhook (or anything that accepts Slack's Block Kit JSON)."""

    kind: Literal["slack"] = "slack"


class TeamsChannel(_HttpChannel):
    """A Microsoft Teams webhook: a Workflows "post to a channel" URL or a legacy connector."""

    kind: Literal["teams"] = "teams"


class WebhookChannel(_HttpChannel):
    """A generic JSON webhook, signed with HMAC-SHA256 (see :func:`sign`)."""

    kind: Literal["webhook"] = "webhook"
    secret: SecretStr = Field(min_length=16)
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("headers")
    @classmethod
    def _no_reserved_headers(cls, value: dict[str, str]) -> dict[str, str]:
        clash = sorted(k for k in value if k.lower() in RESERVED_HEADERS)
        if clash:
            raise ValueError(f"headers may not override {', '.join(clash)}")
        return value


class EmailChannel(_Channel):
    """E-mail over SMTP, optionally upgraded with STARTTLS and authenticated."""

    kind: Literal["email"] = "email"
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    sender: str = Field(min_length=3)
    to: list[str] = Field(min_length=1)
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    timeout: float = Field(default=10.0, gt=0, le=120)

    @field_validator("sender")
    @classmethod
    def _sender_is_address(cls, value: str) -> str:
        if "@" not in email.utils.parseaddr(value)[1]:
            raise ValueError("sender must be an e-mail address")
        return value

    @field_validator("to")
    @classmethod
    def _recipients_are_addresses(cls, value: list[str]) -> list[str]:
        for item in value:
            if "@" not in email.utils.parseaddr(item)[1]:
                raise ValueError(f"{item!r} is not an e-mail address")
        return value


ChannelConfig = Annotated[
    SlackChannel | TeamsChannel | WebhookChannel | EmailChannel, Field(discriminator="kind")
]
_CHANNEL_ADAPTER: TypeAdapter[ChannelConfig] = TypeAdapter(ChannelConfig)


def parse_channel(data: Mapping[str, Any]) -> ChannelConfig:
    """Validate a stored channel configuration (a dict with a ``kind``) into its model."""
    return _CHANNEL_ADAPTER.validate_python(data)


# --------------------------------------------------------------------------------------
# Renderers
# --------------------------------------------------------------------------------------

_SEVERITY_EMOJI = {
    Severity.CRITICAL: "\U0001f534",  # red circle
    Severity.HIGH: "\U0001f7e0",  # orange circle
    Severity.WARNING: "\U0001f7e1",  # yellow circle
    Severity.INFO: "\U0001f535",  # blue circle
}
_SEVERITY_COLOR = {  # e-mail accent colours
    Severity.CRITICAL: "#b42318",
    Severity.HIGH: "#c4320a",
    Severity.WARNING: "#b54708",
    Severity.INFO: "#175cd3",
}
_TEAMS_COLOR = {
    Severity.CRITICAL: "Attention",
    Severity.HIGH: "Attention",
    Severity.WARNING: "Warning",
    Severity.INFO: "Accent",
}
_LINK_TITLES = {"acknowledge": "Acknowledge", "open": "Open in juncture"}


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _human_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _headline(msg: Message) -> str:
    return f"[{msg.severity.upper()}] {msg.title} ({msg.state})"


def _ordered_links(msg: Message) -> list[tuple[str, str, str]]:
    """``(name, title, url)`` with acknowledge first, open second, the rest by name."""
    first = [n for n in ("acknowledge", "open") if n in msg.links]
    rest = sorted(n for n in msg.links if n not in _LINK_TITLES)
    return [
        (n, _LINK_TITLES.get(n, n.replace("_", " ").capitalize()), msg.links[n])
        for n in first + rest
    ]


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn gives &, < and > control meaning; everything else is literal enough.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(msg: Message) -> dict[str, Any]:
    """Render a Slack incoming-webhook body: Block Kit blocks plus a plain ``text`` fallback.

    Blocks: a header (title), a section with the summary and the fields (severity, state,
    then the facts; 10 fields per section, more sections when needed), a context line
    (start time, alert id, dedup key) and an actions block with URL buttons
    ("Acknowledge", "Open in juncture", then other links). The ``text`` fallback is what
    notifications and screen readers show; it carries the acknowledge URL too.
    """
    fields = [
        {"type": "mrkdwn", "text": f"*Severity*\n{msg.severity.capitalize()}"},
        {"type": "mrkdwn", "text": f"*State*\n{msg.state.capitalize()}"},
    ] + [
        {"type": "mrkdwn", "text": _clip(f"*{_slack_escape(k)}*\n{_slack_escape(v)}", 2000)}
        for k, v in msg.facts
    ]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _clip(f"{_SEVERITY_EMOJI[msg.severity]} {msg.title}", 150),
                "emoji": True,
            },
        }
    ]
    for i in range(0, len(fields), 10):
        section: dict[str, Any] = {"type": "section", "fields": fields[i : i + 10]}
        if i == 0 and msg.summary:
            section["text"] = {"type": "mrkdwn", "text": _clip(_slack_escape(msg.summary), 3000)}
        blocks.append(section)
    ts = int(msg.started_at.timestamp())
    context = (
        f"Started <!date^{ts}^{{date_short_pretty}} {{time}}|{_human_time(msg.started_at)}>"
        f" · alert `{_slack_escape(msg.alert_id)}`"
    )
    if msg.dedup_key:
        context += f" · key `{_slack_escape(msg.dedup_key)}`"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    buttons: list[dict[str, Any]] = []
    for name, title, url in _ordered_links(msg)[:25]:
        button: dict[str, Any] = {
            "type": "button",
            "action_id": f"juncture_{name}"[:255],
            "text": {"type": "plain_text", "text": _clip(title, 75)},
            "url": url,
        }
        if name == "acknowledge":
            button["style"] = "primary"
        buttons.append(button)
    if buttons:
        blocks.append({"type": "actions", "block_id": "juncture_links", "elements": buttons})
    text = f"{_headline(msg)}: {msg.summary}" if msg.summary else _headline(msg)
    if "acknowledge" in msg.links:
        text += f" Acknowledge: {msg.links['acknowledge']}"
    return {"text": _slack_escape(text), "blocks": blocks}


def teams_payload(msg: Message) -> dict[str, Any]:
    """Render a Microsoft Teams webhook body: an Adaptive Card (1.4) in a message attachment.

    This envelope (``{"type": "message", "attachments": [{"contentType":
    "application/vnd.microsoft.card.adaptive", "content": <AdaptiveCard>}]}``) is what the
    Teams *Workflows* webhooks ("Send webhook alerts to a channel", the replacement for
    Office 365 connectors, which Microsoft is retiring) accept, and legacy connector URLs
    accept it too; the older MessageCard format works only with the retiring connectors.
    Links are ``Action.OpenUrl`` actions (the Adaptive Card counterpart of MessageCard's
    ``OpenUri``): "Acknowledge" first, then "Open in juncture", then other links.
    """
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": msg.title,
            "size": "Large",
            "weight": "Bolder",
            "color": _TEAMS_COLOR[msg.severity],
            "wrap": True,
        },
        {
            "type": "TextBlock",
            "text": (
                f"{msg.severity.upper()} · {msg.state} · started {_human_time(msg.started_at)}"
            ),
            "isSubtle": True,
            "spacing": "None",
            "wrap": True,
        },
    ]
    if msg.summary:
        body.append({"type": "TextBlock", "text": msg.summary, "wrap": True})
    if msg.facts:
        body.append({"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in msg.facts]})
    footer = f"alert {msg.alert_id}" + (f" · key {msg.dedup_key}" if msg.dedup_key else "")
    body.append({"type": "TextBlock", "text": footer, "isSubtle": True, "size": "Small"})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
        "actions": [
            {"type": "Action.OpenUrl", "title": title, "url": url}
            for _, title, url in _ordered_links(msg)
        ],
    }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def webhook_payload(msg: Message) -> dict[str, Any]:
    """Render the generic webhook body, a stable versioned document.

    ``{"version": 1, "alert": {id, title, summary, severity, state, started_at (ISO 8601,
    UTC, "Z"), facts: [{label, value}], dedup_key}, "links": {name: url}}``. Fields are only
    ever added within a version; a breaking change bumps ``version``.
    """
    return {
        "version": WEBHOOK_PAYLOAD_VERSION,
        "alert": {
            "id": msg.alert_id,
            "title": msg.title,
            "summary": msg.summary,
            "severity": str(msg.severity),
            "state": str(msg.state),
            "started_at": _iso(msg.started_at),
            "facts": [{"label": k, "value": v} for k, v in msg.facts],
            "dedup_key": msg.dedup_key,
        },
        "links": dict(msg.links),
    }


def _email_text(msg: Message) -> str:
    lines = [
        msg.title,
        "",
        f"Severity: {msg.severity}",
        f"State:    {msg.state}",
        f"Started:  {_human_time(msg.started_at)}",
        "",
    ]
    if msg.summary:
        lines += [msg.summary, ""]
    if msg.facts:
        width = max(len(k) for k, _ in msg.facts)
        lines += [f"  {k.ljust(width)}  {v}" for k, v in msg.facts] + [""]
    lines += [f"{title}: {url}" for _, title, url in _ordered_links(msg)]
    lines += ["", f"alert {msg.alert_id}" + (f" · key {msg.dedup_key}" if msg.dedup_key else "")]
    return "\n".join(lines) + "\n"


def _email_html(msg: Message) -> str:
    e = html.escape
    color = _SEVERITY_COLOR[msg.severity]
    rows = "".join(
        f'<tr><th align="left" style="padding:2px 12px 2px 0">{e(k)}</th><td>{e(v)}</td></tr>'
        for k, v in msg.facts
    )
    buttons = "".join(
        f'<a href="{e(url, quote=True)}" style="display:inline-block;margin:0 8px 8px 0;'
        f"padding:8px 14px;border-radius:4px;text-decoration:none;"
        f"background:{color if name == 'acknowledge' else '#eaecf0'};"
        f'color:{"#ffffff" if name == "acknowledge" else "#101828"}">{e(title)}</a>'
        for name, title, url in _ordered_links(msg)
    )
    summary = f"<p>{e(msg.summary)}</p>" if msg.summary else ""
    footer = f"alert {msg.alert_id}" + (f" · key {msg.dedup_key}" if msg.dedup_key else "")
    return (
        '<!DOCTYPE html><html><body style="font-family:sans-serif;color:#101828">'
        f'<div style="border-left:4px solid {color};padding-left:12px">'
        f'<h2 style="margin:0 0 4px 0">{e(msg.title)}</h2>'
        f'<p style="margin:0;color:#475467">{e(msg.severity.upper())} · {e(msg.state)}'
        f" · started {e(_human_time(msg.started_at))}</p></div>"
        f"{summary}"
        + (f'<table style="border-collapse:collapse">{rows}</table>' if rows else "")
        + f'<p style="margin-top:16px">{buttons}</p>'
        f'<p style="color:#667085;font-size:12px">{e(footer)}</p>'
        "</body></html>"
    )


def email_message(
    msg: Message, channel: EmailChannel, *, now: datetime | None = None
) -> EmailMessage:
    """Build the e-mail: plain text and HTML alternatives, both carrying every link.

    Subject: ``[CRITICAL] Checkout conversion drop (firing)``. Messages about the same alert
    share a ``References`` id built from the dedup key (or alert id), so mail clients thread
    firing, acknowledged and resolved together. ``now`` sets the ``Date`` header.
    """
    sent = now or datetime.now(UTC)
    domain = email.utils.parseaddr(channel.sender)[1].rpartition("@")[2] or "juncture.invalid"
    thread_key = hashlib.sha256((msg.dedup_key or msg.alert_id).encode()).hexdigest()[:32]
    em = EmailMessage()
    em["Subject"] = _headline(msg)
    em["From"] = channel.sender
    em["To"] = ", ".join(channel.to)
    em["Date"] = email.utils.format_datetime(sent.astimezone(UTC))
    # make_msgid(domain=...) avoids its DNS lookup of the local host name.
    em["Message-ID"] = email.utils.make_msgid(idstring="juncture", domain=domain)
    em["References"] = f"<alert-{thread_key}@{domain}>"
    em["X-Juncture-Alert-Id"] = msg.alert_id
    em["X-Juncture-Severity"] = str(msg.severity)
    em["X-Juncture-State"] = str(msg.state)
    if msg.dedup_key:
        em["X-Juncture-Dedup-Key"] = msg.dedup_key
    em.set_content(_email_text(msg))
    em.add_alternative(_email_html(msg), subtype="html")
    return em


# --------------------------------------------------------------------------------------
# Signing
# --------------------------------------------------------------------------------------


def _secret_bytes(secret: str | bytes | SecretStr) -> bytes:
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: str | bytes | SecretStr, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``f"{timestamp}.".encode() + body`` keyed with ``secret``.

    Sent as ``X-Juncture-Timestamp: <unix seconds>`` and ``X-Juncture-Signature: v1=<hex>``.
    """
    mac = hmac.new(_secret_bytes(secret), f"{int(timestamp)}.".encode() + body, hashlib.sha256)
    return mac.hexdigest()


def signature_headers(
    secret: str | bytes | SecretStr, timestamp: int, body: bytes
) -> dict[str, str]:
    """The two headers that sign ``body`` at ``timestamp``."""
    return {
        TIMESTAMP_HEADER: str(int(timestamp)),
        SIGNATURE_HEADER: f"{SIGNATURE_VERSION}={sign(secret, timestamp, body)}",
    }


def verify(
    secret: str | bytes | SecretStr,
    headers: Mapping[str, str],
    body: bytes,
    now: float | datetime,
    tolerance: int = 300,
) -> bool:
    """Check a signed webhook request as a receiver would.

    ``headers`` may use any capitalisation; ``now`` is unix seconds or an aware datetime.
    The timestamp must be within ``tolerance`` seconds of ``now`` (either side), and one of
    the comma-separated ``v1=`` signatures must match (compared in constant time), so a
    sender may sign with an old and a new secret while rotating.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    raw_ts = lower.get(TIMESTAMP_HEADER.lower(), "").strip()
    raw_sig = lower.get(SIGNATURE_HEADER.lower(), "")
    if not raw_ts.isdigit() or not raw_sig:
        return False
    timestamp = int(raw_ts)
    now_s = now.timestamp() if isinstance(now, datetime) else float(now)
    if abs(now_s - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body)
    matched = False
    for part in raw_sig.split(","):
        version, _, value = part.strip().partition("=")
        if version == SIGNATURE_VERSION:
            # No early exit: every candidate is compared, each in constant time.
            matched |= hmac.compare_digest(expected, value.strip())
    return matched


# --------------------------------------------------------------------------------------
# Delivery
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One try at delivering a message, as the deliveries table should record it.

    ``status_code`` is the HTTP status, or the SMTP reply code for e-mail (``None`` when no
    reply came: connection refused, timeout). ``retryable`` says whether a later try could
    succeed; ``retry_in_s`` is the wait :func:`deliver` chose before the next try (``None``
    after the last one).
    """

    number: int
    started_at: datetime
    duration_ms: int
    ok: bool
    status_code: int | None = None
    error: str | None = None
    retryable: bool = False
    retry_in_s: float | None = None


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    status_code: int | None = None
    error: str | None = None
    retryable: bool = False
    retry_after_s: float | None = None


def _error_text(text: str) -> str:
    text = " ".join(text.split())
    return _clip(text, ERROR_TEXT_LIMIT)


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _http_body(channel: SlackChannel | TeamsChannel | WebhookChannel, msg: Message) -> bytes:
    if isinstance(channel, SlackChannel):
        payload = slack_payload(msg)
    elif isinstance(channel, TeamsChannel):
        payload = teams_payload(msg)
    else:
        payload = webhook_payload(msg)
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def post(
    client: httpx.Client,
    channel: SlackChannel | TeamsChannel | WebhookChannel,
    body: bytes,
    now: datetime,
) -> _Outcome:
    """POST one prepared body to a channel (signed for webhooks), one attempt; the outcome says
    whether it was delivered and whether a retry could help."""
    return _post(client, channel, body, now)


def _post(
    client: httpx.Client,
    channel: SlackChannel | TeamsChannel | WebhookChannel,
    body: bytes,
    now: datetime,
) -> _Outcome:
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
    if isinstance(channel, WebhookChannel):
        headers.update(channel.headers)
        headers.update(signature_headers(channel.secret, int(now.timestamp()), body))
    try:
        response = client.post(channel.url, content=body, headers=headers)
    except httpx.UnsupportedProtocol as exc:
        return _Outcome(ok=False, error=_error_text(f"{type(exc).__name__}: {exc}"))
    except httpx.TransportError as exc:  # connect/read/write errors and timeouts
        return _Outcome(ok=False, error=_error_text(f"{type(exc).__name__}: {exc}"), retryable=True)
    code = response.status_code
    if 200 <= code < 300:
        return _Outcome(ok=True, status_code=code)
    retryable = code in (408, 425, 429) or code >= 500
    detail = response.text.strip() or response.reason_phrase
    return _Outcome(
        ok=False,
        status_code=code,
        error=_error_text(f"HTTP {code}: {detail}"),
        retryable=retryable,
        retry_after_s=_retry_after(response.headers.get("Retry-After"), now) if retryable else None,
    )


def _smtp_reply(code: int, text: bytes | str) -> str:
    decoded = text.decode(errors="replace") if isinstance(text, bytes) else text
    return _error_text(f"SMTP {code}: {decoded}")


def _send_mail(channel: EmailChannel, msg: Message, now: datetime) -> _Outcome:
    return send_email(channel, email_message(msg, channel, now=now))


def send_email(channel: EmailChannel, em: EmailMessage) -> _Outcome:
    """Send a prepared message through the channel's SMTP relay (one attempt).

    Returns an outcome with ``ok``, ``status_code``, ``error`` and ``retryable``; other rooms
    (status-page subscriptions) send their own messages through the relay with it.
    """
    try:
        with smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout) as smtp:
            if channel.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if channel.username is not None:
                password = channel.password.get_secret_value() if channel.password else ""
                smtp.login(channel.username, password)
            refused = smtp.send_message(em)
    except smtplib.SMTPRecipientsRefused as exc:  # every recipient refused
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(
            f"{rcpt}: {_smtp_reply(code, text)}" for rcpt, (code, text) in exc.recipients.items()
        )
        return _Outcome(
            ok=False,
            status_code=max(codes) if codes else None,
            error=_error_text(f"all recipients refused: {detail}"),
            retryable=bool(codes) and all(400 <= c < 500 for c in codes),
        )
    except smtplib.SMTPResponseException as exc:  # HELO, AUTH, MAIL FROM, DATA, connect replies
        return _Outcome(
            ok=False,
            status_code=exc.smtp_code,
            error=_smtp_reply(exc.smtp_code, exc.smtp_error),
            retryable=400 <= exc.smtp_code < 500,
        )
    except smtplib.SMTPServerDisconnected as exc:
        return _Outcome(ok=False, error=_error_text(f"disconnected: {exc}"), retryable=True)
    except (smtplib.SMTPException, ssl.SSLCertVerificationError) as exc:
        # STARTTLS or AUTH not offered, certificate rejected: configuration, not weather.
        return _Outcome(ok=False, error=_error_text(f"{type(exc).__name__}: {exc}"))
    except OSError as exc:  # refused, unreachable, timed out, TLS handshake cut
        return _Outcome(ok=False, error=_error_text(f"{type(exc).__name__}: {exc}"), retryable=True)
    if refused:
        # Partly delivered: retrying would mail the accepted recipients twice, so don't.
        detail = "; ".join(f"{r}: {_smtp_reply(c, t)}" for r, (c, t) in refused.items())
        return _Outcome(ok=True, status_code=250, error=_error_text(f"some refused: {detail}"))
    return _Outcome(ok=True, status_code=250)


def deliver(
    channel: ChannelConfig,
    msg: Message,
    *,
    max_attempts: int = 4,
    backoff: Sequence[float] = (1, 4, 16),
    max_retry_after: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] = kit_clock.now,
    http_client: httpx.Client | None = None,
) -> list[Attempt]:
    """Deliver ``msg`` on ``channel``, retrying transient failures; never raises for them.

    Up to ``max_attempts`` tries. After a retryable failure it waits ``backoff[i]`` seconds
    before try ``i + 2`` (the last value repeats), or the server's ``Retry-After`` (seconds
    or HTTP date, capped at ``max_retry_after``) when a 429/5xx response carries one.
    Retryable: network errors and timeouts, HTTP 408/425/429/5xx, SMTP 4xx replies and
    dropped SMTP connections. Not retried: other HTTP 4xx (and 3xx), SMTP 5xx, TLS/AUTH
    configuration errors. ``sleep`` and ``clock`` are injectable so tests run instantly;
    ``http_client`` lets a caller reuse one connection pool for many deliveries.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    owns_client = http_client is None and not isinstance(channel, EmailChannel)
    client = http_client
    if owns_client:
        client = httpx.Client(timeout=channel.timeout, follow_redirects=False)
    attempts: list[Attempt] = []
    try:
        body: bytes | None = None
        for number in range(1, max_attempts + 1):
            started_at = clock()
            t0 = time.perf_counter()
            try:
                if isinstance(channel, EmailChannel):
                    outcome = _send_mail(channel, msg, started_at)
                else:
                    assert client is not None
                    if body is None:
                        body = _http_body(channel, msg)
                    outcome = _post(client, channel, body, started_at)
            except Exception as exc:  # a bug must not take the alerting loop down with it
                logger.exception("unexpected error delivering alert %s", msg.alert_id)
                outcome = _Outcome(ok=False, error=_error_text(f"{type(exc).__name__}: {exc}"))
            duration_ms = round((time.perf_counter() - t0) * 1000)
            again = not outcome.ok and outcome.retryable and number < max_attempts
            delay: float | None = None
            if again:
                delay = float(backoff[min(number - 1, len(backoff) - 1)]) if backoff else 0.0
                if outcome.retry_after_s is not None:
                    delay = min(outcome.retry_after_s, max_retry_after)
            attempts.append(
                Attempt(
                    number=number,
                    started_at=started_at,
                    duration_ms=duration_ms,
                    ok=outcome.ok,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    retryable=outcome.retryable,
                    retry_in_s=delay,
                )
            )
            level = logging.INFO if outcome.ok else logging.WARNING
            logger.log(
                level,
                "alert %s via %s: attempt %d %s",
                msg.alert_id,
                channel.kind,
                number,
                "ok" if outcome.ok else f"failed ({outcome.error})",
            )
            if delay is None:
                break
            sleep(delay)
    finally:
        if owns_client and client is not None:
            client.close()
    return attempts
