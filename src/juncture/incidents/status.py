"""The public status page, the banner products poll, and status subscriptions.

Only what customers were told appears here: incidents with at least one published
``customers`` update (or marked public), and only those updates. Drafts, updates in review,
rejected ones and internal audiences (frontline, executives) never leave this module.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import logging
import re
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
from pydantic import SecretStr
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from juncture.catalog import service as catalog_service
from juncture.config import Settings
from juncture.detect import channels
from juncture.detect import service as detect_service
from juncture.incidents.common import aware
from juncture.incidents.enums import OPEN_STATUSES, Audience, ComponentStatus, UpdateState
from juncture.incidents.models import (
    Incident,
    IncidentUpdate,
    StatusNotification,
    StatusSubscription,
)
from juncture.kit import clock
from juncture.kit.errors import Conflict, Invalid, NotFound

logger = logging.getLogger(__name__)

#: A notification is given up after this many tries.
MAX_ATTEMPTS = 5
STATUS_RANK: dict[str, int] = {s.value: i for i, s in enumerate(ComponentStatus)}
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
_OPEN = {s.value for s in OPEN_STATUSES}


def worst(statuses: Sequence[str]) -> str:
    """Return the worst of some component statuses (``operational`` when there are none)."""
    return max(statuses, key=lambda s: STATUS_RANK.get(s, 0), default="operational")


# ---------------------------------------------------------------- page data


@dataclass
class PublicUpdate:
    """A published customer update as the public sees it."""

    id: int
    subject: str
    body: str
    phase: str
    component_status: str
    published_at: datetime


@dataclass
class PublicIncident:
    """An incident as the public sees it."""

    id: int
    title: str
    status: str
    component_status: str
    services: list[str]
    regions: list[str]
    started_at: datetime
    resolved_at: datetime | None
    updates: list[PublicUpdate] = field(default_factory=list)


@dataclass
class Component:
    """A service or region with its current status and (services) one status per day."""

    slug: str
    name: str
    status: str
    history: list[tuple[date, str]] = field(default_factory=list)


@dataclass
class StatusPage:
    """Everything the public status page shows."""

    generated_at: datetime
    status: str
    services: list[Component]
    regions: list[Component]
    open_incidents: list[PublicIncident]
    past_incidents: list[PublicIncident]
    days: int


def _published_customer_updates(
    session: Session, incident_ids: Sequence[int]
) -> dict[int, list[IncidentUpdate]]:
    out: dict[int, list[IncidentUpdate]] = {i: [] for i in incident_ids}
    if not incident_ids:
        return out
    rows = session.scalars(
        select(IncidentUpdate)
        .where(
            IncidentUpdate.incident_id.in_(list(incident_ids)),
            IncidentUpdate.audience == Audience.CUSTOMERS.value,
            IncidentUpdate.state == UpdateState.PUBLISHED.value,
            IncidentUpdate.published_at.is_not(None),
        )
        .order_by(IncidentUpdate.published_at.desc(), IncidentUpdate.id.desc())
    ).all()
    for row in rows:
        out[row.incident_id].append(row)
    return out


def _visible_incidents(
    session: Session, *, since: datetime | None = None, open_only: bool = False
) -> list[tuple[Incident, list[IncidentUpdate]]]:
    """Incidents with a published customer update or marked public, newest first."""
    has_update = (
        select(IncidentUpdate.id)
        .where(
            IncidentUpdate.incident_id == Incident.id,
            IncidentUpdate.audience == Audience.CUSTOMERS.value,
            IncidentUpdate.state == UpdateState.PUBLISHED.value,
        )
        .exists()
    )
    query = select(Incident).where(or_(Incident.public.is_(True), has_update))
    if since is not None:
        query = query.where(or_(Incident.resolved_at.is_(None), Incident.resolved_at >= since))
    if open_only:
        query = query.where(Incident.status.in_(sorted(_OPEN)))
    incidents = session.scalars(query.order_by(Incident.started_at.desc(), Incident.id)).all()
    updates = _published_customer_updates(session, [i.id for i in incidents])
    return [(i, updates[i.id]) for i in incidents]


def _current_status(updates: Sequence[IncidentUpdate]) -> str:
    """What an incident says now: its latest published customer update's component status."""
    return updates[0].component_status if updates else ComponentStatus.DEGRADED.value


def _covers(values: Sequence[str], slug: str) -> bool:
    return not values or slug in values


