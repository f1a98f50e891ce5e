"""HTTP routes of incident communications, the public status page and post-mortems.

The status routes (``/status``, ``/status/banner``, ``/status/subscriptions``) are public:
no token, rate limited per client address.
"""

from __future__ import annotations

import hashlib
import json
from enum import Enum
from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.encoders import jsonable_encoder
from sqlalchemy.orm import Session

from juncture.api.deps import ReadActor, SessionDep, SettingsDep, WriteActor
from juncture.incidents import comms, postmortems
from juncture.incidents import status as status_page
from juncture.incidents.comms_schemas import (
    ActionCreate,
    ActionRead,
    ActionUpdate,
    BannerRead,
    ComponentRead,
    DayStatus,
    FactorCreate,
    FactorRead,
    MacroRead,
    PostmortemRead,
    PostmortemSummary,
    PostmortemUpdate,
    PublicIncidentRead,
    StatusPageRead,
    SubscriptionCreate,
    SubscriptionCreated,
    TemplateCreate,
    TemplateRead,
    TemplateUpdate,
    UpdateDraft,
    UpdateRead,
    UpdateReview,
)
from juncture.kit.errors import RateLimited
from juncture.kit.ratelimit import RateLimiter

router = APIRouter()
NO_CONTENT = status.HTTP_204_NO_CONTENT
COMMS: list[str | Enum] = ["incident communications"]
STATUS: list[str | Enum] = ["status page"]
PMS: list[str | Enum] = ["post-mortems"]


_limiter = RateLimiter()
#: Public status reads per client address per minute (the banner is cached for 30 s anyway).
PUBLIC_READS_PER_MINUTE = 120


def _limit(request: Request, bucket: str, per_minute: int) -> None:
    client = request.client.host if request.client else "?"
    if not _limiter.allow(f"{bucket}:{client}", per_minute):
        raise RateLimited("too many requests from this address; try again in a minute")


# ---------------------------------------------------------------- templates


@router.get("/comm-templates", response_model=list[TemplateRead], tags=COMMS)
def list_templates(
    session: SessionDep, actor: ReadActor, phase: str | None = None, audience: str | None = None
) -> object:
    return comms.list_templates(session, phase=phase, audience=audience)


@router.post("/comm-templates", response_model=TemplateRead, status_code=201, tags=COMMS)
def create_template(data: TemplateCreate, session: SessionDep, actor: WriteActor) -> object:
    """Create a template; its Jinja syntax is checked (`template_error`)."""
    return comms.create_template(session, **data.model_dump(mode="json"))


@router.get("/comm-templates/{template_id}", response_model=TemplateRead, tags=COMMS)
def get_template(template_id: int, session: SessionDep, actor: ReadActor) -> object:
    return comms.get_template_or_raise(session, template_id=template_id)


@router.patch("/comm-templates/{template_id}", response_model=TemplateRead, tags=COMMS)
def update_template(
    template_id: int, data: TemplateUpdate, session: SessionDep, actor: WriteActor
) -> object:
    changes = data.model_dump(mode="json", exclude_unset=True)
    return comms.update_template(session, template_id=template_id, **changes)


@router.delete("/comm-templates/{template_id}", status_code=NO_CONTENT, tags=COMMS)
def delete_template(template_id: int, session: SessionDep, actor: WriteActor) -> Response:
    comms.delete_template(session, template_id=template_id)
    return Response(status_code=NO_CONTENT)


# ---------------------------------------------------------------- updates


@router.get("/incidents/{incident_id}/updates", response_model=list[UpdateRead], tags=COMMS)
def list_updates(
    incident_id: int, session: SessionDep, actor: ReadActor, audience: str | None = None
) -> object:
    return comms.list_updates(session, incident_id=incident_id, audience=audience)


@router.post(
    "/incidents/{incident_id}/updates", response_model=UpdateRead, status_code=201, tags=COMMS
)
def draft_update(
    incident_id: int, data: UpdateDraft, session: SessionDep, actor: WriteActor
) -> object:
    """Draft an update; without a body the template of the incident's phase is rendered."""
    return comms.draft_update(session, incident_id=incident_id, **data.model_dump(mode="json"))


@router.post("/incident-updates/{update_id}/submit", response_model=UpdateRead, tags=COMMS)
def submit_update(update_id: int, session: SessionDep, actor: WriteActor) -> object:
    return comms.submit_update(session, update_id=update_id)


@router.post("/incident-updates/{update_id}/review", response_model=UpdateRead, tags=COMMS)
def review_update(
    update_id: int, data: UpdateReview, session: SessionDep, actor: WriteActor
) -> object:
    """Approve or reject; the reviewer may not be the author (`self_review`)."""
    return comms.review_update(
        session, update_id=update_id, approve=data.approve, comment=data.comment
    )


