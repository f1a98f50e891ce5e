"""Wire contract of the access room."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from juncture.access.enums import Role, Scope
from juncture.kit.schemas import ReadModel, WriteModel

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.match(value) or len(value) > 320:
        raise ValueError("not a valid e-mail address")
    return value


class TeamCreate(WriteModel):
    slug: str = Field(pattern=SLUG_PATTERN, description="Short unique id, e.g. `sre-payments`")
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(default="ops", pattern="^(ops|cx|product|other)$")
    description: str = Field(default="", max_length=4000)
    timezone: str = Field(default="UTC", max_length=64)


class TeamUpdate(WriteModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: str | None = Field(default=None, pattern="^(ops|cx|product|other)$")
    description: str | None = Field(default=None, max_length=4000)
    timezone: str | None = Field(default=None, max_length=64)


class TeamRead(ReadModel):
    id: int
    slug: str
    name: str
    kind: str
    description: str
    timezone: str
    created_at: datetime


class MembershipCreate(WriteModel):
    user_id: int
    role: Role
    is_lead: bool = False


class MembershipRead(ReadModel):
    id: int
    team_id: int
    user_id: int
    role: Role
    is_lead: bool


class UserCreate(WriteModel):
    email: str
    role: Role
    name: str = Field(default="", max_length=200)
    password: str | None = Field(
        default=None, min_length=10, max_length=200, description="Generated when omitted"
    )

    @field_validator("email")
    @classmethod
    def _check_email(cls, value: str) -> str:
        return _email(value)


class UserUpdate(WriteModel):
    name: str | None = Field(default=None, max_length=200)
    role: Role | None = None
    is_active: bool | None = None


class UserRead(ReadModel):
    id: int
    email: str
    name: str
    role: Role
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None


class UserCreated(UserRead):
    generated_password: str | None = Field(
        default=None, description="Shown once when the password was generated"
    )


class TokenCreate(WriteModel):
    scopes: list[Scope] = Field(min_length=1)
    name: str = Field(default="", max_length=200)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)
    user_id: int | None = Field(
        default=None, description="Admins may create tokens for another user"
    )


class TokenRead(ReadModel):
    id: int
    user_id: int
    name: str
    prefix: str
    scopes: list[Scope]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenRead):
    token: str = Field(description="The secret; shown once, never stored")


class AuditRead(ReadModel):
    id: int
    at: datetime
    actor_kind: str
    actor_user_id: int | None
    actor_token_id: int | None
    actor_label: str
    action: str
    object_type: str
    object_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None


class AuditFilter(WriteModel):
    actor: str | None = Field(default=None, description="Actor label (e-mail) contains")
    action: str | None = Field(default=None, description="Action starts with, e.g. `team.`")
    object_type: str | None = None
    object_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class Me(ReadModel):
    kind: str
    user_id: int | None
    label: str
    role: str | None
    scopes: list[str]
