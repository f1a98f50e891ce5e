"""The one error hierarchy: rooms raise these, the edges render them with a stable code."""

from __future__ import annotations

from typing import Any


class JunctureError(Exception):
    """Base of every expected failure; carries an HTTP status and a stable machine code."""

    status_code: int = 400
    code: str = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "detail": self.detail}
        body.update(self.extra)
        return body


class Invalid(JunctureError):
    """The input is well-formed but not acceptable."""

    status_code = 422
    code = "invalid"


class NotFound(JunctureError):
    """The named object does not exist (or is not visible to the caller)."""

    status_code = 404
    code = "not_found"


class Conflict(JunctureError):
    """The request collides with the current state (duplicate name, stale version...)."""

    status_code = 409
    code = "conflict"


class Unauthenticated(JunctureError):
    """No valid credentials were presented."""

    status_code = 401
    code = "unauthenticated"


class Forbidden(JunctureError):
    """Credentials are valid but do not allow this action."""

    status_code = 403
    code = "forbidden"


class RateLimited(JunctureError):
    """Too many attempts in a short time."""

    status_code = 429
    code = "rate_limited"


class PayloadTooLarge(JunctureError):
    """The request body exceeds a documented bound."""

    status_code = 413
    code = "payload_too_large"


class SchemaOutdated(JunctureError):
    """The database schema is behind the code."""

    status_code = 503
    code = "schema_outdated"
