"""HTTP routes of the signals room: batch ingest, webhooks, survey widget, series, quarantine."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from juncture.api.deps import (
    AdminActor,
    IngestActor,
    ReadActor,
    SessionDep,
    SettingsDep,
    WriteActor,
)
from juncture.kit.errors import Invalid, PayloadTooLarge, RateLimited
from juncture.kit.ratelimit import RateLimiter
from juncture.kit.schemas import Page
from juncture.signals import service
from juncture.signals.parse import parse_body
from juncture.signals.schemas import (
    IngestSummary,
    PointRead,
    QuarantineAction,
    QuarantinedRead,
    ReplayRead,
    SeriesInfo,
    SeriesRead,
    WidgetCreate,
    WidgetCreated,
    WidgetRead,
    WidgetResponse,
)
from juncture.signals.webhooks import alertmanager_records, helpdesk_records

router = APIRouter()


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes; split it into batches")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes; split it into batches")
        chunks.append(chunk)
    return b"".join(chunks)


def _ingest(session: Session, settings: Any, records: list[Any], source: str) -> IngestSummary:
    if len(records) > settings.ingest_max_records:
        raise PayloadTooLarge(
            f"{len(records)} records in one call; the limit is {settings.ingest_max_records}",
            code="too_many_records",
        )
    result = service.ingest(session, records=records, settings=settings, source=source)
    return IngestSummary.model_validate(result.as_dict())


@router.post(
    "/signals",
    response_model=IngestSummary,
    tags=["signals"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        }
    },
)
async def post_signals(
    request: Request, session: SessionDep, settings: SettingsDep, actor: IngestActor
) -> IngestSummary:
    """Ingest a JSON array or an NDJSON stream of signal records (schemas: docs/signals.md).

    Every record is accounted for: accepted, duplicate (its id, or content, was seen before) or
    quarantined with a reason code and its index.
    """
    body = await _read_body(request, settings.ingest_max_bytes)
    records = parse_body(body, request.headers.get("content-type", "application/json"))
    return await run_in_threadpool(_ingest, session, settings, records, f"api:{actor.label}")


@router.post("/webhooks/alertmanager", response_model=IngestSummary, tags=["signals"])
async def alertmanager(
    request: Request, session: SessionDep, settings: SettingsDep, actor: IngestActor
) -> IngestSummary:
    """Prometheus Alertmanager `webhook_config` receiver: alerts become `alert.*` metric points."""
    body = await _read_body(request, settings.ingest_max_bytes)
    (payload,) = parse_body(body, "application/json") or [None]
    return await run_in_threadpool(
        _ingest, session, settings, alertmanager_records(payload), "webhook:alertmanager"
    )


@router.post("/webhooks/helpdesk", response_model=IngestSummary, tags=["signals"])
async def helpdesk(
    request: Request, session: SessionDep, settings: SettingsDep, actor: IngestActor
) -> IngestSummary:
    """Generic help-desk ticket webhook (Zendesk, Freshdesk, Zammad triggers; docs/signals.md)."""
    body = await _read_body(request, settings.ingest_max_bytes)
    records = parse_body(body, "application/json")
    return await run_in_threadpool(
        _ingest, session, settings, helpdesk_records(records), "webhook:helpdesk"
    )


# ---------------------------------------------------------------- survey widget


_limiter = RateLimiter()


@router.post("/widget/responses", response_model=IngestSummary, tags=["signals"])
def widget_response(
    request: Request,
    data: WidgetResponse,
    session: SessionDep,
    settings: SettingsDep,
    x_survey_token: Annotated[str, Header(description="The widget's public token (jsw_...)")],
) -> IngestSummary:
    """Public endpoint for an embedded survey widget: authenticated by the widget's token."""
    widget = service.widget_for_token(session, token=x_survey_token)
    client = request.client.host if request.client else "?"
    if not _limiter.allow(f"{widget.prefix}:{client}", settings.widget_rate_per_minute):
        raise RateLimited("too many survey responses from this address; try again in a minute")
    from juncture.kit import clock

    record = {
        "type": "survey",
        "ts": clock.now().isoformat(),
        "kind": widget.kind,
        "score": data.score,
        "comment": data.comment,
        "customer_id": data.customer_id,
        "touchpoint": {"kind": widget.touchpoint_kind, "ref": data.ref or widget.touchpoint_ref},
        "region": data.region,
        "channel": data.channel,
    }
    if data.id:
        record["id"] = f"{widget.prefix}:{data.id}"
    return _ingest(session, settings, [record], f"widget:{widget.prefix}")


