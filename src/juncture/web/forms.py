"""Turning HTML form posts into the rooms' Pydantic inputs, with readable errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from juncture.kit.errors import Invalid, JunctureError

M = TypeVar("M", bound=BaseModel)


def attempt(
    session: Session,
    action: Callable[[], Any],
    success_url: str,
    on_error: Callable[[JunctureError], Response],
) -> Response:
    """Run a form's action in a savepoint: redirect (303) on success; on an expected error,
    undo only the action's writes and re-render the page with the message."""
    try:
        with session.begin_nested():
            action()
    except JunctureError as exc:
        return on_error(exc)
    return RedirectResponse(success_url, status_code=303)


def parse(model: type[M], data: dict[str, Any]) -> M:
    """Validate ``data`` into ``model``; a ValidationError becomes one readable ``Invalid``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err.get("loc", ())) or "form"
            parts.append(f"{field}: {err.get('msg', 'invalid')}")
        raise Invalid("; ".join(parts), code="validation_error") from exc


def slugify(value: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", value.strip().lower()).strip("-")
    return slug[:63] or "step"


def parse_steps(text: str, service_ids_by_slug: dict[str, int]) -> list[dict[str, Any]]:
    """Parse the journey-steps textarea: one step per line, ``Step name: svc-a, svc-b``."""
    steps: list[dict[str, Any]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        name, _, services = line.partition(":")
        slugs = [s.strip() for s in services.split(",") if s.strip()]
        unknown = [s for s in slugs if s not in service_ids_by_slug]
        if unknown:
            raise Invalid(
                f"line {number}: unknown service(s) {', '.join(unknown)}", code="unknown_service"
            )
        steps.append(
            {
                "slug": slugify(name),
                "name": name.strip(),
                "service_ids": [service_ids_by_slug[s] for s in slugs],
            }
        )
    if not steps:
        raise Invalid("a journey needs at least one step", code="validation_error")
    return steps


def steps_text(steps: list[Any], slug_by_id: dict[int, str]) -> str:
    lines = []
    for step in steps:
        services = ", ".join(slug_by_id[sid] for sid in step.service_ids if sid in slug_by_id)
        lines.append(f"{step.name}: {services}" if services else step.name)
    return "\n".join(lines)


def checkbox(value: Any) -> bool:
    return value in ("on", "true", "1", True)
