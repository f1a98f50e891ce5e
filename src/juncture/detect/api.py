"""HTTP routes of the detect room: alert rules, alerts, silences, channels and on-call."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from juncture.api.deps import AdminActor, ReadActor, SessionDep, WriteActor
from juncture.detect import service
from juncture.detect.enums import Severity
from juncture.detect.schemas import (
    AlertAction,
    AlertDetail,
    AlertRead,
    AlertRuleCreate,
    AlertRuleRead,
    AlertRuleUpdate,
    ChainCreate,
    ChainRead,
    ChainUpdate,
    ChannelCreate,
    ChannelRead,
    ChannelUpdate,
    OnCallRead,
    PolicyCreate,
    PolicyRead,
    PolicyUpdate,
    RuleKind,
    ScheduleCreate,
    ScheduleRead,
    ScheduleUpdate,
    SilenceCreate,
    SilenceRead,
    SilenceUpdate,
)
from juncture.kit import clock
from juncture.kit.schemas import Page

router = APIRouter()
NO_CONTENT = status.HTTP_204_NO_CONTENT
NOTIFY: list[str | Enum] = ["notifications"]
StateFilter = Annotated[
    str | None,
    Query(pattern="^(open|firing|acknowledged|resolved)$", description="`open`: not resolved"),
]


# ---------------------------------------------------------------- alert rules


@router.get("/alert-rules", response_model=list[AlertRuleRead], tags=["alerts"])
def list_rules(
    session: SessionDep,
    actor: ReadActor,
    enabled: bool | None = None,
    owner_team_id: int | None = None,
    kind: RuleKind | None = None,
) -> object:
    rules = service.list_rules(session, enabled=enabled, owner_team_id=owner_team_id)
    return [r for r in rules if kind is None or r.kind == kind]


@router.post("/alert-rules", response_model=AlertRuleRead, status_code=201, tags=["alerts"])
def create_rule(data: AlertRuleCreate, session: SessionDep, actor: WriteActor) -> object:
    """Create a rule; `target` and `params` are checked against the rule's `kind`."""
    return service.create_rule(session, data=data)


@router.get("/alert-rules/{rule_id}", response_model=AlertRuleRead, tags=["alerts"])
def get_rule(rule_id: int, session: SessionDep, actor: ReadActor) -> object:
    return service.get_rule_or_raise(session, rule_id=rule_id)


@router.patch("/alert-rules/{rule_id}", response_model=AlertRuleRead, tags=["alerts"])
def update_rule(
    rule_id: int, data: AlertRuleUpdate, session: SessionDep, actor: WriteActor
) -> object:
    return service.update_rule(session, rule_id=rule_id, data=data)


@router.delete("/alert-rules/{rule_id}", status_code=NO_CONTENT, tags=["alerts"])
def delete_rule(rule_id: int, session: SessionDep, actor: WriteActor) -> Response:
    service.delete_rule(session, rule_id=rule_id)
    return Response(status_code=NO_CONTENT)


# ---------------------------------------------------------------- alerts


