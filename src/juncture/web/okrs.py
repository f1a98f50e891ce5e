"""OKR pages: the list with a create form, and one objective with its edit forms.

Every number shown comes from the same ``juncture.kpis.okrs`` reads as ``/api/v1/okrs``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from juncture.access import service as access_service
from juncture.api.deps import PageReader, PageWriter, SessionDep
from juncture.kit.errors import Invalid, JunctureError, NotFound
from juncture.kpis import okrs
from juncture.kpis.catalogue import CATALOGUE
from juncture.kpis.okr_schemas import (
    OBJECTIVE_STATUSES,
    CheckinCreate,
    KeyResultCreate,
    KeyResultUpdate,
    ObjectiveCreate,
    ObjectiveUpdate,
)
from juncture.web.forms import parse
from juncture.web.render import render

router = APIRouter(include_in_schema=False)

FormStr = Annotated[str, Form()]

STATUS_LABELS = {
    "ahead": "target reached",
    "on_track": "on track",
    "at_risk": "at risk",
    "off_track": "off track",
    "no_data": "no data",
}


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def num(value: float | None) -> str:
    """A number for display: two decimals at most, thousands separated; — for none."""
    if value is None:
        return "—"
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def parse_filters(text: str) -> dict[str, str]:
    """``region=eu, channel=web`` into ``{"region": "eu", "channel": "web"}``."""
    out: dict[str, str] = {}
    for part in text.replace("\n", ",").split(","):
        item = part.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise Invalid(
                f"filters: '{item}' is not slice=value (e.g. region=eu)", code="validation_error"
            )
        out[key.strip()] = value.strip()
    return out


def filters_text(filters: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(filters.items()))


def _blank_none(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    """Empty form fields mean "not given" (the schema's default)."""
    return {k: v for k, v in data.items() if not (k in keys and v in ("", None))}


def _teams(session: Session) -> dict[str, Any]:
    teams = access_service.list_teams(session)
    return {
        "team_by_id": {t.id: t for t in teams},
        "ops_teams": [t for t in teams if t.kind == "ops"],
        "cx_teams": [t for t in teams if t.kind == "cx"],
    }


def _common() -> dict[str, Any]:
    return {
        "num": num,
        "pct": pct,
        "status_labels": STATUS_LABELS,
        "statuses": OBJECTIVE_STATUSES,
        "kpis": [k for k in CATALOGUE.values() if k.available],
        "catalogue": CATALOGUE,
        "filters_text": filters_text,
    }


def _list_context(session: Session, status: str | None) -> dict[str, Any]:
    rows, total = okrs.list_objectives(session, status=status or None, limit=500)
    return (
        _common()
        | _teams(session)
        | {
            "objectives": okrs.read_objectives(session, rows),
            "total": total,
            "status": status or "",
        }
    )


@router.get("/okrs")
def okrs_page(
    request: Request, session: SessionDep, actor: PageReader, status: str | None = None
) -> Response:
    if status and status not in OBJECTIVE_STATUSES:
        status = None
    return render(request, "okrs.html", _list_context(session, status))


@router.post("/okrs")
def okrs_create(
    request: Request,
    session: SessionDep,
    actor: PageWriter,
    title: FormStr,
    ops_team_id: FormStr,
    cx_team_id: FormStr,
    period_start: FormStr,
    period_end: FormStr,
    description: FormStr = "",
) -> Response:
    data = {
        "title": title,
        "description": description,
        "ops_team_id": ops_team_id,
        "cx_team_id": cx_team_id,
        "period_start": period_start,
        "period_end": period_end,
    }
    try:
        created = okrs.create_objective(session, data=parse(ObjectiveCreate, data))
    except JunctureError as exc:
        ctx = _list_context(session, None) | {"form_error": exc.detail, "form": data}
        return render(request, "okrs.html", ctx, status_code=exc.status_code)
    return _see_other(f"/okrs/{created.id}")


def _detail(
    request: Request,
    session: Session,
    objective_id: int,
    extra: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    objective = okrs.read_objective(session, objective_id=objective_id)
    history = {
        kr.id: list(reversed(okrs.list_checkins(session, key_result_id=kr.id)))
        for kr in objective.key_results
    }
    ctx = (
        _common()
        | _teams(session)
        | {"objective": objective, "history": history, "flash": request.query_params.get("done")}
    )
    return render(request, "okr.html", ctx | (extra or {}), status_code=status_code)


def _kr_of(session: Session, objective_id: int, key_result_id: int) -> None:
    kr = okrs.get_key_result_or_raise(session, key_result_id=key_result_id)
    if kr.objective_id != objective_id:
        raise NotFound(f"key result {key_result_id} is not part of objective {objective_id}")


@router.get("/okrs/{objective_id}")
def okr_page(
    request: Request, objective_id: int, session: SessionDep, actor: PageReader
) -> Response:
    return _detail(request, session, objective_id)


@router.post("/okrs/{objective_id}")
def okr_update(
    request: Request,
    objective_id: int,
    session: SessionDep,
    actor: PageWriter,
    title: FormStr,
    ops_team_id: FormStr,
    cx_team_id: FormStr,
    period_start: FormStr,
    period_end: FormStr,
    status: FormStr,
    description: FormStr = "",
) -> Response:
    data = {
        "title": title,
        "description": description,
        "ops_team_id": ops_team_id,
        "cx_team_id": cx_team_id,
        "period_start": period_start,
        "period_end": period_end,
        "status": status,
    }
    try:
        okrs.update_objective(session, objective_id=objective_id, data=parse(ObjectiveUpdate, data))
    except Invalid as exc:
        return _detail(
            request, session, objective_id, {"objective_error": exc.detail}, exc.status_code
        )
    return _see_other(f"/okrs/{objective_id}?done=saved")


@router.post("/okrs/{objective_id}/delete")
def okr_delete(objective_id: int, session: SessionDep, actor: PageWriter) -> Response:
    okrs.delete_objective(session, objective_id=objective_id)
    return _see_other("/okrs")


def _kr_form(
    *,
    title: str,
    baseline: str,
    target: str,
    direction: str,
    deadline: str,
    unit: str,
    kpi: str,
    filters: str,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": title,
        "baseline": baseline,
        "target": target,
        "direction": direction,
        "deadline": deadline,
        "unit": unit,
        "kpi": kpi,
        "filters": parse_filters(filters),
    }
    return _blank_none(data, "direction", "deadline", "unit", "kpi")


@router.post("/okrs/{objective_id}/key-results")
def kr_create(
    request: Request,
    objective_id: int,
    session: SessionDep,
    actor: PageWriter,
    title: FormStr,
    baseline: FormStr,
    target: FormStr,
    kind: FormStr = "kpi",
    kpi: FormStr = "",
    filters: FormStr = "",
    direction: FormStr = "",
    deadline: FormStr = "",
    unit: FormStr = "",
    current_value: FormStr = "",
) -> Response:
    okrs.get_objective_or_raise(session, objective_id=objective_id)
    form = {
        "title": title,
        "kind": kind,
        "kpi": kpi,
        "filters": filters,
        "baseline": baseline,
        "target": target,
        "direction": direction,
        "deadline": deadline,
        "unit": unit,
        "current_value": current_value,
    }
    try:
        data = _kr_form(
            title=title,
            baseline=baseline,
            target=target,
            direction=direction,
            deadline=deadline,
            unit=unit,
            kpi=kpi if kind == "kpi" else "",
            filters=filters if kind == "kpi" else "",
        )
        data["kind"] = kind
        if current_value.strip():
            data["current_value"] = current_value
        okrs.create_key_result(
            session, objective_id=objective_id, data=parse(KeyResultCreate, data)
        )
    except JunctureError as exc:
        return _detail(
            request,
            session,
            objective_id,
            {"kr_error": exc.detail, "kr_form": form},
            exc.status_code,
        )
    return _see_other(f"/okrs/{objective_id}?done=key+result+added")


@router.post("/okrs/{objective_id}/key-results/{key_result_id}")
def kr_update(
    request: Request,
    objective_id: int,
    key_result_id: int,
    session: SessionDep,
    actor: PageWriter,
    title: FormStr,
    baseline: FormStr,
    target: FormStr,
    direction: FormStr,
    deadline: FormStr,
    kpi: FormStr = "",
    filters: FormStr = "",
    unit: FormStr = "",
) -> Response:
    _kr_of(session, objective_id, key_result_id)
    try:
        data = _kr_form(
            title=title,
            baseline=baseline,
            target=target,
            direction=direction,
            deadline=deadline,
            unit=unit,
            kpi=kpi,
            filters=filters,
        )
        if "unit" not in data:
            data["unit"] = ""
        kr = okrs.get_key_result_or_raise(session, key_result_id=key_result_id)
        if kr.kind == "manual":
            data.pop("kpi", None)
            data.pop("filters", None)
        okrs.update_key_result(
            session, key_result_id=key_result_id, data=parse(KeyResultUpdate, data)
        )
    except JunctureError as exc:
        return _detail(
            request,
            session,
            objective_id,
            {"kr_errors": {key_result_id: exc.detail}},
            exc.status_code,
        )
    return _see_other(f"/okrs/{objective_id}?done=key+result+saved")


@router.post("/okrs/{objective_id}/key-results/{key_result_id}/delete")
def kr_delete(
    objective_id: int, key_result_id: int, session: SessionDep, actor: PageWriter
) -> Response:
    _kr_of(session, objective_id, key_result_id)
    okrs.delete_key_result(session, key_result_id=key_result_id)
    return _see_other(f"/okrs/{objective_id}?done=key+result+deleted")


@router.post("/okrs/{objective_id}/key-results/{key_result_id}/checkins")
def kr_checkin(
    request: Request,
    objective_id: int,
    key_result_id: int,
    session: SessionDep,
    actor: PageWriter,
    value: FormStr,
    note: FormStr = "",
) -> Response:
    _kr_of(session, objective_id, key_result_id)
    try:
        okrs.checkin(
            session,
            key_result_id=key_result_id,
            data=parse(CheckinCreate, {"value": value, "note": note}),
            actor=actor.label,
        )
    except JunctureError as exc:
        return _detail(
            request,
            session,
            objective_id,
            {"kr_errors": {key_result_id: exc.detail}},
            exc.status_code,
        )
    return _see_other(f"/okrs/{objective_id}?done=check-in+recorded")
