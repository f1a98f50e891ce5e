"""Access services: people, tokens, sessions, throttling and the audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from juncture.access import security
from juncture.access import service as access_service
from juncture.access.enums import Role, Scope
from juncture.access.models import AuditEvent, User
from juncture.access.schemas import TeamUpdate, UserCreate, UserUpdate
from juncture.kit import clock
from juncture.kit.errors import Conflict, Forbidden, RateLimited, Unauthenticated
from juncture.store.engine import Database
from juncture.store.uow import Actor, unit_of_work
from tests.factories import PASSWORD, make_team, make_token, make_user


def test_generated_password_is_returned_once_and_stored_as_argon2(db: Database) -> None:
    with unit_of_work(db) as session:
        user, generated = access_service.create_user(
            session, data=UserCreate(email="New@Example.com", role=Role.cx)
        )
        assert generated is not None
        assert user.email == "new@example.com"
        assert user.password_hash.startswith("$argon2id$")
        assert generated not in user.password_hash
        assert security.verify_password(user.password_hash, generated)


def test_duplicate_email_is_a_conflict(db: Database) -> None:
    make_user(db, email="a@example.com")
    with pytest.raises(Conflict), unit_of_work(db) as session:
        access_service.create_user(session, data=UserCreate(email="A@example.com", role=Role.ops))


def test_token_scopes_are_limited_by_role(db: Database) -> None:
    viewer = make_user(db, role=Role.viewer)
    with pytest.raises(Forbidden, match="cannot hold scope"), unit_of_work(db) as session:
        access_service.create_token(session, user_id=viewer, scopes=[Scope.ingest])
    token = make_token(db, user_id=viewer, scopes=["read"])
    with unit_of_work(db) as session:
        actor = access_service.authenticate_token(session, raw=token)
    assert actor.scopes == frozenset({"read"})
    assert actor.kind == "token"


def test_token_secret_is_never_stored(db: Database) -> None:
    user = make_user(db)
    token = make_token(db, user_id=user, scopes=["read", "ingest"])
    prefix, secret = security.split_token(token) or ("", "")
    with unit_of_work(db) as session:
        row = access_service.get_token_or_raise(session, token_ref=prefix)
        assert secret not in row.secret_hash
        assert row.secret_hash == security.sha256_hex(secret)


@pytest.mark.parametrize(
    ("mangle", "code"),
    [
        (lambda t: "nonsense", "invalid_token"),
        (lambda t: t[:-2] + "xx", "invalid_token"),
        (lambda t: "jct_deadbeef_" + t.split("_", 2)[2], "invalid_token"),
    ],
)
def test_bad_tokens_are_refused(db: Database, mangle: object, code: str) -> None:
    user = make_user(db)
    token = make_token(db, user_id=user)
    with pytest.raises(Unauthenticated) as info, unit_of_work(db) as session:
        access_service.authenticate_token(session, raw=mangle(token))  # type: ignore[operator]
    assert info.value.code == code


def test_revoked_and_expired_tokens_are_refused(db: Database) -> None:
    user = make_user(db)
    revoked = make_token(db, user_id=user)
    with unit_of_work(db) as session:
        access_service.revoke_token(session, token_ref=revoked)
    with pytest.raises(Unauthenticated, match="revoked"), unit_of_work(db) as session:
        access_service.authenticate_token(session, raw=revoked)

    expiring = make_token(db, user_id=user, expires_in_days=1)
    later = clock.FixedClock(clock.now() + timedelta(days=1, seconds=1))
    with clock.use_clock(later), pytest.raises(Unauthenticated, match="expired"):
        with unit_of_work(db) as session:
            access_service.authenticate_token(session, raw=expiring)


def test_token_scopes_shrink_when_the_role_is_lowered(db: Database) -> None:
    make_user(db, role=Role.admin)  # keeps one admin around
    user = make_user(db, role=Role.ops)
    token = make_token(db, user_id=user, scopes=["read", "write", "ingest"])
    with unit_of_work(db) as session:
        access_service.update_user(session, user_id=user, data=UserUpdate(role=Role.viewer))
    with unit_of_work(db) as session:
        actor = access_service.authenticate_token(session, raw=token)
    assert actor.scopes == frozenset({"read"})


def test_login_and_session_resolution(db: Database) -> None:
    make_user(db, email="ops@example.com")
    with unit_of_work(db) as session:
        web_session, secret = access_service.login(
            session,
            email="OPS@example.com",
            password=PASSWORD,
            ip="10.0.0.1",
            user_agent="pytest",
            session_hours=1,
            max_failures=5,
            window_minutes=15,
        )
        assert web_session.secret_hash != secret
    with unit_of_work(db) as session:
        found = access_service.resolve_session(session, secret=secret)
        assert found is not None
        assert found[1].email == "ops@example.com"
        access_service.logout(session, secret=secret)
    with unit_of_work(db) as session:
        assert access_service.resolve_session(session, secret=secret) is None


def test_failed_logins_are_throttled(db: Database) -> None:
    make_user(db, email="t@example.com")
    kwargs = {
        "ip": "1.2.3.4",
        "user_agent": "",
        "session_hours": 1,
        "max_failures": 3,
        "window_minutes": 15,
    }
    for _ in range(3):
        with pytest.raises(Unauthenticated), unit_of_work(db) as session:
            access_service.login(
                session, email="t@example.com", password="wrong-password", **kwargs
            )  # type: ignore[arg-type]
        with unit_of_work(db) as session:
            access_service.record_login_failure(session, email="t@example.com", ip="1.2.3.4")
    # even the right password is refused while throttled
    with pytest.raises(RateLimited), unit_of_work(db) as session:
        access_service.login(session, email="t@example.com", password=PASSWORD, **kwargs)  # type: ignore[arg-type]
    later = clock.FixedClock(clock.now() + timedelta(minutes=16))
    with clock.use_clock(later), unit_of_work(db) as session:
        access_service.login(session, email="t@example.com", password=PASSWORD, **kwargs)  # type: ignore[arg-type]


def test_the_last_admin_cannot_be_demoted(db: Database) -> None:
    admin = make_user(db, role=Role.admin)
    with pytest.raises(Conflict, match="at least one active admin"), unit_of_work(db) as session:
        access_service.update_user(session, user_id=admin, data=UserUpdate(role=Role.ops))


def test_every_mutation_is_audited_with_actor_before_after_and_request(db: Database) -> None:
    team_id = make_team(db, slug="sre", name="SRE")
    admin = make_user(db, role=Role.admin, email="boss@example.com")
    actor = Actor(kind="user", user_id=admin, label="boss@example.com", role="admin")
    with unit_of_work(db, actor=actor, request_id="req-123") as session:
        access_service.update_team(
            session, team_id=team_id, data=TeamUpdate(name="Site Reliability")
        )
    with unit_of_work(db) as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.object_type == "team").order_by(AuditEvent.id)
        ).all()
        assert [e.action for e in events] == ["team.create", "team.update"]
        update = events[1]
        assert update.actor_label == "boss@example.com"
        assert update.actor_user_id == admin
        assert update.request_id == "req-123"
        assert update.before == {"name": "SRE"}
        assert update.after == {"name": "Site Reliability"}
        assert update.object_id == str(team_id)
        user_event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "user.create")
        ).first()
        assert user_event is not None
        assert user_event.after is not None
        assert user_event.after["password_hash"] == "***"


def test_a_rolled_back_change_leaves_no_audit_event(db: Database) -> None:
    with pytest.raises(RuntimeError), unit_of_work(db) as session:
        session.add(User(email="ghost@example.com", role="ops", password_hash="x"))
        session.flush()
        raise RuntimeError
    with unit_of_work(db) as session:
        assert (
            session.scalars(select(AuditEvent).where(AuditEvent.action == "user.create")).all()
            == []
        )


def test_purge_removes_expired_sessions_only(db: Database) -> None:
    make_user(db, email="p@example.com")
    kwargs = {"ip": "", "user_agent": "", "max_failures": 5, "window_minutes": 15}
    with unit_of_work(db) as session:
        _, short = access_service.login(
            session, email="p@example.com", password=PASSWORD, session_hours=1, **kwargs
        )  # type: ignore[arg-type]
        _, long = access_service.login(
            session, email="p@example.com", password=PASSWORD, session_hours=48, **kwargs
        )  # type: ignore[arg-type]
    later = clock.FixedClock(clock.now() + timedelta(hours=2))
    with clock.use_clock(later), unit_of_work(db) as session:
        assert access_service.purge_expired(session)["sessions"] == 1
    with unit_of_work(db) as session:
        assert access_service.resolve_session(session, secret=long) is not None
        assert access_service.resolve_session(session, secret=short) is None


def test_an_all_digit_prefix_is_found_as_a_prefix(db: Database) -> None:
    """Prefixes are random hex: one made only of digits must not be read as a numeric id."""
    from juncture.access.models import ApiToken

    user = make_user(db)
    make_token(db, user_id=user)
    with unit_of_work(db) as session:
        token = session.scalars(select(ApiToken)).one()
        token.prefix = "12345678"
    with unit_of_work(db) as session:
        assert access_service.revoke_token(session, token_ref="12345678").revoked_at is not None
        assert access_service.get_token_or_raise(session, token_ref=token.id).id == token.id