def _public(incident: Incident, updates: Sequence[IncidentUpdate]) -> PublicIncident:
    latest = updates[0] if updates else None
    return PublicIncident(
        id=incident.id,
        title=latest.subject if latest is not None else incident.title,
        status=incident.status,
        component_status=_current_status(updates),
        services=list(latest.services if latest is not None else incident.services or []),
        regions=list(latest.regions if latest is not None else incident.regions or []),
        started_at=clock.ensure_utc(incident.started_at),
        resolved_at=clock.ensure_utc(incident.resolved_at) if incident.resolved_at else None,
        updates=[
            PublicUpdate(
                id=u.id,
                subject=u.subject,
                body=u.body,
                phase=u.phase,
                component_status=u.component_status,
                published_at=clock.ensure_utc(u.published_at or u.created_at),
            )
            for u in updates
        ],
    )


def status_page(session: Session, *, now: datetime | None = None, days: int = 90) -> StatusPage:
    """Build the public status page.

    Parameters
    ----------
    session : Session
        Open session.
    now : datetime, optional
        The page's time (default: now).
    days : int
        Days of history (per-day bars and past incidents).

    Returns
    -------
    StatusPage
        Current status per service and region, open incidents with their published customer
        updates (newest first), history bars and past incidents.
    """
    at = aware(now)
    days = max(1, min(days, 366))
    first_day = at.date() - timedelta(days=days - 1)
    since = datetime.combine(first_day, datetime.min.time(), tzinfo=at.tzinfo)
    visible = _visible_incidents(session, since=since)
    open_ones = [(i, u) for i, u in visible if i.status in _OPEN]
    open_public = [_public(i, u) for i, u in open_ones]
    past = [_public(i, u) for i, u in visible if i.status not in _OPEN]

    def current(slug: str, attr: str) -> str:
        return worst([p.component_status for p in open_public if _covers(getattr(p, attr), slug)])

    # each visible incident as (first day, last day, services covered, worst status shown)
    spans = []
    for incident, updates in visible:
        began = clock.ensure_utc(incident.started_at).date()
        ended = (clock.ensure_utc(incident.resolved_at) if incident.resolved_at else at).date()
        covered = list(updates[0].services if updates else incident.services or [])
        shown = worst([u.component_status for u in updates] or [ComponentStatus.DEGRADED.value])
        spans.append((began, ended, covered, shown))
    services: list[Component] = []
    for svc in catalog_service.list_services(session):
        mine = [(b, e, st) for b, e, covered, st in spans if _covers(covered, svc.slug)]
        history: list[tuple[date, str]] = []
        for offset in range(days):
            day = first_day + timedelta(days=offset)
            history.append((day, worst([st for b, e, st in mine if b <= day <= e])))
        services.append(Component(svc.slug, svc.name, current(svc.slug, "services"), history))
    regions = [
        Component(r.slug, r.name, current(r.slug, "regions"))
        for r in catalog_service.list_regions(session)
    ]
    return StatusPage(
        generated_at=at,
        status=worst([p.component_status for p in open_public]),
        services=services,
        regions=regions,
        open_incidents=open_public,
        past_incidents=past,
        days=days,
    )


