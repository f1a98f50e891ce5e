"""Alert pages: the list with state and severity filters, and one alert with its evidence,
history and the acknowledge / unacknowledge / resolve buttons.

They call the same ``juncture.detect.service`` functions as ``/api/v1/alerts``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from juncture.api.deps import PageReader, PageWriter, SessionDep
from juncture.detect import service
from juncture.detect.enums import Severity
from juncture.kit.errors import Conflict
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


def _detail(
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
    }
    return render(request, "alert.html", ctx, status_code=status_code)


@router.get("/alerts/{alert_id}")
def alert_page(request: Request, alert_id: int, session: SessionDep, actor: PageReader) -> Response:
    return _detail(request, session, alert_id)


def _act(request: Request, session: Session, alert_id: int, action: str) -> Response:
    try:
        ACTIONS[action](session, alert_id=alert_id)
    except Conflict as exc:
        return _detail(request, session, alert_id, error=exc.detail, status_code=exc.status_code)
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
