"""Access logic: people, teams, tokens, web sessions, login throttling and the audit trail."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from juncture.access import audit, security
from juncture.access.enums import ROLE_SCOPES, Role, Scope
from juncture.access.models import (
    ApiToken,
    AuditEvent,
    LoginAttempt,
    Membership,
    Team,
    User,
    WebSession,
)
from juncture.access.schemas import (
    AuditFilter,
    MembershipCreate,
    TeamCreate,
    TeamUpdate,
    UserCreate,
    UserUpdate,
)
from juncture.kit import clock
from juncture.kit.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited, Unauthenticated
from juncture.store.engine import Database
from juncture.store.uow import Actor, unit_of_work

# ---------------------------------------------------------------- teams


def list_teams(session: Session) -> Sequence[Team]:
    return session.scalars(select(Team).order_by(Team.name)).all()


def get_team(session: Session, *, team_id: int) -> Team | None:
    return session.get(Team, team_id)


def get_team_or_raise(session: Session, *, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound(f"team {team_id} does not exist")
    return team


def get_team_by_slug(session: Session, *, slug: str) -> Team | None:
    return session.scalars(select(Team).where(Team.slug == slug)).one_or_none()


def create_team(session: Session, *, data: TeamCreate) -> Team:
    if get_team_by_slug(session, slug=data.slug) is not None:
        raise Conflict(f"a team with slug '{data.slug}' already exists", code="team_exists")
    team = Team(**data.model_dump())
    session.add(team)
    session.flush()
    return team


def update_team(session: Session, *, team_id: int, data: TeamUpdate) -> Team:
    team = get_team_or_raise(session, team_id=team_id)
    for key, value in data.model_dump(exclude_unset=True).items():
        setattr(team, key, value)
    session.flush()
    return team


def delete_team(session: Session, *, team_id: int) -> None:
    team = get_team_or_raise(session, team_id=team_id)
    slug = team.slug
    session.delete(team)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"team '{slug}' still owns services or work; reassign them first",
            code="team_in_use",
        ) from exc


def list_members(session: Session, *, team_id: int) -> Sequence[Membership]:
    get_team_or_raise(session, team_id=team_id)
    return session.scalars(
        select(Membership).where(Membership.team_id == team_id).order_by(Membership.id)
    ).all()


def add_member(session: Session, *, team_id: int, data: MembershipCreate) -> Membership:
    get_team_or_raise(session, team_id=team_id)
    get_user_or_raise(session, user_id=data.user_id)
    existing = session.scalars(
        select(Membership).where(Membership.team_id == team_id, Membership.user_id == data.user_id)
    ).one_or_none()
    if existing is not None:
        raise Conflict("that person is already in the team", code="already_member")
    membership = Membership(
        team_id=team_id, user_id=data.user_id, role=data.role.value, is_lead=data.is_lead
    )
    session.add(membership)
    session.flush()
    return membership


def remove_member(session: Session, *, team_id: int, user_id: int) -> None:
    membership = session.scalars(
        select(Membership).where(Membership.team_id == team_id, Membership.user_id == user_id)
    ).one_or_none()
    if membership is None:
        raise NotFound("that person is not in the team")
    session.delete(membership)
    session.flush()


# ---------------------------------------------------------------- users


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.email)).all()


def get_user_or_raise(session: Session, *, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


def get_user_by_email(session: Session, *, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == email.strip().lower())).one_or_none()


def create_user(session: Session, *, data: UserCreate) -> tuple[User, str | None]:
    """Create a person; returns the generated password when none was given (shown once)."""
    if get_user_by_email(session, email=data.email) is not None:
        raise Conflict(f"a user with e-mail '{data.email}' already exists", code="user_exists")
    generated = None
    password = data.password
    if password is None:
        generated = password = security.generate_password()
    user = User(
        email=data.email,
        name=data.name,
        role=data.role.value,
        password_hash=security.hash_password(password),
    )
    session.add(user)
    session.flush()
    return user, generated


def update_user(session: Session, *, user_id: int, data: UserUpdate) -> User:
    user = get_user_or_raise(session, user_id=user_id)
    changes = data.model_dump(exclude_unset=True)
    if "role" in changes and changes["role"] is not None:
        changes["role"] = Role(changes["role"]).value
    for key, value in changes.items():
        setattr(user, key, value)
    if user.role != Role.admin or not user.is_active:
        _keep_one_admin(session, excluding=user.id)
    session.flush()
    if not user.is_active:
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    return user


def _keep_one_admin(session: Session, *, excluding: int) -> None:
    remaining = session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == Role.admin, User.is_active.is_(True), User.id != excluding)
    )
    if not remaining:
        raise Conflict("juncture needs at least one active admin", code="last_admin")


def set_password(session: Session, *, user_id: int, password: str) -> User:
    if len(password) < 10:
        raise Invalid("a password needs at least 10 characters", code="weak_password")
    user = get_user_or_raise(session, user_id=user_id)
    user.password_hash = security.hash_password(password)
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.flush()
    return user


# ---------------------------------------------------------------- tokens


def create_token(
    session: Session,
    *,
    user_id: int,
    scopes: Sequence[Scope],
    name: str = "",
    expires_in_days: int | None = None,
) -> tuple[ApiToken, str]:
    """Create an API token for a user; returns the stored row and the secret (shown once)."""
    user = get_user_or_raise(session, user_id=user_id)
    if not user.is_active:
        raise Invalid(f"user '{user.email}' is deactivated", code="user_inactive")
    allowed = ROLE_SCOPES[Role(user.role)]
    wanted = {Scope(s) for s in scopes}
    if not wanted:
        raise Invalid("a token needs at least one scope", code="no_scopes")
    extra = wanted - allowed
    if extra:
        raise Forbidden(
            f"role '{user.role}' cannot hold scope(s) {', '.join(sorted(extra))}",
            code="scope_not_allowed",
        )
    full, prefix, secret_hash = security.new_token()
    expires_at = clock.now() + timedelta(days=expires_in_days) if expires_in_days else None
    token = ApiToken(
        user_id=user.id,
        name=name,
        prefix=prefix,
        secret_hash=secret_hash,
        scopes=sorted(wanted),
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    return token, full


def create_token_as(
    session: Session,
    *,
    actor: Actor,
    scopes: Sequence[Scope],
    name: str = "",
    expires_in_days: int | None = None,
    user_id: int | None = None,
) -> tuple[ApiToken, str]:
    """Create a token on behalf of ``actor``: for themselves, or (admins) for someone else.

    A token-authenticated caller cannot mint a token with scopes it does not hold itself.
    """
    owner = user_id or actor.user_id
    if owner is None:
        raise Forbidden("only people can own API tokens", code="missing_scope")
    if owner != actor.user_id and Scope.admin.value not in actor.scopes:
        raise Forbidden("only admins create tokens for other people", code="missing_scope")
    if actor.kind == "token" and not {Scope(s).value for s in scopes} <= actor.scopes:
        raise Forbidden(
            "a token cannot mint a token with more scopes than itself", code="scope_escalation"
        )
    return create_token(
        session, user_id=owner, scopes=scopes, name=name, expires_in_days=expires_in_days
    )


def revoke_token_as(session: Session, *, actor: Actor, token_ref: str | int) -> ApiToken:
    """Revoke a token on behalf of ``actor``: their own, or (admins) anyone's."""
    token = get_token_or_raise(session, token_ref=token_ref)
    if token.user_id != actor.user_id and Scope.admin.value not in actor.scopes:
        raise Forbidden("only admins revoke other people's tokens", code="missing_scope")
    return revoke_token(session, token_ref=token_ref)


