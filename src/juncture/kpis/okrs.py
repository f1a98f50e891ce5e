"""OKR logic: objectives owned by an ops and a CX team, key results, check-ins and progress.

A key result is either bound to a KPI of the catalogue (optionally sliced, e.g. one region),
whose value the ``kpis.refresh_okrs`` job computes over ``[period start, min(now, deadline))``
and appends to the history when it changes, or manual, moved by check-ins.

Dates are whole UTC days: a period starts at 00:00 UTC of ``period_start`` and a key result's
deadline is the end of its ``deadline`` day (00:00 UTC of the next day).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from juncture.access import service as access_service
from juncture.analytics.kpimath import project_trend
from juncture.kit import clock
from juncture.kit.errors import Invalid, JunctureError, NotFound
from juncture.kpis.catalogue import CATALOGUE
from juncture.kpis.models import KeyResult, KeyResultCheckin, Objective
from juncture.kpis.okr_schemas import (
    CheckinCreate,
    KeyResultCreate,
    KeyResultRead,
    KeyResultUpdate,
    ObjectiveCreate,
    ObjectiveRead,
    ObjectiveUpdate,
)
from juncture.store.uow import current_actor

logger = logging.getLogger(__name__)

#: Relative tolerance under which a recomputed KPI value counts as unchanged.
_SAME = 1e-12


def day_start(day: date) -> datetime:
    """00:00 UTC of ``day``."""
    return datetime.combine(day, time(), tzinfo=UTC)


def deadline_instant(day: date) -> datetime:
    """The end of the deadline day: 00:00 UTC of the following day."""
    return day_start(day + timedelta(days=1))


# ---------------------------------------------------------------- progress and projection


def progress(*, baseline: float, target: float, current: float | None) -> float | None:
    """Share of the way from baseline to target, clamped to 0..1 (None without a value).

    For ``up`` key results ``(current - baseline) / (target - baseline)``; for ``down`` ones
    ``(baseline - current) / (baseline - target)``, which is the same ratio.
    """
    if current is None or target == baseline:
        return None
    raw = (current - baseline) / (target - baseline)
    return min(1.0, max(0.0, raw))


def meets(value: float, *, target: float, direction: str) -> bool:
    return value >= target if direction == "up" else value <= target


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Evaluation:
    """Where a key result stands: the numbers every page, API answer and CSV row show."""

    current: float | None
    progress: float | None
    status: str  # ahead | on_track | at_risk | off_track | no_data
    basis: str | None  # reached | deadline | trend | pace
    on_track: bool | None
    projection: float | None
    projection_low: float | None
    projection_high: float | None
    checkins: int


def evaluate(
    kr: KeyResult, *, period_start: date, history: Sequence[KeyResultCheckin], now: datetime
) -> Evaluation:
    """Progress, status and projection of ``kr`` from its current value and check-in history.

    Status rules, in order:

    * ``no_data``: no value yet;
    * ``ahead``: the current value already meets the target;
    * ``off_track``: the deadline has passed without meeting it;
    * with 3+ check-ins at 2+ instants: the Theil–Sen trend projected to the deadline
      (``juncture.analytics.kpimath.project_trend``): ``on_track`` when the projection meets
      the target, ``at_risk`` when only the favourable end of its 90% interval does,
      ``off_track`` otherwise;
    * with fewer: the pace, ``on_track`` when progress is at least the elapsed share of the
      time from the period start to the deadline, else ``at_risk``.
    """
    current = kr.current_value
    prog = progress(baseline=kr.baseline, target=kr.target, current=current)
    dead = deadline_instant(kr.deadline)
    projection: float | None = None
    low: float | None = None
    high: float | None = None
    trend_status: str | None = None
    if len(history) >= 3:
        trend = project_trend(
            pd.DatetimeIndex([c.at for c in history]),
            [c.value for c in history],
            target=kr.target,
            deadline=dead,
            direction="increase" if kr.direction == "up" else "decrease",
            baseline=kr.baseline,
        )
        if trend.status != "insufficient_data":
            trend_status = trend.status
            projection = _finite(trend.projected)
            low, high = _finite(trend.low), _finite(trend.high)
    status: str
    basis: str | None
    if current is None or prog is None:
        status, basis = "no_data", None
    elif meets(current, target=kr.target, direction=kr.direction):
        status, basis = "ahead", "reached"
    elif now >= dead:
        status, basis = "off_track", "deadline"
    elif trend_status is not None:
        status, basis = trend_status, "trend"
    else:
        start = day_start(period_start)
        span = (dead - start).total_seconds()
        elapsed = 1.0 if span <= 0 else min(1.0, max(0.0, (now - start).total_seconds() / span))
        status, basis = ("on_track" if prog >= elapsed else "at_risk"), "pace"
    on_track = None if status == "no_data" else status in ("ahead", "on_track")
    return Evaluation(
        current=current,
        progress=prog,
        status=status,
        basis=basis,
        on_track=on_track,
        projection=projection,
        projection_low=low,
        projection_high=high,
        checkins=len(history),
    )


# ---------------------------------------------------------------- reads


def _history(session: Session, kr_ids: Sequence[int]) -> dict[int, list[KeyResultCheckin]]:
    out: dict[int, list[KeyResultCheckin]] = {kid: [] for kid in kr_ids}
    if not kr_ids:
        return out
    rows = session.scalars(
        select(KeyResultCheckin)
        .where(KeyResultCheckin.key_result_id.in_(list(kr_ids)))
        .order_by(KeyResultCheckin.at, KeyResultCheckin.id)
    )
    for row in rows:
        out[row.key_result_id].append(row)
    return out


def _kr_read(kr: KeyResult, ev: Evaluation) -> KeyResultRead:
    return KeyResultRead.model_validate(
        {
            "id": kr.id,
            "objective_id": kr.objective_id,
            "title": kr.title,
            "kind": kr.kind,
            "kpi": kr.kpi,
            "filters": dict(kr.filters or {}),
            "baseline": kr.baseline,
            "target": kr.target,
            "direction": kr.direction,
            "deadline": kr.deadline,
            "unit": kr.unit,
            "current": ev.current,
            "current_at": kr.current_at,
            "progress": ev.progress,
            "status": ev.status,
            "status_basis": ev.basis,
            "on_track": ev.on_track,
            "projection": ev.projection,
            "projection_low": ev.projection_low,
            "projection_high": ev.projection_high,
            "checkins": ev.checkins,
        }
    )


def read_objectives(
    session: Session, objectives: Sequence[Objective], *, now: datetime | None = None
) -> list[ObjectiveRead]:
    """Objectives with their key results evaluated (key results must be loaded)."""
    now = now or clock.now()
    history = _history(session, [kr.id for o in objectives for kr in o.key_results])
    out = []
    for obj in objectives:
        krs = [
            _kr_read(
                kr,
                evaluate(kr, period_start=obj.period_start, history=history[kr.id], now=now),
            )
            for kr in obj.key_results
        ]
        measured = [k.progress for k in krs if k.progress is not None]
        out.append(
            ObjectiveRead.model_validate(
                {
                    "id": obj.id,
                    "title": obj.title,
                    "description": obj.description,
                    "ops_team_id": obj.ops_team_id,
                    "cx_team_id": obj.cx_team_id,
                    "period_start": obj.period_start,
                    "period_end": obj.period_end,
                    "status": obj.status,
                    "progress": sum(measured) / len(measured) if measured else None,
                    "key_results": krs,
                    "created_at": obj.created_at,
                    "updated_at": obj.updated_at,
                }
            )
        )
    return out


def read_objective(
    session: Session, *, objective_id: int, now: datetime | None = None
) -> ObjectiveRead:
    return read_objectives(
        session, [get_objective_or_raise(session, objective_id=objective_id)], now=now
    )[0]


def read_key_result(
    session: Session, *, key_result_id: int, now: datetime | None = None
) -> KeyResultRead:
    kr = get_key_result_or_raise(session, key_result_id=key_result_id)
    obj = get_objective_or_raise(session, objective_id=kr.objective_id)
    history = _history(session, [kr.id])[kr.id]
    ev = evaluate(kr, period_start=obj.period_start, history=history, now=now or clock.now())
    return _kr_read(kr, ev)


# ---------------------------------------------------------------- objectives


def _owner_teams(session: Session, *, ops_team_id: int, cx_team_id: int) -> None:
    if ops_team_id == cx_team_id:
        raise Invalid(
            "the ops and CX owner teams must be two different teams", code="same_owner_teams"
        )
    for team_id, kind in ((ops_team_id, "ops"), (cx_team_id, "cx")):
        team = access_service.get_team(session, team_id=team_id)
        if team is None:
            raise Invalid(f"team {team_id} does not exist", code="unknown_team")
        if team.kind != kind:
            raise Invalid(
                f"team '{team.slug}' is a {team.kind} team; the {kind} owner must be a {kind} team",
                code="wrong_team_kind",
            )


def list_objectives(
    session: Session,
    *,
    status: str | None = None,
    team_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[Sequence[Objective], int]:
    """Objectives (newest period first) with their key results loaded, and the total count."""
    query = select(Objective)
    if status is not None:
        query = query.where(Objective.status == status)
    if team_id is not None:
        query = query.where((Objective.ops_team_id == team_id) | (Objective.cx_team_id == team_id))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.options(selectinload(Objective.key_results))
        .order_by(Objective.period_start.desc(), Objective.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return rows, total


def get_objective_or_raise(session: Session, *, objective_id: int) -> Objective:
    obj = session.scalar(
        select(Objective)
        .where(Objective.id == objective_id)
        .options(selectinload(Objective.key_results))
    )
    if obj is None:
        raise NotFound(f"objective {objective_id} does not exist")
    return obj


def create_objective(session: Session, *, data: ObjectiveCreate) -> Objective:
    _owner_teams(session, ops_team_id=data.ops_team_id, cx_team_id=data.cx_team_id)
    obj = Objective(**data.model_dump(), key_results=[])
    session.add(obj)
    session.flush()
    return obj


def update_objective(session: Session, *, objective_id: int, data: ObjectiveUpdate) -> Objective:
    obj = get_objective_or_raise(session, objective_id=objective_id)
    changes = data.model_dump(exclude_unset=True)
    for key in ("title", "ops_team_id", "cx_team_id", "period_start", "period_end", "status"):
        if key in changes and changes[key] is None:
            raise Invalid(f"{key} cannot be empty", code="required")
    if "description" in changes and changes["description"] is None:
        changes["description"] = ""
    ops = changes.get("ops_team_id", obj.ops_team_id)
    cx = changes.get("cx_team_id", obj.cx_team_id)
    if "ops_team_id" in changes or "cx_team_id" in changes:
        _owner_teams(session, ops_team_id=ops, cx_team_id=cx)
    start = changes.get("period_start", obj.period_start)
    end = changes.get("period_end", obj.period_end)
    if end < start:
        raise Invalid("period_end must not be before period_start", code="invalid_period")
    outside = [kr.title for kr in obj.key_results if not start <= kr.deadline <= end]
    if outside:
        raise Invalid(
            "the new period leaves key result deadlines outside it: " + ", ".join(outside),
            code="deadline_outside_period",
        )
    for key, value in changes.items():
        setattr(obj, key, value)
    session.flush()
    return obj


def delete_objective(session: Session, *, objective_id: int) -> None:
    obj = get_objective_or_raise(session, objective_id=objective_id)
    session.delete(obj)  # key results are loaded, so each deletion is audited
    session.flush()


# ---------------------------------------------------------------- key results


def get_key_result_or_raise(session: Session, *, key_result_id: int) -> KeyResult:
    kr = session.get(KeyResult, key_result_id)
    if kr is None:
        raise NotFound(f"key result {key_result_id} does not exist")
    return kr


def _check_kpi(kpi: str | None, filters: dict[str, str]) -> None:
    if not kpi:
        raise Invalid("a KPI key result needs a kpi", code="kpi_required")
    definition = CATALOGUE.get(kpi)
    if definition is None:
        raise Invalid(f"unknown KPI '{kpi}'", code="unknown_kpi")
    if not definition.available:
        raise Invalid(
            f"KPI '{kpi}' is not available: {definition.unavailable_reason}".rstrip(": "),
            code="kpi_unavailable",
        )
    bad = sorted(set(filters) - set(definition.slices))
    if bad:
        raise Invalid(
            f"KPI '{kpi}' cannot be sliced by {', '.join(bad)}; it supports "
            f"{', '.join(definition.slices) or 'no slice'}",
            code="invalid_filter",
        )
    empty = sorted(k for k, v in filters.items() if not v)
    if empty:
        raise Invalid(f"empty filter value for {', '.join(empty)}", code="invalid_filter")


def _check_numbers(*, baseline: float, target: float, direction: str) -> None:
    if target == baseline:
        raise Invalid("target must differ from baseline", code="target_equals_baseline")
    if (direction == "up") != (target > baseline):
        raise Invalid(
            f"direction '{direction}' needs a target "
            f"{'above' if direction == 'up' else 'below'} the baseline",
            code="target_direction",
        )


def _check_deadline(deadline: date, obj: Objective) -> None:
    if not obj.period_start <= deadline <= obj.period_end:
        raise Invalid(
            f"deadline {deadline} is outside the objective's period "
            f"{obj.period_start}..{obj.period_end}",
            code="deadline_outside_period",
        )


def create_key_result(session: Session, *, objective_id: int, data: KeyResultCreate) -> KeyResult:
    obj = get_objective_or_raise(session, objective_id=objective_id)
    filters = dict(data.filters)
    if data.kind == "kpi":
        _check_kpi(data.kpi, filters)
        assert data.kpi is not None
        definition = CATALOGUE[data.kpi]
        direction = data.direction or definition.direction
        unit = definition.unit if data.unit is None else data.unit
        if data.current_value is not None:
            raise Invalid(
                "a KPI key result's value is computed; current_value is for manual ones",
                code="kpi_bound",
            )
    else:
        if data.kpi is not None or filters:
            raise Invalid("a manual key result has no kpi or filters", code="manual_has_kpi")
        direction = data.direction or "up"
        unit = data.unit or ""
    _check_numbers(baseline=data.baseline, target=data.target, direction=direction)
    deadline = data.deadline or obj.period_end
    _check_deadline(deadline, obj)
    kr = KeyResult(
        objective_id=obj.id,
        title=data.title,
        kind=data.kind,
        kpi=data.kpi if data.kind == "kpi" else None,
        filters=filters,
        baseline=data.baseline,
        target=data.target,
        direction=direction,
        deadline=deadline,
        unit=unit,
    )
    session.add(kr)
    session.flush()
    if data.current_value is not None:
        checkin(
            session,
            key_result_id=kr.id,
            data=CheckinCreate(value=data.current_value, note="initial value"),
            actor=current_actor(session).label,
        )
    return kr


def update_key_result(session: Session, *, key_result_id: int, data: KeyResultUpdate) -> KeyResult:
    kr = get_key_result_or_raise(session, key_result_id=key_result_id)
    obj = get_objective_or_raise(session, objective_id=kr.objective_id)
    changes = data.model_dump(exclude_unset=True)
    for key in ("title", "baseline", "target", "direction", "deadline"):
        if key in changes and changes[key] is None:
            raise Invalid(f"{key} cannot be empty", code="required")
    if "unit" in changes and changes["unit"] is None:
        changes["unit"] = ""
    if "filters" in changes and changes["filters"] is None:
        changes["filters"] = {}
    measure_changed = False
    if kr.kind == "kpi":
        kpi = changes.get("kpi", kr.kpi)
        filters = changes.get("filters", dict(kr.filters or {}))
        _check_kpi(kpi, filters)
        measure_changed = kpi != kr.kpi or filters != dict(kr.filters or {})
    elif changes.get("kpi") is not None or changes.get("filters"):
        raise Invalid("a manual key result has no kpi or filters", code="manual_has_kpi")
    _check_numbers(
        baseline=changes.get("baseline", kr.baseline),
        target=changes.get("target", kr.target),
        direction=changes.get("direction", kr.direction),
    )
    _check_deadline(changes.get("deadline", kr.deadline), obj)
    for key, value in changes.items():
        setattr(kr, key, value)
    if measure_changed:
        # The computed history measured something else: start it again.
        session.execute(
            delete(KeyResultCheckin).where(
                KeyResultCheckin.key_result_id == kr.id, KeyResultCheckin.source == "computed"
            )
        )
        kr.current_value = None
        kr.current_at = None
    session.flush()
    return kr


def delete_key_result(session: Session, *, key_result_id: int) -> None:
    kr = get_key_result_or_raise(session, key_result_id=key_result_id)
    session.delete(kr)
    session.flush()


# ---------------------------------------------------------------- check-ins


def list_checkins(session: Session, *, key_result_id: int) -> list[KeyResultCheckin]:
    """The history of a key result, oldest first."""
    get_key_result_or_raise(session, key_result_id=key_result_id)
    return _history(session, [key_result_id])[key_result_id]


def checkin(
    session: Session, *, key_result_id: int, data: CheckinCreate, actor: str = ""
) -> KeyResultCheckin:
    """Record a value of a manual key result; the latest check-in is its current value."""
    kr = get_key_result_or_raise(session, key_result_id=key_result_id)
    if kr.kind != "manual":
        raise Invalid(
            "this key result is computed from its KPI; only manual key results take check-ins",
            code="kpi_bound",
        )
    at = data.at.astimezone(UTC) if data.at is not None else clock.now()
    row = KeyResultCheckin(
        key_result_id=kr.id, at=at, value=data.value, note=data.note, source="manual", actor=actor
    )
    session.add(row)
    if kr.current_at is None or at >= kr.current_at:
        kr.current_value = data.value
        kr.current_at = at
    session.flush()
    return row


def refresh_progress(session: Session, *, now: datetime) -> dict[str, Any]:
    """Recompute every active objective's KPI key results and record the values that changed.

    Each value covers ``[period start, min(now, deadline))``. A key result whose window has
    not begun, or whose KPI has no data in it, keeps its last value.
    """
    from juncture.kpis import service as kpi_service

    rows = session.execute(
        select(KeyResult, Objective.period_start)
        .join(Objective, Objective.id == KeyResult.objective_id)
        .where(Objective.status == "active", KeyResult.kind == "kpi")
        .order_by(KeyResult.id)
    ).all()
    summary = {"checked": 0, "changed": 0, "no_data": 0, "failed": 0}
    for kr, period_start in rows:
        start = day_start(period_start)
        end = min(now, deadline_instant(kr.deadline))
        if end <= start or kr.kpi is None:
            continue
        summary["checked"] += 1
        try:
            result = kpi_service.kpi_value(
                session, kpi=kr.kpi, start=start, end=end, filters=dict(kr.filters) or None
            )
        except JunctureError as exc:
            summary["failed"] += 1
            logger.warning(
                "key result KPI failed", extra={"key_result_id": kr.id, "error": exc.detail}
            )
            continue
        value = result.value
        if value is None or not math.isfinite(value):
            summary["no_data"] += 1
            continue
        if kr.current_value is not None and math.isclose(
            value, kr.current_value, rel_tol=_SAME, abs_tol=_SAME
        ):
            continue
        session.add(
            KeyResultCheckin(
                key_result_id=kr.id, at=now, value=value, source="computed", actor="system"
            )
        )
        kr.current_value = value
        kr.current_at = now
        summary["changed"] += 1
    session.flush()
    return summary
