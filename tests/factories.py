"""Objects for tests, made through the real services, with overridable defaults."""

from __future__ import annotations

import itertools
from typing import Any

from juncture.access import service as access_service
from juncture.access.enums import Role, Scope
from juncture.access.schemas import TeamCreate, UserCreate
from juncture.catalog import service as catalog_service
from juncture.catalog.schemas import JourneyCreate, ServiceCreate, StepIn
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work

_seq = itertools.count(1)
PASSWORD = "correct-horse-battery"


def make_user(
    db: Database, *, role: Role | str = Role.ops, email: str | None = None, **kw: Any
) -> int:
    email = email or f"user{next(_seq)}@example.com"
    with unit_of_work(db) as session:
        user, _ = access_service.create_user(
            session,
            data=UserCreate(
                email=email, role=Role(role), password=kw.pop("password", PASSWORD), **kw
            ),
        )
        return user.id


def make_token(
    db: Database,
    *,
    user_id: int,
    scopes: list[str] | None = None,
    expires_in_days: int | None = None,
) -> str:
    with unit_of_work(db) as session:
        _, secret = access_service.create_token(
            session,
            user_id=user_id,
            scopes=[Scope(s) for s in (scopes or ["read"])],
            expires_in_days=expires_in_days,
        )
        return secret


def make_team(db: Database, **kw: Any) -> int:
    n = next(_seq)
    data = {"slug": f"team-{n}", "name": f"Team {n}", "kind": "ops"} | kw
    with unit_of_work(db) as session:
        return access_service.create_team(session, data=TeamCreate(**data)).id


def make_service(db: Database, *, owner_team_id: int | None = None, **kw: Any) -> int:
    owner = owner_team_id or make_team(db)
    n = next(_seq)
    data = {"slug": f"svc-{n}", "name": f"Service {n}", "owner_team_id": owner, "tier": 2} | kw
    with unit_of_work(db) as session:
        return catalog_service.create_service(session, data=ServiceCreate(**data)).id


def make_journey(db: Database, *, steps: list[tuple[str, list[int]]], **kw: Any) -> int:
    n = next(_seq)
    data = {
        "slug": f"journey-{n}",
        "name": f"Journey {n}",
        "steps": [StepIn(slug=name.lower(), name=name, service_ids=ids) for name, ids in steps],
    } | kw
    with unit_of_work(db) as session:
        return catalog_service.create_journey(session, data=JourneyCreate(**data)).id
