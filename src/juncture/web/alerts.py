"""Alert pages: the list with state and severity filters, and one alert with its evidence,
history and the acknowledge / unacknowledge / resolve buttons.

They call the same ``juncture.detect.service`` functions as ``/api/v1/alerts``.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from juncture.api.deps import OptionalActor, PageReader, PageWriter, SessionDep, SettingsDep
from juncture.config import Settings
from juncture.detect import service
from juncture.detect.enums import Severity
from juncture.incidents import service as incident_service
from juncture.kit.errors import Conflict, Invalid
from juncture.store.uow import Actor
from juncture.web.render import render

router = APIRouter(include_in_schema=False)

STATE_FILTERS = ("open", "firing", "acknowledged", "resolved", "all")
SEVERITIES = tuple(s.value for s in Severity)
ACTIONS = {
    "acknowledge": service.acknowledge,
    "unacknowledge": service.unacknowledge,
    "resolve": service.resolve,
}
DONE = {"acknowledge": "acknowledged", "unacknowledge": "unacknowledged", "resolve": "resolved"}
#: Double-submit cookie of the acknowledge-link form (for people who are not signed in).
ACK_CSRF_COOKIE = "juncture_ack_csrf"
FormStr = Annotated[str, Form()]


def _cell(value: Any) -> str:
    """An evidence value for a table cell: numbers trimmed, lists and dicts summarised."""
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, list):
        if len(value) > 8:
            return f"{len(value)} values: " + ", ".join(_cell(v) for v in value[:8]) + ", …"
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    return "—" if value is None else str(value)


def evidence_rows(evidence: dict[str, Any]) -> list[tuple[str, str]]:
    """Flatten evidence one level (``effect.customers``) into (label, text) rows."""
    rows: list[tuple[str, str]] = []
    for key, value in evidence.items():
        if isinstance(value, dict) and value and len(value) <= 12:
            rows.extend((f"{key}.{k}", _cell(v)) for k, v in value.items())
        else:
            rows.append((key, _cell(value)))
    return rows


@router.get("/alerts")
def alerts_page(
    request: Request,
    session: SessionDep,
    actor: PageReader,
    state: str = "open",
    severity: str = "",
    offset: int = 0,
) -> Response:
    state = state if state in STATE_FILTERS else "open"
    severity = severity if severity in SEVERITIES else ""
    offset = max(offset, 0)
    rows, total = service.list_alerts(
        session,
        state=None if state == "all" else state,
        severity=severity or None,
        limit=100,
        offset=offset,
    )
    ctx = {
        "alerts": rows,
        "total": total,
        "state": state,
        "severity": severity,
        "offset": offset,
        "states": STATE_FILTERS,
        "severities": SEVERITIES,
    }
    return render(request, "alerts.html", ctx)


def render_alert(
    request: Request,
    session: Session,
    alert_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    found = service.get_alert_with_history(session, alert_id=alert_id)
    channel_names = {c.id: c.name for c in service.list_channels(session)}
    ctx = {
        "alert": found.alert,
        "history": found.history,
        "deliveries": found.deliveries,
        "channel_names": channel_names,
        "evidence": evidence_rows(found.alert.evidence),
        "flash": DONE.get(request.query_params.get("done", "")),
        "action_error": error,
        "incident": incident_service.incident_for_alert(session, alert_id=alert_id),
    }
    return render(request, "alert.html", ctx, status_code=status_code)


@router.get("/alerts/{alert_id}")
def alert_page(request: Request, alert_id: int, session: SessionDep, actor: PageReader) -> Response:
    return render_alert(request, session, alert_id)


def _act(request: Request, session: Session, alert_id: int, action: str) -> Response:
    try:
        ACTIONS[action](session, alert_id=alert_id)
    except Conflict as exc:
        return render_alert(
            request, session, alert_id, error=exc.detail, status_code=exc.status_code
        )
    return RedirectResponse(f"/alerts/{alert_id}?done={action}", status_code=303)


@router.post("/alerts/{alert_id}/acknowledge")
def alert_acknowledge(
    request: Request, alert_id: int, session: SessionDep, actor: PageWriter
) -> Response:
    return _act(request, session, alert_id, "acknowledge")


@router.post("/alerts/{alert_id}/unacknowledge")
def alert_unacknowledge(
    request: Request, alert_id: int, session: SessionDep, actor: PageWriter
) -> Response:
    return _act(request, session, alert_id, "unacknowledge")


@router.post("/alerts/{alert_id}/resolve")
def alert_resolve(
    request: Request, alert_id: int, session: SessionDep, actor: PageWriter
) -> Response:
    return _act(request, session, alert_id, "resolve")


# ---------------------------------------------------------------- acknowledge links
#
# A notification carries ``/alerts/{id}/ack?t=<token>``: an HMAC-signed, expiring token
# naming the recipient. Opening it only shows a confirmation page (link previews and mail
# scanners must not acknowledge anything); the POST acknowledges, as the signed-in user when
# there is one, else as ``link:<recipient>``. The POST is CSRF-protected: the session's token
# for signed-in users, a double-submit cookie otherwise.


def _link_recipient(settings: Settings, alert_id: int, token: str) -> str:
    if settings.secret_key is None:
        raise Invalid("acknowledge links are not enabled here", code="invalid_ack_link")
    return service.check_ack_token(
        token, alert_id=alert_id, secret=settings.secret_key.get_secret_value().encode()
    )


def _ack_page(
    request: Request,
    session: Session,
    alert_id: int,
    *,
    token: str,
    error: str | None = None,
    done: bool = False,
    status_code: int = 200,
) -> Response:
    alert = service.get_alert_or_raise(session, alert_id=alert_id)
    signed_in = getattr(request.state, "user", None) is not None
    form_csrf = getattr(request.state, "csrf_token", "") if signed_in else ""
    cookie = None
    if not signed_in and not done and error is None:
        form_csrf = secrets.token_urlsafe(24)
        cookie = form_csrf
    ctx = {
        "alert": alert,
        "token": token,
        "form_csrf": form_csrf,
        "ack_error": error,
        "done": done,
        "signed_in": signed_in,
    }
    response = render(request, "alert_ack.html", ctx, status_code=status_code)
    if cookie is not None:
        response.set_cookie(
            ACK_CSRF_COOKIE,
            cookie,
            httponly=True,
            samesite="strict",
            max_age=3600,
            path=f"/alerts/{alert_id}/ack",
        )
    return response


@router.get("/alerts/{alert_id}/ack")
def alert_ack_page(
    request: Request,
    alert_id: int,
    session: SessionDep,
    settings: SettingsDep,
    actor: OptionalActor,
    t: str = "",
) -> Response:
    """Confirm page of an acknowledge link (changes nothing by itself)."""
    try:
        _link_recipient(settings, alert_id, t)
    except Invalid as exc:
        if actor is None:
            return _ack_page(
                request, session, alert_id, token="", error=exc.detail, status_code=400
            )
    return _ack_page(request, session, alert_id, token=t)


@router.post("/alerts/{alert_id}/ack")
def alert_ack_submit(
    request: Request,
    alert_id: int,
    session: SessionDep,
    settings: SettingsDep,
    actor: OptionalActor,
    t: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    """Acknowledge from a link: as the signed-in user, or as ``link:<recipient>``."""
    if actor is None or "write" not in actor.scopes:
        if actor is None:
            cookie = request.cookies.get(ACK_CSRF_COOKIE, "")
            if not cookie or not csrf_token or not secrets.compare_digest(cookie, csrf_token):
                return _ack_page(
                    request,
                    session,
                    alert_id,
                    token=t,
                    error="the form expired; open the link again",
                    status_code=403,
                )
        try:
            recipient = _link_recipient(settings, alert_id, t)
        except Invalid as exc:
            return _ack_page(
                request, session, alert_id, token="", error=exc.detail, status_code=400
            )
        session.info["actor"] = Actor(kind="link", label=f"link:{recipient}"[:200])
    # A signed-in user's POST was checked against the session's CSRF token already.
    try:
        service.acknowledge(session, alert_id=alert_id)
    except Conflict as exc:
        return _ack_page(
            request, session, alert_id, token="", error=exc.detail, status_code=exc.status_code
        )
    response = _ack_page(request, session, alert_id, token="", done=True)
    response.delete_cookie(ACK_CSRF_COOKIE, path=f"/alerts/{alert_id}/ack")
    return response