@router.get("/alerts", response_model=Page[AlertRead], tags=["alerts"])
def list_alerts(
    session: SessionDep,
    actor: ReadActor,
    state: StateFilter = None,
    severity: Severity | None = None,
    service_slug: Annotated[str | None, Query(alias="service")] = None,
    journey: str | None = None,
    customer_facing: bool | None = None,
    rule_id: int | None = None,
    group_key: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[AlertRead]:
    """Alerts, newest first."""
    rows, total = service.list_alerts(
        session,
        state=state,
        severity=severity.value if severity else None,
        service=service_slug,
        journey=journey,
        customer_facing=customer_facing,
        rule_id=rule_id,
        group_key=group_key,
        limit=limit,
        offset=offset,
    )
    return Page[AlertRead](
        items=[AlertRead.model_validate(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/alerts/{alert_id}", response_model=AlertDetail, tags=["alerts"])
def get_alert(alert_id: int, session: SessionDep, actor: ReadActor) -> Any:
    """One alert with its evidence, its history (oldest first) and its deliveries."""
    return service.alert_detail(service.get_alert_with_history(session, alert_id=alert_id))


def _action_note(data: AlertAction | None) -> str:
    return data.note if data is not None else ""


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertRead, tags=["alerts"])
def acknowledge_alert(
    alert_id: int, session: SessionDep, actor: WriteActor, data: AlertAction | None = None
) -> object:
    """Take a firing alert (409 `already_acknowledged` / `alert_resolved` otherwise)."""
    return service.acknowledge(session, alert_id=alert_id, note=_action_note(data))


@router.post("/alerts/{alert_id}/unacknowledge", response_model=AlertRead, tags=["alerts"])
def unacknowledge_alert(
    alert_id: int, session: SessionDep, actor: WriteActor, data: AlertAction | None = None
) -> object:
    """Hand an acknowledged alert back (409 `not_acknowledged` / `alert_resolved`)."""
    return service.unacknowledge(session, alert_id=alert_id, note=_action_note(data))


@router.post("/alerts/{alert_id}/resolve", response_model=AlertRead, tags=["alerts"])
def resolve_alert(
    alert_id: int, session: SessionDep, actor: WriteActor, data: AlertAction | None = None
) -> object:
    """Close an alert (409 `already_resolved`)."""
    return service.resolve(session, alert_id=alert_id, note=_action_note(data))


# ---------------------------------------------------------------- silences


@router.get("/silences", response_model=list[SilenceRead], tags=["alerts"])
def list_silences(
    session: SessionDep,
    actor: ReadActor,
    active: Annotated[bool, Query(description="Only silences in force now")] = False,
) -> object:
    return service.list_silences(session, active_at=clock.now() if active else None)


@router.post("/silences", response_model=SilenceRead, status_code=201, tags=["alerts"])
def create_silence(data: SilenceCreate, session: SessionDep, actor: WriteActor) -> object:
    return service.create_silence(session, data=data)


@router.get("/silences/{silence_id}", response_model=SilenceRead, tags=["alerts"])
def get_silence(silence_id: int, session: SessionDep, actor: ReadActor) -> object:
    return service.get_silence_or_raise(session, silence_id=silence_id)


@router.patch("/silences/{silence_id}", response_model=SilenceRead, tags=["alerts"])
def update_silence(
    silence_id: int, data: SilenceUpdate, session: SessionDep, actor: WriteActor
) -> object:
    return service.update_silence(session, silence_id=silence_id, data=data)


@router.delete("/silences/{silence_id}", status_code=NO_CONTENT, tags=["alerts"])
def delete_silence(silence_id: int, session: SessionDep, actor: WriteActor) -> Response:
    service.delete_silence(session, silence_id=silence_id)
    return Response(status_code=NO_CONTENT)


# ---------------------------------------------------------------- channels


@router.get("/notification-channels", response_model=list[ChannelRead], tags=NOTIFY)
def list_channels(session: SessionDep, actor: ReadActor) -> list[ChannelRead]:
    """Notification channels; secrets and webhook URL paths are masked."""
    return [service.channel_read(c) for c in service.list_channels(session)]


@router.post("/notification-channels", response_model=ChannelRead, status_code=201, tags=NOTIFY)
def create_channel(data: ChannelCreate, session: SessionDep, actor: AdminActor) -> ChannelRead:
    return service.channel_read(service.create_channel(session, data=data))


@router.get("/notification-channels/{channel_id}", response_model=ChannelRead, tags=NOTIFY)
def get_channel(channel_id: int, session: SessionDep, actor: ReadActor) -> ChannelRead:
    return service.channel_read(service.get_channel_or_raise(session, channel_id=channel_id))


@router.patch("/notification-channels/{channel_id}", response_model=ChannelRead, tags=NOTIFY)
def update_channel(
    channel_id: int, data: ChannelUpdate, session: SessionDep, actor: AdminActor
) -> ChannelRead:
    return service.channel_read(service.update_channel(session, channel_id=channel_id, data=data))


@router.delete("/notification-channels/{channel_id}", status_code=NO_CONTENT, tags=NOTIFY)
def delete_channel(channel_id: int, session: SessionDep, actor: AdminActor) -> Response:
    service.delete_channel(session, channel_id=channel_id)
    return Response(status_code=NO_CONTENT)


# ---------------------------------------------------------------- schedules


@router.get("/schedules", response_model=list[ScheduleRead], tags=["on-call"])
def list_schedules(session: SessionDep, actor: ReadActor) -> object:
    return service.list_schedules(session)


@router.post("/schedules", response_model=ScheduleRead, status_code=201, tags=["on-call"])
def create_schedule(data: ScheduleCreate, session: SessionDep, actor: WriteActor) -> object:
    return service.create_schedule(session, data=data)


@router.get("/schedules/{schedule_id}", response_model=ScheduleRead, tags=["on-call"])
def get_schedule(schedule_id: int, session: SessionDep, actor: ReadActor) -> object:
    return service.get_schedule_or_raise(session, schedule_id=schedule_id)


@router.patch("/schedules/{schedule_id}", response_model=ScheduleRead, tags=["on-call"])
def update_schedule(
    schedule_id: int, data: ScheduleUpdate, session: SessionDep, actor: WriteActor
) -> object:
    return service.update_schedule(session, schedule_id=schedule_id, data=data)


@router.delete("/schedules/{schedule_id}", status_code=NO_CONTENT, tags=["on-call"])
def delete_schedule(schedule_id: int, session: SessionDep, actor: WriteActor) -> Response:
    service.delete_schedule(session, schedule_id=schedule_id)
    return Response(status_code=NO_CONTENT)


@router.get("/schedules/{schedule_id}/on-call", response_model=OnCallRead, tags=["on-call"])
def on_call(
    schedule_id: int,
    session: SessionDep,
    actor: ReadActor,
    at: Annotated[datetime | None, Query(description="Default now; naive times are UTC")] = None,
) -> OnCallRead:
    """Who is on call at `at` (`user` is null when nobody is)."""
    when = clock.ensure_utc(at) if at is not None else clock.now()
    row = service.get_schedule_or_raise(session, schedule_id=schedule_id)
    user = service.who_is_on_call(session, schedule_id=schedule_id, at=when)
    return OnCallRead(schedule_id=row.id, schedule=row.name, at=when, user=user)


# ---------------------------------------------------------------- escalation policies


@router.get("/escalation-policies", response_model=list[PolicyRead], tags=["on-call"])
def list_policies(session: SessionDep, actor: ReadActor) -> object:
    return service.list_policies(session)


@router.post("/escalation-policies", response_model=PolicyRead, status_code=201, tags=["on-call"])
def create_policy(data: PolicyCreate, session: SessionDep, actor: WriteActor) -> object:
    return service.create_policy(session, data=data)


@router.get("/escalation-policies/{policy_id}", response_model=PolicyRead, tags=["on-call"])
def get_policy(policy_id: int, session: SessionDep, actor: ReadActor) -> object:
    return service.get_policy_or_raise(session, policy_id=policy_id)


@router.patch("/escalation-policies/{policy_id}", response_model=PolicyRead, tags=["on-call"])
def update_policy(
    policy_id: int, data: PolicyUpdate, session: SessionDep, actor: WriteActor
) -> object:
    return service.update_policy(session, policy_id=policy_id, data=data)


@router.delete("/escalation-policies/{policy_id}", status_code=NO_CONTENT, tags=["on-call"])
def delete_policy(policy_id: int, session: SessionDep, actor: WriteActor) -> Response:
    service.delete_policy(session, policy_id=policy_id)
    return Response(status_code=NO_CONTENT)


# ---------------------------------------------------------------- notification chains


@router.get("/notification-chains", response_model=list[ChainRead], tags=["on-call"])
def list_chains(session: SessionDep, actor: ReadActor) -> object:
    """Chains in evaluation order (position, then id)."""
    return service.list_chains(session)


@router.post("/notification-chains", response_model=ChainRead, status_code=201, tags=["on-call"])
def create_chain(data: ChainCreate, session: SessionDep, actor: WriteActor) -> object:
    return service.create_chain(session, data=data)


@router.get("/notification-chains/{chain_id}", response_model=ChainRead, tags=["on-call"])
def get_chain(chain_id: int, session: SessionDep, actor: ReadActor) -> object:
    return service.get_chain_or_raise(session, chain_id=chain_id)


@router.patch("/notification-chains/{chain_id}", response_model=ChainRead, tags=["on-call"])
def update_chain(
    chain_id: int, data: ChainUpdate, session: SessionDep, actor: WriteActor
) -> object:
    return service.update_chain(session, chain_id=chain_id, data=data)


@router.delete("/notification-chains/{chain_id}", status_code=NO_CONTENT, tags=["on-call"])
def delete_chain(chain_id: int, session: SessionDep, actor: WriteActor) -> Response:
    service.delete_chain(session, chain_id=chain_id)
    return Response(status_code=NO_CONTENT)