def banner(
    session: Session,
    *,
    service: str | None = None,
    region: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Return the small JSON document products poll to show an incident banner.

    Parameters
    ----------
    session : Session
        Open session.
    service, region : str, optional
        Only incidents covering this service / region (slugs).
    now : datetime, optional
        Accepted for symmetry with :func:`status_page`; the banner reflects what is published
        when it is called, and carries no time of its own so that its ETag stays stable.

    Returns
    -------
    dict
        ``active``, ``status``, ``subject``, ``body`` and ``published_at`` of the latest
        published customer update, ``incident_ids``, ``updated_at`` (latest publication, None
        when nothing is active) and ``status_url``.
    """
    chosen: list[PublicIncident] = []
    for incident, updates in _visible_incidents(session, open_only=True):
        pub = _public(incident, updates)
        if service and not _covers(pub.services, service):
            continue
        if region and not _covers(pub.regions, region):
            continue
        chosen.append(pub)
    latest = max(
        (u for p in chosen for u in p.updates), key=lambda u: (u.published_at, u.id), default=None
    )
    return {
        "active": bool(chosen),
        "status": worst([p.component_status for p in chosen]),
        "subject": latest.subject if latest else None,
        "body": latest.body if latest else None,
        "published_at": latest.published_at.isoformat() if latest else None,
        "incident_ids": sorted(p.id for p in chosen),
        "updated_at": latest.published_at.isoformat() if latest else None,
        "status_url": Settings().public_url.rstrip("/") + "/status",
    }


# ---------------------------------------------------------------- subscriptions


def _private_address(host: str) -> str | None:
    """The first loopback, private, link-local or otherwise non-public address ``host`` is or
    resolves to (None when every address is public, or the name does not resolve)."""
    try:
        candidates = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except OSError:
            return None
        candidates = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    for ip in candidates:
        if not ip.is_global:
            return str(ip)
    return None


def check_webhook_host(url: str, *, allow_private: bool) -> None:
    """Refuse a webhook whose host is or resolves to a non-public address (unless allowed).

    Raises
    ------
    Invalid
        ``webhook_not_public`` naming the address.
    """
    if allow_private:
        return
    host = urlsplit(url).hostname or ""
    found = "localhost" if host.lower() in ("localhost", "localhost.") else _private_address(host)
    if found is not None:
        raise Invalid(
            f"webhook host {host!r} is a non-public address ({found}); status-page webhooks "
            "must be reachable on the internet",
            code="webhook_not_public",
        )


def _check_target(kind: str, target: str) -> str:
    target = target.strip()
    if kind == "email":
        address = email.utils.parseaddr(target)[1]
        if not address or address != target or not _EMAIL.match(target) or len(target) > 320:
            raise Invalid(f"{target!r} is not an e-mail address", code="invalid_email")
        return target.lower()
    if kind == "webhook":
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname or len(target) > 500:
            raise Invalid("a webhook must be an absolute http(s) URL", code="invalid_url")
        return target
    raise Invalid("kind must be 'email' or 'webhook'", code="invalid_kind")


def subscribe(
    session: Session,
    *,
    kind: str,
    target: str,
    services: Sequence[str] = (),
    regions: Sequence[str] = (),
    allow_private: bool = False,
    replace: bool = True,
    confirm: bool = False,
    now: datetime | None = None,
) -> StatusSubscription:
    """Subscribe an e-mail address or a webhook URL to published customer updates.

    Subscribing the same target again replaces its filters and keeps its token. Webhooks on
    loopback, private or link-local addresses are refused unless ``allow_private``. The public
    endpoints pass ``replace=False``: an existing target is then a Conflict
    (``already_subscribed``), so nobody learns another subscriber's token or changes its
    filters. With ``confirm`` (the public page and API) a new e-mail address gets updates only
    once its owner opens the confirmation link e-mailed by :func:`deliver_pending`; asking
    again for an unconfirmed address sends the link again. Webhooks are active at once (their
    creator holds the signing secret).

    Parameters
    ----------
    session : Session
        Open session.
    kind : str
        ``email`` or ``webhook``.
    target : str
        The address or the http(s) URL.
    services, regions : Sequence of str
        Only updates covering one of these (empty: everything).

    Returns
    -------
    StatusSubscription
        The subscription; its ``token`` unsubscribes and signs webhook deliveries.
    """
    target = _check_target(kind, target)
    if kind == "webhook":
        check_webhook_host(target, allow_private=allow_private)
    services = sorted(set(services))
    regions = sorted(set(regions))
    from juncture.incidents import service as incidents_service  # it re-exports this room

    incidents_service.check_slugs(session, services=services, regions=regions)
    found = session.scalars(
        select(StatusSubscription).where(
            StatusSubscription.kind == kind, StatusSubscription.target == target
        )
    ).first()
    at = aware(now)
    if found is not None and confirm and found.confirmed_at is None:
        found.confirm_sent_at = None  # lost the first e-mail: send the link again
        session.flush()
        return found
    if found is not None and not replace:
        raise Conflict(
            f"{target} is already subscribed; every message carries its unsubscribe link",
            code="already_subscribed",
        )
    if found is not None:
        found.services = list(services)
        found.regions = list(regions)
        session.flush()
        return found
    sub = StatusSubscription(
        kind=kind,
        target=target,
        services=list(services),
        regions=list(regions),
        token=secrets.token_urlsafe(32),
        confirmed_at=None if confirm and kind == "email" else at,
    )
    session.add(sub)
    session.flush()
    return sub


def confirm_subscription(
    session: Session, *, token: str, now: datetime | None = None
) -> StatusSubscription:
    """Confirm an e-mail subscription from the link sent to the address (idempotent).

    Raises
    ------
    NotFound
        ``subscription_not_found`` for an unknown token.
    """
    sub = session.scalars(
        select(StatusSubscription).where(StatusSubscription.token == token)
    ).first()
    if sub is None:
        raise NotFound("no subscription has this token", code="subscription_not_found")
    if sub.confirmed_at is None:
        sub.confirmed_at = aware(now)
        session.flush()
    return sub


def confirmation_email(
    sub: StatusSubscription, sender: str, base_url: str, now: datetime
) -> EmailMessage:
    """The double opt-in e-mail: one link to confirm, nothing else."""
    domain = email.utils.parseaddr(sender)[1].rpartition("@")[2] or "juncture.invalid"
    em = EmailMessage()
    em["Subject"] = "[Status] Confirm your subscription to status updates"
    em["From"] = sender
    em["To"] = sub.target
    em["Date"] = email.utils.format_datetime(now.astimezone(UTC))
    em["Message-ID"] = email.utils.make_msgid(idstring="status", domain=domain)
    em.set_content(
        "Someone (hopefully you) asked to receive status updates at this address.\n\n"
        f"Confirm: {base_url}/status/confirm/{sub.token}\n\n"
        "If it was not you, ignore this message: nothing will be sent without confirmation.\n"
    )
    return em


def send_confirmations(
    session: Session,
    *,
    base_url: str,
    mail: channels.EmailChannel | None,
    now: datetime,
    limit: int = 100,
) -> int:
    """E-mail the confirmation link to new unconfirmed addresses (once each); returns how many
    were sent. Without an SMTP relay nothing is sent and they wait for one."""
    waiting = session.scalars(
        select(StatusSubscription)
        .where(
            StatusSubscription.kind == "email",
            StatusSubscription.confirmed_at.is_(None),
            StatusSubscription.confirm_sent_at.is_(None),
        )
        .order_by(StatusSubscription.id)
        .limit(limit)
    ).all()
    if not waiting or mail is None:
        return 0
    sent = 0
    for sub in waiting:
        outcome = channels.send_email(mail, confirmation_email(sub, mail.sender, base_url, now))
        if outcome.ok:
            sub.confirm_sent_at = now
            sent += 1
    session.flush()
    return sent


def unsubscribe(session: Session, *, token: str) -> None:
    """Remove the subscription with this token (its pending notifications go with it)."""
    sub = session.scalars(
        select(StatusSubscription).where(StatusSubscription.token == token)
    ).first()
    if sub is None:
        raise NotFound("no subscription has this token", code="subscription_not_found")
    session.delete(sub)
    session.flush()


# ---------------------------------------------------------------- delivery


def _relay(session: Session) -> channels.EmailChannel | None:
    """The SMTP relay: the first enabled e-mail notification channel."""
    return detect_service.email_relay(session)


def webhook_payload(
    update: IncidentUpdate, incident: Incident, *, links: dict[str, str]
) -> dict[str, Any]:
    """The JSON document POSTed to webhook subscribers (``version`` 1)."""
    return {
        "version": 1,
        "type": "status.update",
        "incident": {
            "id": incident.id,
            "status": incident.status,
            "started_at": clock.ensure_utc(incident.started_at).isoformat(),
        },
        "update": {
            "id": update.id,
            "subject": update.subject,
            "body": update.body,
            "phase": update.phase,
            "component_status": update.component_status,
            "services": list(update.services or []),
            "regions": list(update.regions or []),
            "published_at": clock.ensure_utc(update.published_at).isoformat()
            if update.published_at
            else None,
        },
        "links": links,
    }


def _send(
    session: Session,
    *,
    sub: StatusSubscription,
    update: IncidentUpdate,
    incident: Incident,
    base_url: str,
    mail: channels.EmailChannel | None,
    client: httpx.Client,
    now: datetime,
    allow_private: bool = False,
) -> tuple[bool, str]:
    links = {
        "open": f"{base_url}/status",
        "unsubscribe": f"{base_url}/status/unsubscribe/{sub.token}",
    }
    if sub.kind == "webhook":
        try:  # checked again: the name may resolve elsewhere since it was subscribed
            check_webhook_host(sub.target, allow_private=allow_private)
        except Invalid as exc:
            return False, exc.detail
        hook = channels.WebhookChannel(url=sub.target, secret=SecretStr(sub.token))
        body = json.dumps(
            webhook_payload(update, incident, links=links), separators=(",", ":")
        ).encode()
        outcome = channels.post(client, hook, body, now)
        return outcome.ok, outcome.error or ""
    if mail is None:
        return False, "no SMTP relay: configure an enabled e-mail notification channel"
    outcome = channels.send_email(mail, status_email(update, mail.sender, sub.target, links, now))
    return outcome.ok, outcome.error or ""


def status_email(
    update: IncidentUpdate, sender: str, to: str, links: dict[str, str], now: datetime
) -> EmailMessage:
    """The e-mail a status-page subscriber gets: the published update's subject and text, the
    affected services and regions, the status page link and a one-click unsubscribe link
    (``List-Unsubscribe``). Nothing internal: it is built from the published update only."""
    domain = email.utils.parseaddr(sender)[1].rpartition("@")[2] or "juncture.invalid"
    em = EmailMessage()
    em["Subject"] = f"[Status] {update.subject}"
    em["From"] = sender
    em["To"] = to
    em["Date"] = email.utils.format_datetime(now.astimezone(UTC))
    em["Message-ID"] = email.utils.make_msgid(idstring="status", domain=domain)
    em["References"] = f"<incident-{update.incident_id}-status@{domain}>"
    em["List-Unsubscribe"] = f"<{links['unsubscribe']}>"
    scope = ", ".join(update.services) or "all services"
    if update.regions:
        scope += " in " + ", ".join(update.regions)
    status_text = update.component_status.replace("_", " ")
    em.set_content(
        f"{update.subject}\n\n{update.body}\n\n"
        f"Affected: {scope} ({status_text})\n"
        f"Status page: {links['open']}\n\n"
        f"You receive this because you subscribed to status updates. "
        f"Unsubscribe: {links['unsubscribe']}\n"
    )
    return em


def deliver_pending(
    session: Session,
    *,
    settings: Settings,
    now: datetime | None = None,
    limit: int = 100,
    mail: channels.EmailChannel | None = None,
    http_client: httpx.Client | None = None,
) -> dict[str, int]:
    """Send pending status notifications: e-mail through SMTP, webhooks as signed JSON.

    First it e-mails the confirmation link to new unconfirmed addresses (double opt-in). Each
    call makes one try per pending notification; a failed one stays pending (with its
    error) until it has been tried :data:`MAX_ATTEMPTS` times, then it is marked failed.
    Webhooks are signed like detect's (``X-Juncture-Timestamp``/``X-Juncture-Signature``)
    with the subscription's token as the secret.

    Parameters
    ----------
    session : Session
        Open session.
    settings : Settings
        ``public_url`` builds the links.
    now : datetime, optional
        Delivery time.
    limit : int
        At most this many notifications per call.
    mail : EmailChannel, optional
        SMTP relay (default: the first enabled e-mail notification channel).
    http_client : httpx.Client, optional
        Client for webhooks (default: a new one).

    Returns
    -------
    dict
        Counts: ``sent``, ``failed`` (given up), ``retry`` (will be tried again),
        ``confirmations`` (confirmation links e-mailed).
    """
    at = aware(now)
    base_url = settings.public_url.rstrip("/")
    relay = mail if mail is not None else _relay(session)
    confirmations = send_confirmations(session, base_url=base_url, mail=relay, now=at)
    pending = session.scalars(
        select(StatusNotification)
        .where(StatusNotification.state == "pending")
        .order_by(StatusNotification.id)
        .limit(limit)
    ).all()
    summary = {"sent": 0, "failed": 0, "retry": 0, "confirmations": confirmations}
    if not pending:
        return summary
    client = http_client or httpx.Client(timeout=10.0, follow_redirects=False)
    try:
        for note in pending:
            sub = session.get(StatusSubscription, note.subscription_id)
            update = session.get(IncidentUpdate, note.update_id)
            if sub is None or update is None:
                continue
            incident = session.get(Incident, update.incident_id)
            assert incident is not None
            try:
                ok, error = _send(
                    session,
                    sub=sub,
                    update=update,
                    incident=incident,
                    base_url=base_url,
                    mail=relay,
                    client=client,
                    now=at,
                    allow_private=settings.status_webhook_allow_private,
                )
            except Exception as exc:  # one bad subscriber must not stop the others
                logger.exception("status notification %s failed", note.id)
                ok, error = False, f"{type(exc).__name__}: {exc}"
            note.attempts += 1
            note.error = error[:500]
            if ok:
                note.state = "sent"
                note.sent_at = at
                sub.last_notified_at = at
                sub.failures = 0
                summary["sent"] += 1
            elif note.attempts >= MAX_ATTEMPTS:
                note.state = "failed"
                sub.failures += 1
                summary["failed"] += 1
            else:
                summary["retry"] += 1
        session.flush()
    finally:
        if http_client is None:
            client.close()
    return summary