@router.post("/incident-updates/{update_id}/publish", response_model=UpdateRead, tags=COMMS)
def publish_update(update_id: int, session: SessionDep, actor: WriteActor) -> object:
    """Publish; a customer update must be approved first (`review_required`)."""
    return comms.publish_update(session, update_id=update_id)


@router.get("/incidents/{incident_id}/macro", response_model=MacroRead, tags=COMMS)
def macro(incident_id: int, session: SessionDep, actor: ReadActor) -> object:
    """The ready answer agents paste into tickets about the incident."""
    return comms.frontline_macro(session, incident_id=incident_id)


# ---------------------------------------------------------------- public status


def page_model(page: status_page.StatusPage) -> StatusPageRead:
    """Convert :class:`StatusPage` data into its API model."""

    def component(c: status_page.Component) -> ComponentRead:
        history = [DayStatus(day=d, status=s) for d, s in c.history]
        return ComponentRead(slug=c.slug, name=c.name, status=c.status, history=history)

    return StatusPageRead(
        generated_at=page.generated_at,
        status=page.status,
        days=page.days,
        services=[component(c) for c in page.services],
        regions=[component(c) for c in page.regions],
        open_incidents=[PublicIncidentRead.model_validate(i) for i in page.open_incidents],
        past_incidents=[PublicIncidentRead.model_validate(i) for i in page.past_incidents],
    )


@router.get("/status", response_model=StatusPageRead, tags=STATUS)
def public_status(request: Request, session: SessionDep, days: int = 90) -> StatusPageRead:
    """Public: the status page (only published customer updates)."""
    _limit(request, "status", PUBLIC_READS_PER_MINUTE)
    return page_model(status_page.status_page(session, days=max(1, min(days, 90))))


@router.get("/status/banner", response_model=BannerRead, tags=STATUS)
def public_banner(
    request: Request,
    session: SessionDep,
    service: str | None = None,
    region: str | None = None,
) -> Response:
    """Public: the incident banner for products to poll (cached 30 s, with an ETag)."""
    _limit(request, "banner", PUBLIC_READS_PER_MINUTE)
    data = status_page.banner(session, service=service, region=region)
    body = json.dumps(jsonable_encoder(BannerRead(**data)), separators=(",", ":")).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"Cache-Control": "public, max-age=30", "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)


@router.post(
    "/status/subscriptions", response_model=SubscriptionCreated, status_code=201, tags=STATUS
)
def public_subscribe(
    request: Request, data: SubscriptionCreate, session: SessionDep, settings: SettingsDep
) -> SubscriptionCreated:
    """Public: subscribe an e-mail address or a webhook to published updates."""
    _limit(request, "subscribe", settings.widget_rate_per_minute)
    sub = status_page.subscribe(
        session,
        kind=data.kind,
        target=data.target,
        services=data.services,
        regions=data.regions,
        allow_private=settings.status_webhook_allow_private,
        replace=False,
        confirm=True,
    )
    return SubscriptionCreated(
        kind=sub.kind,
        target=sub.target,
        services=sub.services,
        regions=sub.regions,
        token=sub.token if sub.kind == "webhook" else None,
        confirmed=sub.confirmed_at is not None,
    )


@router.post(
    "/status/subscriptions/{token}/confirm", response_model=SubscriptionCreated, tags=STATUS
)
def public_confirm(
    request: Request, token: str, session: SessionDep, settings: SettingsDep
) -> SubscriptionCreated:
    """Public: confirm an e-mail subscription with the token from the confirmation link."""
    _limit(request, "subscribe", settings.widget_rate_per_minute)
    sub = status_page.confirm_subscription(session, token=token)
    return SubscriptionCreated(
        kind=sub.kind,
        target=sub.target,
        services=sub.services,
        regions=sub.regions,
        token=None,
        confirmed=True,
    )


@router.delete("/status/subscriptions/{token}", status_code=NO_CONTENT, tags=STATUS)
def public_unsubscribe(
    request: Request, token: str, session: SessionDep, settings: SettingsDep
) -> Response:
    """Public: unsubscribe with the token given at subscription."""
    _limit(request, "subscribe", settings.widget_rate_per_minute)
    status_page.unsubscribe(session, token=token)
    return Response(status_code=NO_CONTENT)


# ---------------------------------------------------------------- post-mortems


