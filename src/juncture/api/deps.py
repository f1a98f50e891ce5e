"""Named dependencies: the database session, the current actor and scope requirements."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from juncture.access import service as access_service
from juncture.access.enums import Scope
from juncture.access.security import constant_time_equal
from juncture.config import Settings
from juncture.kit.errors import Forbidden, JunctureError, Unauthenticated
from juncture.kit.logs import request_id_var
from juncture.store.engine import Database
from juncture.store.uow import Actor, after_commit, unit_of_work

SESSION_COOKIE = "juncture_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(JunctureError):
    """A page needs a logged-in person; rendered as a redirect to /login."""

    status_code = 401
    code = "login_required"


class CsrfFailed(JunctureError):
    status_code = 403
    code = "csrf_failed"


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One unit of work per request: commit when the handler returns, roll back on error."""
    write = request.method not in SAFE_METHODS
    with unit_of_work(get_db(request), request_id=request_id_var.get(), write=write) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Database, Depends(get_db)]


async def _csrf_token_from(request: Request) -> str | None:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        return value if isinstance(value, str) else None
    return None


# Declared for OpenAPI (so /docs shows both schemes); the logic below reads the raw headers.
_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer jct_...`")
_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="The web session cookie (plus X-CSRF-Token)"
)


async def resolve_actor(
    request: Request,
    session: SessionDep,
    _bearer_doc: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _cookie_doc: Annotated[str | None, Depends(_cookie)],
) -> Actor | None:
    """The caller, from a bearer token or a session cookie; None when anonymous."""
    cached = getattr(request.state, "actor", None)
    if isinstance(cached, Actor):
        session.info["actor"] = cached
        return cached
    authorization = request.headers.get("authorization", "")
    actor: Actor | None = None
    # Database work runs in the thread pool: blocking the event loop on a row lock held by
    # another request would stall that request too.
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credentials:
            raise Unauthenticated("use 'Authorization: Bearer <token>'", code="invalid_token")
        actor = await run_in_threadpool(access_service.authenticate_token, session, raw=credentials)
        if actor.token_id is not None:
            db = get_db(request)
            token_id = actor.token_id
            after_commit(session, lambda: access_service.touch_token(db, token_id=token_id))
    else:
        secret = request.cookies.get(SESSION_COOKIE)
        if secret:
            found = await run_in_threadpool(access_service.resolve_session, session, secret=secret)
            if found is not None:
                web_session, user = found
                request.state.csrf_token = web_session.csrf_token
                if request.method not in SAFE_METHODS:
                    sent = await _csrf_token_from(request)
                    if not sent or not constant_time_equal(sent, web_session.csrf_token):
                        raise CsrfFailed(
                            "the form is missing a valid CSRF token; reload the page and retry"
                        )
                actor = access_service.actor_for_user(user)
                request.state.user = user
    if actor is not None:
        request.state.actor = actor
        session.info["actor"] = actor
    return actor


OptionalActor = Annotated[Actor | None, Depends(resolve_actor)]


class RequireScope:
    """Dependency that lets a request through only with ``scope``; also marks the route's scope.

    ``page=True`` sends anonymous browsers to the login page instead of answering 401.
    The RBAC tests read ``scope`` from every route's dependencies.
    """

    def __init__(self, scope: Scope, *, page: bool = False) -> None:
        self.scope = scope
        self.page = page

    def __call__(self, actor: OptionalActor) -> Actor:
        if actor is None:
            if self.page:
                raise LoginRequired("log in to see this page")
            raise Unauthenticated("authentication required", code="unauthenticated")
        if self.scope.value not in actor.scopes:
            raise Forbidden(
                f"this needs the '{self.scope.value}' scope, which {actor.label} does not have",
                code="missing_scope",
            )
        return actor


ReadActor = Annotated[Actor, Depends(RequireScope(Scope.read))]
WriteActor = Annotated[Actor, Depends(RequireScope(Scope.write))]
IngestActor = Annotated[Actor, Depends(RequireScope(Scope.ingest))]
AdminActor = Annotated[Actor, Depends(RequireScope(Scope.admin))]

PageReader = Annotated[Actor, Depends(RequireScope(Scope.read, page=True))]
PageWriter = Annotated[Actor, Depends(RequireScope(Scope.write, page=True))]
PageAdmin = Annotated[Actor, Depends(RequireScope(Scope.admin, page=True))]
