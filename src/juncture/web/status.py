"""The public status page (no login): current status per service and region, open incidents
with their published customer updates, 90-day history bars, past incidents, and the
subscription form. Forms here are protected by a double-submit cookie, as the login form is.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from juncture.api.deps import SessionDep, SettingsDep
from juncture.incidents import status as status_service
from juncture.kit.errors import JunctureError
from juncture.web.render import render

router = APIRouter(include_in_schema=False)

#: Double-submit cookie of the public forms (subscribe, unsubscribe).
STATUS_CSRF_COOKIE = "juncture_status_csrf"
FormStr = Annotated[str, Form()]
LABELS = {
    "operational": "Operational",
    "degraded": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
}


def _with_cookie(response: Response, token: str) -> Response:
    response.set_cookie(STATUS_CSRF_COOKIE, token, httponly=True, samesite="strict", max_age=3600)
    return response


def _page(
    request: Request,
    session: SessionDep,
    *,
    message: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    token = secrets.token_urlsafe(24)
    page = status_service.status_page(session)
    ctx = {
        "page": page,
        "labels": LABELS,
        "form_csrf": token,
        "message": message,
        "form_error": error,
    }
    return _with_cookie(render(request, "status.html", ctx, status_code=status_code), token)


def _csrf_ok(request: Request, sent: str) -> bool:
    cookie = request.cookies.get(STATUS_CSRF_COOKIE, "")
    return bool(cookie) and secrets.compare_digest(cookie, sent)


@router.get("/status")
def status_page(request: Request, session: SessionDep) -> Response:
    return _page(request, session)


@router.post("/status/subscribe")
def status_subscribe(
    request: Request,
    session: SessionDep,
    kind: FormStr,
    target: FormStr,
    csrf_token: FormStr,
    settings: SettingsDep,
    services: Annotated[list[str] | None, Form()] = None,
) -> Response:
    if not _csrf_ok(request, csrf_token):
        return _page(request, session, error="The form expired; please try again.", status_code=403)
    try:
        status_service.subscribe(
            session,
            kind=kind,
            target=target,
            services=services or [],
            allow_private=settings.status_webhook_allow_private,
            replace=False,
            confirm=True,
        )
    except JunctureError as exc:
        return _page(request, session, error=exc.detail, status_code=exc.status_code)
    if kind == "email":
        message = f"Almost done: open the link we e-mail to {target} to confirm."
    else:
        message = f"Subscribed: {target} will receive webhook deliveries."
    return _page(request, session, message=message)


@router.get("/status/confirm/{token}")
def confirm_page(request: Request, token: str) -> Response:
    form_csrf = secrets.token_urlsafe(24)
    ctx = {"token": token, "form_csrf": form_csrf, "done": False, "action": "confirm"}
    return _with_cookie(render(request, "status_unsubscribe.html", ctx), form_csrf)


@router.post("/status/confirm/{token}")
def confirm_submit(
    request: Request, token: str, session: SessionDep, csrf_token: FormStr
) -> Response:
    ctx: dict[str, object] = {"token": token, "form_csrf": "", "done": False, "action": "confirm"}
    page = "status_unsubscribe.html"
    if not _csrf_ok(request, csrf_token):
        return render(request, page, ctx | {"error": "The form expired."}, status_code=403)
    try:
        status_service.confirm_subscription(session, token=token)
    except JunctureError as exc:
        return render(request, page, ctx | {"error": exc.detail}, status_code=exc.status_code)
    return render(request, page, ctx | {"done": True})


@router.get("/status/unsubscribe/{token}")
def unsubscribe_page(request: Request, token: str) -> Response:
    form_csrf = secrets.token_urlsafe(24)
    ctx = {"token": token, "form_csrf": form_csrf, "done": False}
    return _with_cookie(render(request, "status_unsubscribe.html", ctx), form_csrf)


@router.post("/status/unsubscribe/{token}")
def unsubscribe_submit(
    request: Request, token: str, session: SessionDep, csrf_token: FormStr
) -> Response:
    if not _csrf_ok(request, csrf_token):
        ctx = {"token": token, "form_csrf": "", "done": False, "error": "The form expired."}
        return render(request, "status_unsubscribe.html", ctx, status_code=403)
    try:
        status_service.unsubscribe(session, token=token)
    except JunctureError as exc:
        ctx = {"token": token, "form_csrf": "", "done": False, "error": exc.detail}
        return render(request, "status_unsubscribe.html", ctx, status_code=exc.status_code)
    return render(request, "status_unsubscribe.html", {"token": token, "done": True})