def postmortem_read(session: Session, postmortem_id: int) -> PostmortemRead:
    """A post-mortem with its factors and action items."""
    pm = postmortems.get_postmortem_or_raise(session, postmortem_id=postmortem_id)
    data: dict[str, Any] = PostmortemRead.model_validate(pm).model_dump()
    data["factors"] = [
        FactorRead.model_validate(f) for f in postmortems.list_factors(session, postmortem_id=pm.id)
    ]
    data["actions"] = [
        ActionRead.model_validate(a) for a in postmortems.list_actions(session, postmortem_id=pm.id)
    ]
    return PostmortemRead.model_validate(data)


@router.get("/postmortems", response_model=list[PostmortemSummary], tags=PMS)
def list_postmortems(session: SessionDep, actor: ReadActor, state: str | None = None) -> object:
    return postmortems.list_postmortems(session, state=state)


@router.post(
    "/incidents/{incident_id}/postmortem", response_model=PostmortemRead, status_code=201, tags=PMS
)
def create_postmortem(incident_id: int, session: SessionDep, actor: WriteActor) -> PostmortemRead:
    """Open the draft of a resolved incident, filled with its facts."""
    pm = postmortems.create_postmortem(session, incident_id=incident_id)
    return postmortem_read(session, pm.id)


@router.get("/postmortems/{postmortem_id}.md", tags=PMS)
def postmortem_markdown(postmortem_id: int, session: SessionDep, actor: ReadActor) -> Response:
    text = postmortems.postmortem_markdown(session, postmortem_id=postmortem_id)
    return Response(content=text, media_type="text/markdown; charset=utf-8")


@router.get("/postmortems/{postmortem_id}", response_model=PostmortemRead, tags=PMS)
def get_postmortem(postmortem_id: int, session: SessionDep, actor: ReadActor) -> PostmortemRead:
    return postmortem_read(session, postmortem_id)


@router.patch("/postmortems/{postmortem_id}", response_model=PostmortemRead, tags=PMS)
def update_postmortem(
    postmortem_id: int, data: PostmortemUpdate, session: SessionDep, actor: WriteActor
) -> PostmortemRead:
    postmortems.update_postmortem(
        session, postmortem_id=postmortem_id, **data.model_dump(exclude_unset=True)
    )
    return postmortem_read(session, postmortem_id)


@router.post("/postmortems/{postmortem_id}/refresh", response_model=PostmortemRead, tags=PMS)
def refresh_postmortem(
    postmortem_id: int, session: SessionDep, actor: WriteActor
) -> PostmortemRead:
    postmortems.refresh_facts(session, postmortem_id=postmortem_id)
    return postmortem_read(session, postmortem_id)


@router.post(
    "/postmortems/{postmortem_id}/factors", response_model=FactorRead, status_code=201, tags=PMS
)
def add_factor(
    postmortem_id: int, data: FactorCreate, session: SessionDep, actor: WriteActor
) -> object:
    """Add a factor; `category` must be an active root-cause code (`unknown_root_cause`)."""
    return postmortems.add_factor(session, postmortem_id=postmortem_id, **data.model_dump())


@router.delete("/postmortems/{postmortem_id}/factors/{factor_id}", status_code=NO_CONTENT, tags=PMS)
def remove_factor(
    postmortem_id: int, factor_id: int, session: SessionDep, actor: WriteActor
) -> Response:
    postmortems.remove_factor(session, postmortem_id=postmortem_id, factor_id=factor_id)
    return Response(status_code=NO_CONTENT)


@router.post(
    "/postmortems/{postmortem_id}/actions", response_model=ActionRead, status_code=201, tags=PMS
)
def add_action(
    postmortem_id: int, data: ActionCreate, session: SessionDep, actor: WriteActor
) -> object:
    return postmortems.add_action(session, postmortem_id=postmortem_id, **data.model_dump())


@router.patch("/postmortem-actions/{action_id}", response_model=ActionRead, tags=PMS)
def update_action(
    action_id: int, data: ActionUpdate, session: SessionDep, actor: WriteActor
) -> object:
    return postmortems.update_action(
        session, action_id=action_id, **data.model_dump(exclude_unset=True)
    )


@router.post("/postmortems/{postmortem_id}/submit", response_model=PostmortemRead, tags=PMS)
def submit_postmortem(postmortem_id: int, session: SessionDep, actor: WriteActor) -> PostmortemRead:
    """Send to review; `postmortem_incomplete` lists what is missing."""
    postmortems.submit_postmortem(session, postmortem_id=postmortem_id)
    return postmortem_read(session, postmortem_id)


@router.post("/postmortems/{postmortem_id}/publish", response_model=PostmortemRead, tags=PMS)
def publish_postmortem(
    postmortem_id: int, session: SessionDep, actor: WriteActor
) -> PostmortemRead:
    """Publish and mark the incident reviewed."""
    postmortems.publish_postmortem(session, postmortem_id=postmortem_id)
    return postmortem_read(session, postmortem_id)
