"""``render()``: a full page, or just its fragment for htmx requests; plus shared page context."""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from juncture import __version__
from juncture.store.uow import Actor

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

LOGIN_CSRF_COOKIE = "juncture_login_csrf"


def _fmt_time(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M UTC")


def build_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.filters["time"] = _fmt_time
    templates.env.globals["version"] = __version__
    return templates


# Navigation: one entry per room that exists. A room that is not built yet is simply absent.
NAV: list[dict[str, Any]] = [
    {"href": "/", "label": "Overview", "scope": "read", "icon": "◎"},
    {"href": "/services", "label": "Services", "scope": "read", "icon": "▦"},
    {"href": "/journeys", "label": "Journeys", "scope": "read", "icon": "➝"},
    {"href": "/teams", "label": "Teams", "scope": "read", "icon": "◍"},
    {"href": "/kpis", "label": "KPIs", "scope": "read", "icon": "◫"},
    {"href": "/okrs", "label": "OKRs", "scope": "read", "icon": "◔"},
    {"href": "/alerts", "label": "Alerts", "scope": "read", "icon": "⚠"},
    {"href": "/incidents", "label": "Incidents", "scope": "read", "icon": "✚"},
    {"href": "/postmortems", "label": "Post-mortems", "scope": "read", "icon": "✎"},
    {"href": "/status", "label": "Status page", "scope": "read", "icon": "◉"},
    {"href": "/vocabulary", "label": "Regions & channels", "scope": "read", "icon": "◇"},
]
ADMIN_NAV: list[dict[str, Any]] = [
    {"href": "/admin/users", "label": "Users", "scope": "admin"},
    {"href": "/admin/tokens", "label": "API tokens", "scope": "write"},
    {"href": "/admin/quarantine", "label": "Quarantine", "scope": "admin"},
    {"href": "/admin/audit", "label": "Audit log", "scope": "admin"},
    {"href": "/admin/jobs", "label": "Jobs", "scope": "admin"},
]


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    fragment: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Render ``template`` as a page; htmx requests get ``fragment`` (a partial) instead."""
    templates: Jinja2Templates = request.app.state.templates
    actor: Actor | None = getattr(request.state, "actor", None)
    scopes = actor.scopes if actor else frozenset()
    ctx: dict[str, Any] = {
        "request": request,
        "actor": actor,
        "user": getattr(request.state, "user", None),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "nav": [item for item in NAV if item["scope"] in scopes],
        "admin_nav": [item for item in ADMIN_NAV if item["scope"] in scopes],
        "can": lambda scope: scope in scopes,
        "path": request.url.path,
        "demo_status": getattr(request.app.state, "demo_status", None),
    }
    ctx.update(context or {})
    name = fragment if fragment and request.headers.get("hx-request") else template
    response = templates.TemplateResponse(
        request, name, ctx, status_code=status_code, headers=headers
    )
    return response


def render_error(request: Request, status_code: int, body: dict[str, Any]) -> Response:
    """HTML error page (or fragment) with the same code and detail as the JSON error."""
    if request.headers.get("hx-request"):
        templates: Jinja2Templates = request.app.state.templates
        return templates.TemplateResponse(
            request, "_error.html", {"error": body, "status": status_code}, status_code=status_code
        )
    return render(
        request, "error.html", {"error": body, "status": status_code}, status_code=status_code
    )


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def html(content: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(content, status_code=status_code)