@router.get("/survey-widgets", response_model=list[WidgetRead], tags=["signals"])
def list_widgets(session: SessionDep, actor: ReadActor) -> object:
    return service.list_widgets(session)


@router.post("/survey-widgets", response_model=WidgetCreated, status_code=201, tags=["signals"])
def create_widget(data: WidgetCreate, session: SessionDep, actor: WriteActor) -> WidgetCreated:
    widget, token = service.create_widget(
        session,
        name=data.name,
        kind=data.kind,
        touchpoint_kind=data.touchpoint_kind,
        touchpoint_ref=data.touchpoint_ref,
    )
    return WidgetCreated.model_validate(
        {**WidgetRead.model_validate(widget).model_dump(), "token": token}
    )


@router.delete("/survey-widgets/{widget_id}", response_model=WidgetRead, tags=["signals"])
def deactivate_widget(widget_id: int, session: SessionDep, actor: WriteActor) -> object:
    return service.deactivate_widget(session, widget_id=widget_id)


# ---------------------------------------------------------------- series


@router.get("/series", response_model=SeriesRead, tags=["signals"])
def get_series(
    session: SessionDep,
    actor: ReadActor,
    type: Annotated[str, Query(description="metric, funnel, ticket, survey, review, deploy")],
    metric: Annotated[str, Query(description="e.g. latency_p95_ms, reached, ticket.created, nps")],
    start: Annotated[datetime, Query(alias="from")],
    end: Annotated[datetime, Query(alias="to")],
    subject: Annotated[
        str | None, Query(description="service slug, journey/step, team, touchpoint")
    ] = None,
    bucket: Annotated[str, Query(pattern="^(m|h|d|minute|hour|day)$")] = "h",
    group_by: str | None = None,
    region: str | None = None,
    channel: str | None = None,
    segment: str | None = None,
    quantiles: bool = True,
) -> SeriesRead:
    """Read any series from rollups only: buckets with count, sum, mean, min, max, p50/p95/p99."""
    if start.tzinfo is None or end.tzinfo is None:
        raise Invalid(
            "'from' and 'to' need a time zone, e.g. 2026-11-01T00:00:00Z", code="naive_time"
        )
    grain = bucket[0]
    filters = {
        k: v for k, v in (("region", region), ("channel", channel), ("segment", segment)) if v
    }
    groups = service.read_series(
        session,
        signal_type=type,
        metric=metric,
        subject=subject,
        grain=grain,
        start=start,
        end=end,
        group_by=group_by,
        filters=filters,
        quantiles=quantiles,
    )
    return SeriesRead(
        type=type,
        metric=metric,
        subject=subject,
        grain=grain,
        group_by=group_by,
        groups={k: [PointRead(**p.__dict__) for p in v] for k, v in groups.items()},
    )


@router.get("/series/catalog", response_model=list[SeriesInfo], tags=["signals"])
def series_catalog(session: SessionDep, actor: ReadActor, type: str | None = None) -> object:
    """Which series exist (what can be passed to GET /series)."""
    return service.list_series(session, signal_type=type)


# ---------------------------------------------------------------- quarantine


@router.get("/quarantine", response_model=Page[QuarantinedRead], tags=["signals"])
def list_quarantine(
    session: SessionDep,
    actor: AdminActor,
    reason: str | None = None,
    include_resolved: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[QuarantinedRead]:
    rows, total = service.list_quarantine(
        session, reason=reason, include_resolved=include_resolved, limit=limit, offset=offset
    )
    return Page[QuarantinedRead](
        items=[QuarantinedRead.model_validate(r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/quarantine/{item_id}", response_model=QuarantinedRead, tags=["signals"])
def get_quarantined(item_id: int, session: SessionDep, actor: AdminActor) -> object:
    return service.get_quarantined_or_raise(session, item_id=item_id)


@router.post("/quarantine/replay", response_model=ReplayRead, tags=["signals"])
def replay(
    data: QuarantineAction, session: SessionDep, settings: SettingsDep, actor: AdminActor
) -> ReplayRead:
    """Ingest quarantined records again (after fixing the catalog or a setting)."""
    result = service.replay(session, settings=settings, ids=data.ids, reason=data.reason)
    return ReplayRead(**result.__dict__)


@router.post("/quarantine/drop", tags=["signals"])
def drop(data: QuarantineAction, session: SessionDep, actor: AdminActor) -> dict[str, int]:
    """Close quarantined records without ingesting them (they stay listed as dropped)."""
    return {"dropped": service.drop(session, ids=data.ids, reason=data.reason)}