def list_tokens(session: Session, *, user_id: int | None = None) -> Sequence[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.id.desc())
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return session.scalars(query).all()


def get_token_or_raise(session: Session, *, token_ref: str | int) -> ApiToken:
    """Find a token by numeric id or by its public prefix."""
    token: ApiToken | None = None
    if isinstance(token_ref, str):
        # A prefix is random hex and may be all digits, so text is tried as a prefix first.
        parsed = security.split_token(token_ref)
        prefix = parsed[0] if parsed else token_ref
        token = session.scalars(select(ApiToken).where(ApiToken.prefix == prefix)).one_or_none()
    if token is None and str(token_ref).isdigit():
        token = session.get(ApiToken, int(token_ref))
    if token is None:
        raise NotFound(f"token '{token_ref}' does not exist")
    return token


def revoke_token(session: Session, *, token_ref: str | int) -> ApiToken:
    token = get_token_or_raise(session, token_ref=token_ref)
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        session.flush()
    return token


def authenticate_token(session: Session, *, raw: str) -> Actor:
    """Turn a bearer token into an actor, or raise Unauthenticated."""
    parsed = security.split_token(raw.strip())
    if parsed is None:
        raise Unauthenticated("malformed API token", code="invalid_token")
    prefix, secret = parsed
    token = session.scalars(select(ApiToken).where(ApiToken.prefix == prefix)).one_or_none()
    if token is None or not security.constant_time_equal(
        token.secret_hash, security.sha256_hex(secret)
    ):
        raise Unauthenticated("unknown API token", code="invalid_token")
    now = clock.now()
    if token.revoked_at is not None:
        raise Unauthenticated("this API token was revoked", code="token_revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise Unauthenticated("this API token has expired", code="token_expired")
    user = session.get(User, token.user_id)
    if user is None or not user.is_active:
        raise Unauthenticated("the token's user is deactivated", code="user_inactive")
    # Effective scopes: what the token asked for, still limited by the user's current role.
    scopes = frozenset(token.scopes) & {s.value for s in ROLE_SCOPES[Role(user.role)]}
    return Actor(
        kind="token",
        user_id=user.id,
        token_id=token.id,
        label=user.email,
        role=user.role,
        scopes=frozenset(scopes),
    )


def touch_token(db: Database, *, token_id: int) -> None:
    """Record a token's use, at most once a minute, in its own short transaction.

    Kept out of the request's transaction so that many requests with one token never queue
    on that token's row.
    """
    now = clock.now()
    with unit_of_work(db, write=False) as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id)
            .where(
                (ApiToken.last_used_at.is_(None))
                | (ApiToken.last_used_at < now - timedelta(minutes=1))
            )
            .values(last_used_at=now)
        )


