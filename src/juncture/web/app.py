"""Page routes. Each page calls the same room services as its API twin."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlparse

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from juncture.access import service as access_service
from juncture.access.enums import ROLE_SCOPES, Role, Scope
from juncture.access.schemas import (
    AuditFilter,
    MembershipCreate,
    TeamCreate,
    TeamUpdate,
    UserCreate,
    UserUpdate,
)
from juncture.api.deps import (
    SESSION_COOKIE,
    CsrfFailed,
    DbDep,
    OptionalActor,
    PageAdmin,
    PageReader,
    PageWriter,
    SessionDep,
    SettingsDep,
)
from juncture.catalog import service as catalog_service
from juncture.catalog.schemas import (
    ChannelCreate,
    JourneyCreate,
    JourneyUpdate,
    RegionCreate,
    ServiceCreate,
    ServiceUpdate,
)
from juncture.jobs import service as jobs_service
from juncture.kit.errors import JunctureError, Unauthenticated
from juncture.signals import service as signals_service
from juncture.store.uow import unit_of_work
from juncture.web.forms import checkbox, parse, parse_steps, steps_text
from juncture.web.render import (
    LOGIN_CSRF_COOKIE,
    STATIC_DIR,
    build_templates,
    new_login_csrf,
    render,
    render_error,
)

router = APIRouter(include_in_schema=False)

FormStr = Annotated[str, Form()]
OptFormStr = Annotated[str | None, Form()]


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after login (no open redirects)."""
    if not target:
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _secure_cookie(request: Request, mode: str) -> bool:
    if mode == "always":
        return True
    if mode == "never":
        return False
    proto = request.headers.get("x-forwarded-proto", request.url.scheme)
    return proto == "https"


# ---------------------------------------------------------------- login / logout


@router.get("/login")
def login_page(request: Request, actor: OptionalActor, next: str | None = None) -> Response:
    if actor is not None:
        return _see_other(_safe_next(next))
    token = new_login_csrf()
    response = render(request, "login.html", {"next": _safe_next(next), "login_csrf": token})
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", max_age=3600)
    return response


