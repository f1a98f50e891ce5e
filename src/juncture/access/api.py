"""HTTP routes of the access room: me, users, teams and memberships, tokens, audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from juncture.access import service
from juncture.access.enums import Scope
from juncture.access.schemas import (
    AuditFilter,
    AuditRead,
    Me,
    MembershipCreate,
    MembershipRead,
    TeamCreate,
    TeamRead,
    TeamUpdate,
    TokenCreate,
    TokenCreated,
    TokenRead,
    UserCreate,
    UserCreated,
    UserRead,
    UserUpdate,
)
from juncture.api.deps import AdminActor, ReadActor, SessionDep, WriteActor
from juncture.kit.errors import Forbidden
from juncture.kit.schemas import Page

router = APIRouter()

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]


@router.get("/me", response_model=Me, tags=["access"])
def me(actor: ReadActor) -> Me:
    """Who the caller is and what they may do."""
    return Me(
        kind=actor.kind,
        user_id=actor.user_id,
        label=actor.label,
        role=actor.role,
        scopes=sorted(actor.scopes),
    )


# ---------------------------------------------------------------- teams


@router.get("/teams", response_model=list[TeamRead], tags=["teams"])
def list_teams(session: SessionDep, actor: ReadActor) -> object:
    return service.list_teams(session)


@router.post("/teams", response_model=TeamRead, status_code=status.HTTP_201_CREATED, tags=["teams"])
def create_team(data: TeamCreate, session: SessionDep, actor: AdminActor) -> object:
    return service.create_team(session, data=data)


@router.get("/teams/{team_id}", response_model=TeamRead, tags=["teams"])
def get_team(team_id: int, session: SessionDep, actor: ReadActor) -> object:
    return service.get_team_or_raise(session, team_id=team_id)


@router.patch("/teams/{team_id}", response_model=TeamRead, tags=["teams"])
def update_team(team_id: int, data: TeamUpdate, session: SessionDep, actor: AdminActor) -> object:
    return service.update_team(session, team_id=team_id, data=data)


@router.delete("/teams/{team_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["teams"])
def delete_team(team_id: int, session: SessionDep, actor: AdminActor) -> Response:
    service.delete_team(session, team_id=team_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/teams/{team_id}/members", response_model=list[MembershipRead], tags=["teams"])
def list_members(team_id: int, session: SessionDep, actor: ReadActor) -> object:
    return service.list_members(session, team_id=team_id)


@router.post(
    "/teams/{team_id}/members",
    response_model=MembershipRead,
    status_code=status.HTTP_201_CREATED,
    tags=["teams"],
)
def add_member(
    team_id: int, data: MembershipCreate, session: SessionDep, actor: AdminActor
) -> object:
    return service.add_member(session, team_id=team_id, data=data)


@router.delete(
    "/teams/{team_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["teams"]
)
def remove_member(team_id: int, user_id: int, session: SessionDep, actor: AdminActor) -> Response:
    service.remove_member(session, team_id=team_id, user_id=user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- users


@router.get("/users", response_model=list[UserRead], tags=["users"])
def list_users(session: SessionDep, actor: AdminActor) -> object:
    return service.list_users(session)


@router.post(
    "/users", response_model=UserCreated, status_code=status.HTTP_201_CREATED, tags=["users"]
)
def create_user(data: UserCreate, session: SessionDep, actor: AdminActor) -> UserCreated:
    """Create a person. Without a password one is generated and returned once."""
    user, generated = service.create_user(session, data=data)
    return UserCreated.model_validate(
        {**UserRead.model_validate(user).model_dump(), "generated_password": generated}
    )


@router.get("/users/{user_id}", response_model=UserRead, tags=["users"])
def get_user(user_id: int, session: SessionDep, actor: AdminActor) -> object:
    return service.get_user_or_raise(session, user_id=user_id)


@router.patch("/users/{user_id}", response_model=UserRead, tags=["users"])
def update_user(user_id: int, data: UserUpdate, session: SessionDep, actor: AdminActor) -> object:
    return service.update_user(session, user_id=user_id, data=data)


# ---------------------------------------------------------------- tokens


@router.get("/tokens", response_model=list[TokenRead], tags=["tokens"])
def list_tokens(
    session: SessionDep, actor: ReadActor, all_users: bool = Query(default=False)
) -> object:
    """Your own tokens; admins may pass `all_users=true`."""
    if all_users:
        if Scope.admin.value not in actor.scopes:
            raise Forbidden(
                "listing everybody's tokens needs the 'admin' scope", code="missing_scope"
            )
        return service.list_tokens(session)
    return service.list_tokens(session, user_id=actor.user_id)


@router.post(
    "/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED, tags=["tokens"]
)
def create_token(data: TokenCreate, session: SessionDep, actor: WriteActor) -> TokenCreated:
    """Create a token for yourself (or, as admin, for another user). The secret is shown once."""
    token, secret = service.create_token_as(
        session,
        actor=actor,
        scopes=data.scopes,
        name=data.name,
        expires_in_days=data.expires_in_days,
        user_id=data.user_id,
    )
    return TokenCreated.model_validate(
        {**TokenRead.model_validate(token).model_dump(), "token": secret}
    )


@router.delete("/tokens/{token_id}", response_model=TokenRead, tags=["tokens"])
def revoke_token(token_id: int, session: SessionDep, actor: WriteActor) -> object:
    """Revoke one of your tokens (admins: anyone's)."""
    return service.revoke_token_as(session, actor=actor, token_ref=token_id)


# ---------------------------------------------------------------- audit


@router.get("/audit", response_model=Page[AuditRead], tags=["audit"])
def list_audit(
    session: SessionDep,
    actor: AdminActor,
    actor_label: Annotated[str | None, Query(alias="actor")] = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[AuditRead]:
    """The audit log, newest first, filtered by actor, action prefix, object and time."""
    filters = AuditFilter(
        actor=actor_label,
        action=action,
        object_type=object_type,
        object_id=object_id,
        since=since,
        until=until,
    )
    rows, total = service.list_audit(session, filters=filters, limit=limit, offset=offset)
    return Page[AuditRead](
        items=[AuditRead.model_validate(r) for r in rows], total=total, limit=limit, offset=offset
    )