def actor_for_user(user: User) -> Actor:
    return Actor(
        kind="user",
        user_id=user.id,
        label=user.email,
        role=user.role,
        scopes=frozenset(s.value for s in ROLE_SCOPES[Role(user.role)]),
    )


# ---------------------------------------------------------------- web sessions


def _throttled(session: Session, *, email: str, max_failures: int, window: timedelta) -> bool:
    since = clock.now() - window
    failures = session.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(
            LoginAttempt.email == email, LoginAttempt.at >= since, LoginAttempt.success.is_(False)
        )
    )
    return bool(failures is not None and failures >= max_failures)


def login(
    session: Session,
    *,
    email: str,
    password: str,
    ip: str,
    user_agent: str,
    session_hours: int,
    max_failures: int,
    window_minutes: int,
) -> tuple[WebSession, str]:
    """Check a password and open a web session; returns the row and the cookie secret."""
    email = email.strip().lower()
    window = timedelta(minutes=window_minutes)
    if _throttled(session, email=email, max_failures=max_failures, window=window):
        raise RateLimited(
            f"too many failed logins; try again in {window_minutes} minutes",
            code="login_throttled",
        )
    user = get_user_by_email(session, email=email)
    ok = (
        user is not None
        and user.is_active
        and security.verify_password(user.password_hash, password)
    )
    if not ok or user is None:
        # The edge records the failure in its own transaction (this one rolls back).
        raise Unauthenticated("wrong e-mail or password", code="bad_credentials")
    session.add(LoginAttempt(email=email, ip=ip[:64], success=True))
    if security.needs_rehash(user.password_hash):
        user.password_hash = security.hash_password(password)
    user.last_login_at = clock.now()
    secret = security.new_secret()
    web_session = WebSession(
        user_id=user.id,
        secret_hash=security.sha256_hex(secret),
        csrf_token=security.new_secret(),
        expires_at=clock.now() + timedelta(hours=session_hours),
        ip=ip[:64],
        user_agent=user_agent[:400],
    )
    session.add(web_session)
    session.flush()
    return web_session, secret


def record_login_failure(session: Session, *, email: str, ip: str) -> None:
    """Count a failed login towards the throttle."""
    session.add(LoginAttempt(email=email.strip().lower()[:320], ip=ip[:64], success=False))
    session.flush()


def resolve_session(session: Session, *, secret: str) -> tuple[WebSession, User] | None:
    """The live web session and user behind a cookie secret, or None."""
    web_session = session.scalars(
        select(WebSession).where(WebSession.secret_hash == security.sha256_hex(secret))
    ).one_or_none()
    if web_session is None or web_session.expires_at <= clock.now():
        return None
    user = session.get(User, web_session.user_id)
    if user is None or not user.is_active:
        return None
    return web_session, user


def logout(session: Session, *, secret: str) -> None:
    session.execute(delete(WebSession).where(WebSession.secret_hash == security.sha256_hex(secret)))


def purge_expired(session: Session, *, keep_attempts_days: int = 30) -> dict[str, int]:
    """Delete expired web sessions and old login attempts."""
    now = clock.now()
    sessions = session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    attempts = session.execute(
        delete(LoginAttempt).where(LoginAttempt.at < now - timedelta(days=keep_attempts_days))
    )
    return {
        "sessions": int(getattr(sessions, "rowcount", 0) or 0),
        "login_attempts": int(getattr(attempts, "rowcount", 0) or 0),
    }


# ---------------------------------------------------------------- audit


def list_audit(
    session: Session, *, filters: AuditFilter, limit: int = 100, offset: int = 0
) -> tuple[Sequence[AuditEvent], int]:
    query = select(AuditEvent)
    if filters.actor:
        query = query.where(AuditEvent.actor_label.contains(filters.actor))
    if filters.action:
        query = query.where(AuditEvent.action.startswith(filters.action))
    if filters.object_type:
        query = query.where(AuditEvent.object_type == filters.object_type)
    if filters.object_id:
        query = query.where(AuditEvent.object_id == filters.object_id)
    if filters.since:
        query = query.where(AuditEvent.at >= filters.since)
    if filters.until:
        query = query.where(AuditEvent.at < filters.until)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit).offset(offset)).all()
    return rows, total


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def latest_change(session: Session) -> datetime | None:
    return session.scalar(select(func.max(AuditEvent.at)))


def latest_audit_id(session: Session) -> int:
    """Id of the newest audit event (0 when none): it moves on every audited change, so other
    rooms can key caches of audited objects (teams, services, journeys) on it."""
    return int(session.scalar(select(func.max(AuditEvent.id))) or 0)


def record_audit(
    session: Session,
    *,
    action: str,
    object_type: str,
    object_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Write an audit event for a change made outside the ORM (bulk ingest, purges, replays)."""
    audit.record(
        session,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
    )
