"""Roles and scopes, and which scopes each role may hold."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    """What a person does in juncture; decides which scopes they may use."""

    admin = "admin"
    ops = "ops"
    cx = "cx"
    viewer = "viewer"


class Scope(enum.StrEnum):
    """What a credential (web session or API token) allows."""

    read = "read"
    write = "write"
    ingest = "ingest"
    admin = "admin"


ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.viewer: frozenset({Scope.read}),
    Role.cx: frozenset({Scope.read, Scope.write, Scope.ingest}),
    Role.ops: frozenset({Scope.read, Scope.write, Scope.ingest}),
    Role.admin: frozenset({Scope.read, Scope.write, Scope.ingest, Scope.admin}),
}

SCOPE_HELP: dict[Scope, str] = {
    Scope.read: "Read dashboards, objects and series.",
    Scope.write: "Create and change work objects and the shared vocabulary.",
    Scope.ingest: "Push signals (events, webhooks, imports).",
    Scope.admin: "Manage users, tokens, retention; read the audit log and job runs.",
}
