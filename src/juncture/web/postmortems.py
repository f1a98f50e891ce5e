"""Post-mortem pages: the list and one post-mortem (readable by everyone logged in; editing
forms for people with the write scope). They call ``juncture.incidents.postmortems``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from juncture.api.deps import PageReader, PageWriter, SessionDep
from juncture.incidents import postmortems as service
from juncture.incidents import service as incidents
from juncture.incidents.enums import PostmortemState
from juncture.kit.errors import Invalid, JunctureError
from juncture.web.forms import attempt, checkbox
from juncture.web.render import render

router = APIRouter(include_in_schema=False)
FormStr = Annotated[str, Form()]
OptFormStr = Annotated[str | None, Form()]
STATES = tuple(s.value for s in PostmortemState)


#: Flash messages by the ``done`` a form redirects with (never echo the query string).
DONE = {
    d: d
    for d in (
        "saved",
        "factor added",
        "factor removed",
        "action added",
        "action updated",
        "submitted for review",
        "published",
    )
}


def _detail(
    request: Request,
    session: Session,
    postmortem_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    pm = service.get_postmortem_or_raise(session, postmortem_id=postmortem_id)
    ctx = {
        "pm": pm,
        "factors": service.list_factors(session, postmortem_id=pm.id),
        "actions": service.list_actions(session, postmortem_id=pm.id),
        "categories": incidents.list_root_causes(session, active_only=True),
        "missing": service.missing_for_review(session, pm),
        "editable": pm.state in ("draft", "in_review"),
        "flash": DONE.get(request.query_params.get("done", "")),
        "form_error": error,
    }
    return render(request, "postmortem.html", ctx, status_code=status_code)


def _act(
    request: Request, session: Session, postmortem_id: int, done: str, action: Callable[[], object]
) -> Response:
    """Run ``action()``; an expected error re-renders the page with the message."""
    return attempt(
        session,
        action,
        f"/postmortems/{postmortem_id}?done={done}",
        lambda exc: _detail(
            request, session, postmortem_id, error=exc.detail, status_code=exc.status_code
        ),
    )


@router.get("/postmortems")
def postmortems_page(
    request: Request, session: SessionDep, actor: PageReader, state: str = ""
) -> Response:
    state = state if state in STATES else ""
    rows = service.list_postmortems(session, state=state or None)
    return render(
        request, "postmortems.html", {"postmortems": rows, "state": state, "states": STATES}
    )


@router.post("/postmortems/new")
def postmortem_new(
    request: Request, session: SessionDep, actor: PageWriter, incident_id: Annotated[int, Form()]
) -> Response:
    try:
        pm = service.create_postmortem(session, incident_id=incident_id)
    except JunctureError as exc:
        rows = service.list_postmortems(session)
        ctx = {"postmortems": rows, "state": "", "states": STATES, "form_error": exc.detail}
        return render(request, "postmortems.html", ctx, status_code=exc.status_code)
    return RedirectResponse(f"/postmortems/{pm.id}", status_code=303)


@router.get("/postmortems/{postmortem_id}")
def postmortem_page(
    request: Request, postmortem_id: int, session: SessionDep, actor: PageReader
) -> Response:
    return _detail(request, session, postmortem_id)


@router.post("/postmortems/{postmortem_id}/sections")
def postmortem_sections(
    request: Request,
    postmortem_id: int,
    session: SessionDep,
    actor: PageWriter,
    summary: Annotated[str, Form()] = "",
    customer_experience: Annotated[str, Form()] = "",
    customer_experience_by: Annotated[str, Form()] = "",
    what_went_well: Annotated[str, Form()] = "",
    what_went_wrong: Annotated[str, Form()] = "",
    lessons: Annotated[str, Form()] = "",
    authors: Annotated[str, Form()] = "",
    reviewers: Annotated[str, Form()] = "",
) -> Response:
    return _act(
        request,
        session,
        postmortem_id,
        "saved",
        lambda: service.update_postmortem(
            session,
            postmortem_id=postmortem_id,
            summary=summary,
            customer_experience=customer_experience,
            customer_experience_by=customer_experience_by or None,
            what_went_well=what_went_well,
            what_went_wrong=what_went_wrong,
            lessons=lessons,
            authors=[a for a in authors.split(",") if a.strip()],
            reviewers=[r for r in reviewers.split(",") if r.strip()],
        ),
    )


@router.post("/postmortems/{postmortem_id}/factors")
def postmortem_add_factor(
    request: Request,
    postmortem_id: int,
    session: SessionDep,
    actor: PageWriter,
    category: FormStr,
    description: FormStr,
    primary: OptFormStr = None,
) -> Response:
    return _act(
        request,
        session,
        postmortem_id,
        "factor added",
        lambda: service.add_factor(
            session,
            postmortem_id=postmortem_id,
            category=category,
            description=description,
            primary=checkbox(primary),
        ),
    )


@router.post("/postmortems/{postmortem_id}/factors/{factor_id}/delete")
def postmortem_remove_factor(
    request: Request, postmortem_id: int, factor_id: int, session: SessionDep, actor: PageWriter
) -> Response:
    return _act(
        request,
        session,
        postmortem_id,
        "factor removed",
        lambda: service.remove_factor(session, postmortem_id=postmortem_id, factor_id=factor_id),
    )


@router.post("/postmortems/{postmortem_id}/actions")
def postmortem_add_action(
    request: Request,
    postmortem_id: int,
    session: SessionDep,
    actor: PageWriter,
    title: FormStr,
    owner: FormStr,
    kind: Annotated[str, Form()] = "fix",
    due_on: Annotated[str, Form()] = "",
) -> Response:
    def add() -> None:
        try:
            due = date.fromisoformat(due_on) if due_on else None
        except ValueError as exc:
            raise Invalid("due date must be YYYY-MM-DD", code="validation_error") from exc
        service.add_action(
            session, postmortem_id=postmortem_id, title=title, owner=owner, kind=kind, due_on=due
        )

    return _act(request, session, postmortem_id, "action added", add)


@router.post("/postmortems/{postmortem_id}/actions/{action_id}/status")
def postmortem_action_status(
    request: Request,
    postmortem_id: int,
    action_id: int,
    session: SessionDep,
    actor: PageWriter,
    status: FormStr,
) -> Response:
    return _act(
        request,
        session,
        postmortem_id,
        "action updated",
        lambda: service.update_action(session, action_id=action_id, status=status),
    )


@router.post("/postmortems/{postmortem_id}/submit")
def postmortem_submit(
    request: Request, postmortem_id: int, session: SessionDep, actor: PageWriter
) -> Response:
    return _act(
        request,
        session,
        postmortem_id,
        "submitted for review",
        lambda: service.submit_postmortem(session, postmortem_id=postmortem_id),
    )


@router.post("/postmortems/{postmortem_id}/publish")
def postmortem_publish(
    request: Request, postmortem_id: int, session: SessionDep, actor: PageWriter
) -> Response:
    return _act(
        request,
        session,
        postmortem_id,
        "published",
        lambda: service.publish_postmortem(session, postmortem_id=postmortem_id),
    )