@router.post("/login")
def login_submit(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    email: FormStr,
    password: FormStr,
    csrf_token: FormStr,
    next: OptFormStr = None,
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    ip = request.client.host if request.client else ""
    error: JunctureError | None = None
    if not cookie or cookie != csrf_token:
        error = CsrfFailed("the login form expired; please try again")
    else:
        try:
            with unit_of_work(db) as session:
                _, secret = access_service.login(
                    session,
                    email=email,
                    password=password,
                    ip=ip,
                    user_agent=request.headers.get("user-agent", ""),
                    session_hours=settings.session_hours,
                    max_failures=settings.login_max_failures,
                    window_minutes=settings.login_window_minutes,
                )
        except Unauthenticated as exc:
            with unit_of_work(db) as session:
                access_service.record_login_failure(session, email=email, ip=ip)
            error = exc
        except JunctureError as exc:
            error = exc
    if error is not None:
        token = new_login_csrf()
        response = render(
            request,
            "login.html",
            {"next": _safe_next(next), "login_csrf": token, "error": error.detail, "email": email},
            status_code=error.status_code,
        )
        response.set_cookie(
            LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", max_age=3600
        )
        return response
    response = _see_other(_safe_next(next))
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        httponly=True,
        samesite="lax",
        secure=_secure_cookie(request, settings.cookie_secure),
        max_age=settings.session_hours * 3600,
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, actor: PageReader) -> Response:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        access_service.logout(session, secret=secret)
    response = _see_other("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ---------------------------------------------------------------- overview


@router.get("/")
def overview(
    request: Request, session: SessionDep, actor: PageReader, settings: SettingsDep
) -> Response:
    """Ops health beside customer signals, from the same ``overview()`` as /api/v1/overview."""
    from juncture.incidents import service as incident_service
    from juncture.kpis.overview import overview as compute_overview
    from juncture.kpis.service import window
    from juncture.web.incidents import duration
    from juncture.web.kpis import JINJA_HELPERS

    start, end = window(session, None, None)
    return render(
        request,
        "overview.html",
        {
            "ov": compute_overview(session, start=start, end=end, settings=settings),
            "teams": access_service.list_teams(session),
            "open_incidents": incident_service.list_incidents(session, open_only=True, limit=3),
            "duration": duration,
            **JINJA_HELPERS,
        },
    )


# ---------------------------------------------------------------- services


def _services_context(session: Any) -> dict[str, Any]:
    teams = access_service.list_teams(session)
    return {
        "services": catalog_service.list_services(session),
        "teams": teams,
        "team_by_id": {t.id: t for t in teams},
    }


@router.get("/services")
def services_page(request: Request, session: SessionDep, actor: PageReader) -> Response:
    return render(request, "services.html", _services_context(session))


@router.post("/services")
def services_create(
    request: Request,
    session: SessionDep,
    actor: PageWriter,
    slug: FormStr,
    name: FormStr,
    owner_team_id: Annotated[int, Form()],
    tier: Annotated[int, Form()] = 2,
    description: FormStr = "",
    customer_facing: OptFormStr = None,
) -> Response:
    data = {
        "slug": slug,
        "name": name,
        "owner_team_id": owner_team_id,
        "tier": tier,
        "description": description,
        "customer_facing": checkbox(customer_facing),
    }
    try:
        created = catalog_service.create_service(session, data=parse(ServiceCreate, data))
    except JunctureError as exc:
        ctx = _services_context(session) | {"form_error": exc.detail, "form": data}
        return render(request, "services.html", ctx, status_code=exc.status_code)
    return _see_other(f"/services/{created.id}")


@router.get("/services/{service_id}")
def service_page(
    request: Request, service_id: int, session: SessionDep, actor: PageReader
) -> Response:
    svc = catalog_service.get_service_or_raise(session, service_id=service_id)
    teams = access_service.list_teams(session)
    return render(
        request,
        "service.html",
        {
            "service": svc,
            "teams": teams,
            "owner": access_service.get_team(session, team_id=svc.owner_team_id),
            "journeys": catalog_service.journeys_of_service(session, service_id=svc.id),
        },
    )


@router.post("/services/{service_id}")
def service_update(
    request: Request,
    service_id: int,
    session: SessionDep,
    actor: PageWriter,
    name: FormStr,
    owner_team_id: Annotated[int, Form()],
    tier: Annotated[int, Form()],
    description: FormStr = "",
    customer_facing: OptFormStr = None,
) -> Response:
    data = {
        "name": name,
        "owner_team_id": owner_team_id,
        "tier": tier,
        "description": description,
        "customer_facing": checkbox(customer_facing),
    }
    catalog_service.update_service(session, service_id=service_id, data=parse(ServiceUpdate, data))
    return _see_other(f"/services/{service_id}")


@router.post("/services/{service_id}/delete")
def service_delete(service_id: int, session: SessionDep, actor: PageWriter) -> Response:
    catalog_service.delete_service(session, service_id=service_id)
    return _see_other("/services")


# ---------------------------------------------------------------- journeys


def _journeys_context(session: Any) -> dict[str, Any]:
    services = catalog_service.list_services(session)
    teams = access_service.list_teams(session)
    return {
        "journeys": catalog_service.list_journeys(session),
        "services": services,
        "service_by_id": {s.id: s for s in services},
        "teams": teams,
        "team_by_id": {t.id: t for t in teams},
    }


@router.get("/journeys")
def journeys_page(request: Request, session: SessionDep, actor: PageReader) -> Response:
    return render(request, "journeys.html", _journeys_context(session))


@router.post("/journeys")
def journeys_create(
    request: Request,
    session: SessionDep,
    actor: PageWriter,
    slug: FormStr,
    name: FormStr,
    steps: FormStr,
    description: FormStr = "",
    owner_team_id: OptFormStr = None,
) -> Response:
    form = {"slug": slug, "name": name, "steps": steps, "description": description}
    try:
        by_slug = {s.slug: s.id for s in catalog_service.list_services(session)}
        data = {
            "slug": slug,
            "name": name,
            "description": description,
            "owner_team_id": int(owner_team_id) if owner_team_id else None,
            "steps": parse_steps(steps, by_slug),
        }
        created = catalog_service.create_journey(session, data=parse(JourneyCreate, data))
    except JunctureError as exc:
        ctx = _journeys_context(session) | {"form_error": exc.detail, "form": form}
        return render(request, "journeys.html", ctx, status_code=exc.status_code)
    return _see_other(f"/journeys/{created.id}")


@router.get("/journeys/{journey_id}")
def journey_page(
    request: Request, journey_id: int, session: SessionDep, actor: PageReader
) -> Response:
    journey = catalog_service.get_journey_or_raise(session, journey_id=journey_id)
    services = catalog_service.list_services(session)
    slug_by_id = {s.id: s.slug for s in services}
    teams = access_service.list_teams(session)
    return render(
        request,
        "journey.html",
        {
            "journey": journey,
            "service_by_id": {s.id: s for s in services},
            "services": services,
            "teams": teams,
            "owner": access_service.get_team(session, team_id=journey.owner_team_id)
            if journey.owner_team_id
            else None,
            "steps_text": steps_text(list(journey.steps), slug_by_id),
        },
    )


@router.post("/journeys/{journey_id}")
def journey_update(
    request: Request,
    journey_id: int,
    session: SessionDep,
    actor: PageWriter,
    name: FormStr,
    steps: FormStr,
    description: FormStr = "",
    owner_team_id: OptFormStr = None,
) -> Response:
    by_slug = {s.slug: s.id for s in catalog_service.list_services(session)}
    data = {
        "name": name,
        "description": description,
        "owner_team_id": int(owner_team_id) if owner_team_id else None,
        "steps": parse_steps(steps, by_slug),
    }
    catalog_service.update_journey(session, journey_id=journey_id, data=parse(JourneyUpdate, data))
    return _see_other(f"/journeys/{journey_id}")


@router.post("/journeys/{journey_id}/delete")
def journey_delete(journey_id: int, session: SessionDep, actor: PageWriter) -> Response:
    catalog_service.delete_journey(session, journey_id=journey_id)
    return _see_other("/journeys")


# ---------------------------------------------------------------- teams


@router.get("/teams")
def teams_page(request: Request, session: SessionDep, actor: PageReader) -> Response:
    teams = access_service.list_teams(session)
    services = catalog_service.list_services(session)
    owned: dict[int, int] = {}
    for svc in services:
        owned[svc.owner_team_id] = owned.get(svc.owner_team_id, 0) + 1
    members = {t.id: len(access_service.list_members(session, team_id=t.id)) for t in teams}
    return render(request, "teams.html", {"teams": teams, "owned": owned, "members": members})


@router.post("/teams")
def teams_create(
    request: Request,
    session: SessionDep,
    actor: PageAdmin,
    slug: FormStr,
    name: FormStr,
    kind: FormStr = "ops",
    timezone: FormStr = "UTC",
    description: FormStr = "",
) -> Response:
    data = {
        "slug": slug,
        "name": name,
        "kind": kind,
        "timezone": timezone,
        "description": description,
    }
    team = access_service.create_team(session, data=parse(TeamCreate, data))
    return _see_other(f"/teams/{team.id}")


@router.get("/teams/{team_id}")
def team_page(request: Request, team_id: int, session: SessionDep, actor: PageReader) -> Response:
    team = access_service.get_team_or_raise(session, team_id=team_id)
    memberships = access_service.list_members(session, team_id=team_id)
    users = access_service.list_users(session)
    user_by_id = {u.id: u for u in users}
    return render(
        request,
        "team.html",
        {
            "team": team,
            "memberships": memberships,
            "user_by_id": user_by_id,
            "users": [u for u in users if u.id not in {m.user_id for m in memberships}],
            "services": catalog_service.list_services(session, owner_team_id=team_id),
            "roles": [r.value for r in Role],
        },
    )


@router.post("/teams/{team_id}")
def team_update(
    team_id: int,
    session: SessionDep,
    actor: PageAdmin,
    name: FormStr,
    kind: FormStr,
    timezone: FormStr,
    description: FormStr = "",
) -> Response:
    data = {"name": name, "kind": kind, "timezone": timezone, "description": description}
    access_service.update_team(session, team_id=team_id, data=parse(TeamUpdate, data))
    return _see_other(f"/teams/{team_id}")


@router.post("/teams/{team_id}/members")
def team_add_member(
    team_id: int,
    session: SessionDep,
    actor: PageAdmin,
    user_id: Annotated[int, Form()],
    role: FormStr,
    is_lead: OptFormStr = None,
) -> Response:
    data = {"user_id": user_id, "role": role, "is_lead": checkbox(is_lead)}
    access_service.add_member(session, team_id=team_id, data=parse(MembershipCreate, data))
    return _see_other(f"/teams/{team_id}")


@router.post("/teams/{team_id}/members/{user_id}/delete")
def team_remove_member(
    team_id: int, user_id: int, session: SessionDep, actor: PageAdmin
) -> Response:
    access_service.remove_member(session, team_id=team_id, user_id=user_id)
    return _see_other(f"/teams/{team_id}")


# ---------------------------------------------------------------- regions and channels


@router.get("/vocabulary")
def vocabulary_page(request: Request, session: SessionDep, actor: PageReader) -> Response:
    return render(
        request,
        "vocabulary.html",
        {
            "regions": catalog_service.list_regions(session),
            "channels": catalog_service.list_channels(session),
        },
    )


@router.post("/vocabulary/regions")
def region_create(
    session: SessionDep, actor: PageWriter, slug: FormStr, name: FormStr, timezone: FormStr = "UTC"
) -> Response:
    data = {"slug": slug, "name": name, "timezone": timezone}
    catalog_service.create_region(session, data=parse(RegionCreate, data))
    return _see_other("/vocabulary")


@router.post("/vocabulary/channels")
def channel_create(
    session: SessionDep, actor: PageWriter, slug: FormStr, name: FormStr, kind: FormStr = "digital"
) -> Response:
    data = {"slug": slug, "name": name, "kind": kind}
    catalog_service.create_channel(session, data=parse(ChannelCreate, data))
    return _see_other("/vocabulary")


# ---------------------------------------------------------------- admin


@router.get("/admin/users")
def users_page(request: Request, session: SessionDep, actor: PageAdmin) -> Response:
    return render(
        request,
        "users.html",
        {"users": access_service.list_users(session), "roles": [r.value for r in Role]},
    )


@router.post("/admin/users")
def users_create(
    request: Request,
    session: SessionDep,
    actor: PageAdmin,
    email: FormStr,
    role: FormStr,
    name: FormStr = "",
) -> Response:
    user, generated = access_service.create_user(
        session, data=parse(UserCreate, {"email": email, "role": role, "name": name})
    )
    return render(
        request,
        "users.html",
        {
            "users": access_service.list_users(session),
            "roles": [r.value for r in Role],
            "created": user,
            "generated_password": generated,
        },
        status_code=201,
    )


@router.post("/admin/users/{user_id}")
def users_update(
    user_id: int,
    session: SessionDep,
    actor: PageAdmin,
    role: FormStr,
    is_active: OptFormStr = None,
) -> Response:
    data = {"role": role, "is_active": checkbox(is_active)}
    access_service.update_user(session, user_id=user_id, data=parse(UserUpdate, data))
    return _see_other("/admin/users")


def _tokens_context(session: Any, actor: Any) -> dict[str, Any]:
    is_admin = Scope.admin.value in actor.scopes
    tokens = access_service.list_tokens(session, user_id=None if is_admin else actor.user_id)
    users = {u.id: u for u in access_service.list_users(session)} if is_admin else {}
    role_scopes = sorted(s.value for s in ROLE_SCOPES[Role(actor.role)]) if actor.role else []
    return {"tokens": tokens, "user_by_id": users, "scopes": role_scopes}


@router.get("/admin/tokens")
def tokens_page(request: Request, session: SessionDep, actor: PageWriter) -> Response:
    return render(request, "tokens.html", _tokens_context(session, actor))


@router.post("/admin/tokens")
async def tokens_create(request: Request, session: SessionDep, actor: PageWriter) -> Response:
    form = await request.form()
    scopes = [Scope(str(s)) for s in form.getlist("scopes") if str(s) in Scope.__members__]
    days_raw = str(form.get("expires_in_days") or "").strip()
    token, secret = await run_in_threadpool(
        access_service.create_token_as,
        session,
        actor=actor,
        scopes=scopes,
        name=str(form.get("name") or "")[:200],
        expires_in_days=int(days_raw) if days_raw.isdigit() else None,
    )
    ctx = await run_in_threadpool(_tokens_context, session, actor)
    ctx |= {"new_token": secret, "new_token_row": token}
    return render(request, "tokens.html", ctx, status_code=201)


@router.post("/admin/tokens/{token_id}/revoke")
def tokens_revoke(token_id: int, session: SessionDep, actor: PageWriter) -> Response:
    access_service.revoke_token_as(session, actor=actor, token_ref=token_id)
    return _see_other("/admin/tokens")


@router.get("/admin/audit")
def audit_page(
    request: Request,
    session: SessionDep,
    actor: PageAdmin,
    who: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    filters = AuditFilter(actor=who or None, action=action or None, object_type=object_type or None)
    rows, total = access_service.list_audit(session, filters=filters, limit=50, offset=offset)
    return render(
        request,
        "audit.html",
        {
            "rows": rows,
            "total": total,
            "offset": offset,
            "limit": 50,
            "filters": {"who": who or "", "action": action or "", "object_type": object_type or ""},
        },
        fragment="_audit_rows.html",
    )


@router.get("/admin/jobs")
def jobs_page(request: Request, session: SessionDep, actor: PageAdmin) -> Response:
    runs, total = jobs_service.list_runs(session, limit=50)
    return render(
        request,
        "jobs.html",
        {"jobs": jobs_service.list_jobs(session), "runs": runs, "total": total},
    )


@router.get("/admin/quarantine")
def quarantine_page(
    request: Request,
    session: SessionDep,
    actor: PageAdmin,
    reason: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    rows, total = signals_service.list_quarantine(
        session, reason=reason or None, limit=50, offset=offset
    )
    return render(
        request,
        "quarantine.html",
        {
            "rows": rows,
            "total": total,
            "offset": offset,
            "limit": 50,
            "reason": reason or "",
            "reasons": signals_service.quarantine_reasons(session),
            "flash": request.query_params.get("done"),
        },
    )


@router.post("/admin/quarantine/replay")
async def quarantine_replay(
    request: Request, session: SessionDep, settings: SettingsDep, actor: PageAdmin
) -> Response:
    form = await request.form()
    ids = [int(str(i)) for i in form.getlist("ids") if str(i).isdigit()]
    reason = str(form.get("reason") or "") or None
    result = await run_in_threadpool(
        signals_service.replay, session, settings=settings, ids=ids or None, reason=reason
    )
    return _see_other(
        f"/admin/quarantine?done=replayed+{result.replayed}:+accepted+{result.accepted},"
        f"+still+quarantined+{result.still_quarantined}"
    )


@router.post("/admin/quarantine/drop")
async def quarantine_drop(request: Request, session: SessionDep, actor: PageAdmin) -> Response:
    form = await request.form()
    ids = [int(str(i)) for i in form.getlist("ids") if str(i).isdigit()]
    reason = str(form.get("reason") or "") or None
    dropped = await run_in_threadpool(signals_service.drop, session, ids=ids or None, reason=reason)
    return _see_other(f"/admin/quarantine?done=dropped+{dropped}")


def install(app: FastAPI) -> None:
    """Attach templates, static files, the error renderer and the page routes to ``app``."""
    app.state.templates = build_templates()
    app.state.render_error = render_error
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.include_router(router)
