"""RBAC over every route x role, generated from the app's route table.

A new route is covered automatically: it must either declare a scope (RequireScope) or be on
the short public list below, and every role then gets the answer its scopes dictate.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from juncture.access.enums import ROLE_SCOPES, Role
from juncture.api.deps import RequireScope
from juncture.store.engine import Database
from tests.factories import make_token, make_user

PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("POST", "/api/v1/widget/responses"),  # authenticated by the widget token, rate limited
    ("GET", "/alerts/{alert_id}/ack"),  # a signed, expiring acknowledge link (confirm page)
    ("POST", "/alerts/{alert_id}/ack"),  # the link's token (or a session) + CSRF
    # the public status page, its banner and subscriptions (rate limited, CSRF cookie on forms)
    ("GET", "/api/v1/status"),
    ("GET", "/api/v1/status/banner"),
    ("POST", "/api/v1/status/subscriptions"),
    ("DELETE", "/api/v1/status/subscriptions/{token}"),
    ("POST", "/api/v1/status/subscriptions/{token}/confirm"),
    ("GET", "/status/confirm/{token}"),
    ("POST", "/status/confirm/{token}"),
    ("GET", "/status"),
    ("POST", "/status/subscribe"),
    ("GET", "/status/unsubscribe/{token}"),
    ("POST", "/status/unsubscribe/{token}"),
}


def _scope_of(dependant: Any) -> RequireScope | None:
    for dep in getattr(dependant, "dependencies", []):
        if isinstance(dep.call, RequireScope):
            return dep.call
        found = _scope_of(dep)
        if found is not None:
            return found
    return None


def route_table(app: Any) -> list[tuple[str, str, RequireScope | None]]:
    rows = []
    for ctx in iter_route_contexts(app.routes):
        methods = getattr(ctx, "methods", None)
        if not methods or ctx.path is None:
            continue
        requirement = _scope_of(getattr(ctx, "dependant", None))
        for method in sorted(methods - {"HEAD"}):
            rows.append((method, ctx.path, requirement))
    return rows


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "999999", path)


def test_every_route_declares_a_scope_or_is_public(app: Any) -> None:
    table = route_table(app)
    assert len(table) > 40
    unguarded = [(m, p) for m, p, req in table if req is None and (m, p) not in PUBLIC]
    assert unguarded == [], f"routes without RequireScope and not public: {unguarded}"


@pytest.fixture
def role_tokens(db: Database) -> dict[str, str]:
    tokens = {}
    for role in Role:
        user = make_user(db, role=role)
        tokens[role.value] = make_token(
            db, user_id=user, scopes=sorted(s.value for s in ROLE_SCOPES[role])
        )
    return tokens


def test_rbac_matrix(app: Any, client: TestClient, role_tokens: dict[str, str]) -> None:
    checked = 0
    for method, path, requirement in route_table(app):
        if requirement is None:
            continue
        url = _concrete(path)
        is_api = path.startswith("/api/")
        # anonymous: API says 401, pages send the browser to the login page
        response = client.request(method, url, follow_redirects=False, json={} if is_api else None)
        if is_api:
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["code"] == "unauthenticated"
        else:
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"].startswith("/login")
        for role, token in role_tokens.items():
            allowed = requirement.scope in ROLE_SCOPES[Role(role)]
            response = client.request(
                method,
                url,
                headers={"Authorization": f"Bearer {token}"},
                follow_redirects=False,
                json={} if is_api else None,
            )
            if allowed:
                assert response.status_code not in (401, 403), (method, path, role, response.text)
                assert response.status_code < 500, (method, path, role, response.text)
            else:
                assert response.status_code == 403, (method, path, role, response.status_code)
                if is_api:
                    assert response.json()["code"] == "missing_scope"
            checked += 1
    assert checked > 200
