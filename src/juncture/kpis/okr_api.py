"""HTTP routes of OKRs: objectives, key results, check-ins and the CSV export."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from juncture.api.deps import ReadActor, SessionDep, WriteActor
from juncture.kit.schemas import Page
from juncture.kpis import okrs
from juncture.kpis.okr_schemas import (
    CheckinCreate,
    CheckinRead,
    KeyResultCreate,
    KeyResultRead,
    KeyResultUpdate,
    ObjectiveCreate,
    ObjectiveRead,
    ObjectiveStatus,
    ObjectiveUpdate,
)

router = APIRouter()
NO_CONTENT = status.HTTP_204_NO_CONTENT

#: Columns of ``GET /okrs.csv``: one row per key result.
CSV_COLUMNS = (
    "objective_id",
    "objective_title",
    "objective_status",
    "ops_team_id",
    "cx_team_id",
    "period_start",
    "period_end",
    "key_result_id",
    "title",
    "kind",
    "kpi",
    "filters",
    "unit",
    "direction",
    "baseline",
    "target",
    "deadline",
    "current",
    "current_at",
    "progress",
    "status",
    "status_basis",
    "on_track",
    "projection",
    "projection_low",
    "projection_high",
    "checkins",
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # shortest exact round-trip: parses back to the JSON's number
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def okrs_csv(objectives: Sequence[ObjectiveRead]) -> str:
    """Every key result of ``objectives`` with its progress, as CSV text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for obj in objectives:
        for kr in obj.key_results:
            row = kr.model_dump() | {
                "objective_id": obj.id,
                "objective_title": obj.title,
                "objective_status": obj.status,
                "ops_team_id": obj.ops_team_id,
                "cx_team_id": obj.cx_team_id,
                "period_start": obj.period_start,
                "period_end": obj.period_end,
                "key_result_id": kr.id,
            }
            writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
    return buffer.getvalue()


@router.get("/okrs", response_model=Page[ObjectiveRead], tags=["okrs"])
def list_objectives(
    session: SessionDep,
    actor: ReadActor,
    status: ObjectiveStatus | None = None,
    team_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[ObjectiveRead]:
    """Objectives with their key results, progress, status and projection."""
    rows, total = okrs.list_objectives(
        session, status=status, team_id=team_id, limit=limit, offset=offset
    )
    return Page[ObjectiveRead](
        items=okrs.read_objectives(session, rows), total=total, limit=limit, offset=offset
    )


@router.get(
    "/okrs.csv",
    tags=["okrs"],
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "One row per key result"}},
)
def export_objectives(
    session: SessionDep,
    actor: ReadActor,
    status: ObjectiveStatus | None = None,
    team_id: int | None = None,
) -> Response:
    """Every key result with its progress, status and projection (the numbers of the JSON)."""
    rows, _ = okrs.list_objectives(
        session, status=status, team_id=team_id, limit=1_000_000, offset=0
    )
    return Response(
        okrs_csv(okrs.read_objectives(session, rows)),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="okrs.csv"'},
    )


@router.post("/okrs", response_model=ObjectiveRead, status_code=201, tags=["okrs"])
def create_objective(data: ObjectiveCreate, session: SessionDep, actor: WriteActor) -> object:
    obj = okrs.create_objective(session, data=data)
    return okrs.read_objective(session, objective_id=obj.id)


@router.get("/okrs/{objective_id}", response_model=ObjectiveRead, tags=["okrs"])
def get_objective(objective_id: int, session: SessionDep, actor: ReadActor) -> object:
    return okrs.read_objective(session, objective_id=objective_id)


@router.patch("/okrs/{objective_id}", response_model=ObjectiveRead, tags=["okrs"])
def update_objective(
    objective_id: int, data: ObjectiveUpdate, session: SessionDep, actor: WriteActor
) -> object:
    okrs.update_objective(session, objective_id=objective_id, data=data)
    return okrs.read_objective(session, objective_id=objective_id)


@router.delete("/okrs/{objective_id}", status_code=NO_CONTENT, tags=["okrs"])
def delete_objective(objective_id: int, session: SessionDep, actor: WriteActor) -> Response:
    okrs.delete_objective(session, objective_id=objective_id)
    return Response(status_code=NO_CONTENT)


@router.post(
    "/okrs/{objective_id}/key-results", response_model=KeyResultRead, status_code=201, tags=["okrs"]
)
def create_key_result(
    objective_id: int, data: KeyResultCreate, session: SessionDep, actor: WriteActor
) -> object:
    kr = okrs.create_key_result(session, objective_id=objective_id, data=data)
    return okrs.read_key_result(session, key_result_id=kr.id)


@router.get("/key-results/{key_result_id}", response_model=KeyResultRead, tags=["okrs"])
def get_key_result(key_result_id: int, session: SessionDep, actor: ReadActor) -> object:
    return okrs.read_key_result(session, key_result_id=key_result_id)


@router.patch("/key-results/{key_result_id}", response_model=KeyResultRead, tags=["okrs"])
def update_key_result(
    key_result_id: int, data: KeyResultUpdate, session: SessionDep, actor: WriteActor
) -> object:
    okrs.update_key_result(session, key_result_id=key_result_id, data=data)
    return okrs.read_key_result(session, key_result_id=key_result_id)


@router.delete("/key-results/{key_result_id}", status_code=NO_CONTENT, tags=["okrs"])
def delete_key_result(key_result_id: int, session: SessionDep, actor: WriteActor) -> Response:
    okrs.delete_key_result(session, key_result_id=key_result_id)
    return Response(status_code=NO_CONTENT)


@router.get(
    "/key-results/{key_result_id}/checkins", response_model=list[CheckinRead], tags=["okrs"]
)
def list_checkins(key_result_id: int, session: SessionDep, actor: ReadActor) -> object:
    """The key result's history, oldest first (manual check-ins and computed values)."""
    return okrs.list_checkins(session, key_result_id=key_result_id)


@router.post(
    "/key-results/{key_result_id}/checkins",
    response_model=CheckinRead,
    status_code=201,
    tags=["okrs"],
)
def create_checkin(
    key_result_id: int, data: CheckinCreate, session: SessionDep, actor: WriteActor
) -> object:
    """Record a value of a manual key result (KPI key results are computed: 422 kpi_bound)."""
    return okrs.checkin(session, key_result_id=key_result_id, data=data, actor=actor.label)
