"""Preparing the demo: schema, the company vocabulary, an admin login, and its history."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from juncture.access import security
from juncture.access import service as access_service
from juncture.access.enums import Role
from juncture.access.schemas import UserCreate
from juncture.api.app import ensure_schema
from juncture.config import Settings
from juncture.simulate.load import seed_catalog
from juncture.store import migrate
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work

logger = logging.getLogger(__name__)

DEMO_ADMIN = "admin@juncture.local"


def prepare_demo(settings: Settings) -> tuple[str, str, bool]:
    """Upgrade the schema, create the company's vocabulary and (re)set the admin's password.

    Returns (admin e-mail, password, whether the company was created just now).
    """
    db = Database(settings)
    try:
        if db.dialect == "sqlite":
            migrate.upgrade(db)
        ensure_schema(db, settings)
        fresh = seed_catalog(db)
        password = security.generate_password()
        with unit_of_work(db) as session:
            admin = access_service.get_user_by_email(session, email=DEMO_ADMIN)
            if admin is None:
                access_service.create_user(
                    session,
                    data=UserCreate(
                        email=DEMO_ADMIN, role=Role.admin, name="Demo admin", password=password
                    ),
                )
            else:
                access_service.set_password(session, user_id=admin.id, password=password)
    finally:
        db.dispose()
    return DEMO_ADMIN, password, fresh


class DemoLoader:
    """Simulates the company and loads its history, in a background thread or inline."""

    def __init__(self, settings: Settings, *, days: int, seed: int) -> None:
        self.settings = settings
        self.days = days
        self.seed = seed
        self.status: dict[str, Any] = {"state": "waiting", "done": 0, "total": 0, "accepted": 0}
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        from juncture.simulate.load import load_into_database
        from juncture.simulate.scenario import load_scenario
        from juncture.simulate.world import generate

        started = time.perf_counter()
        try:
            self.status["state"] = "simulating"
            today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            world = generate(
                load_scenario(None),
                days=self.days,
                seed=self.seed,
                start=today - timedelta(days=self.days),  # ends at midnight, never ahead
            )
            self.status.update(state="loading", total=world.n_events)

            def progress(done: int, total: int) -> None:
                self.status.update(done=done, total=total)

            summary = load_into_database(world, self.settings, on_progress=progress)
            seed_okrs(self.settings, today)
            self.status.update(state="replaying alerts")
            from juncture.simulate.incident_people import truth_causes

            # the last five days, and the hours around each earlier customer-impacting fault
            windows = [
                (t.start - timedelta(hours=3), t.end + timedelta(hours=6))
                for t in world.truth.incidents
                if t.impact.customer_impacting
                and t.start - timedelta(hours=12) >= today - timedelta(days=self.days - 7)
            ]
            seed_alerting(
                self.settings,
                today,
                days=min(5, self.days),
                cause_for=truth_causes(world.truth),
                windows=windows,
            )
            self.status.update(
                state="done",
                accepted=summary["accepted"],
                seconds=round(time.perf_counter() - started, 1),
            )
            logger.info("demo history loaded", extra={"events": summary["accepted"]})
        except Exception as exc:  # the demo keeps serving; the banner shows the failure
            logger.exception("demo history failed to load")
            self.status.update(state="failed", error=str(exc)[:300])

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="juncture-demo-loader", daemon=True)
        self._thread.start()


def seed_okrs(settings: Settings, today: datetime) -> None:
    """Two joint objectives with KPI-bound key results, and their weekly history.

    Baselines are the KPI over the first two weeks of the period; targets ask for a visible
    improvement. The weekly refreshes replay what the `kpis.refresh_okrs` job would have
    recorded, so the demo shows progress history and projections."""
    from juncture.kpis import okrs
    from juncture.kpis import service as kpi_service
    from juncture.kpis.okr_schemas import KeyResultCreate, ObjectiveCreate

    db = Database(settings)
    try:
        with unit_of_work(db) as session:
            teams = {t.slug: t.id for t in access_service.list_teams(session)}
            if not {"payments-eng", "support", "sre-platform", "tech-support"} <= set(teams):
                return
            start = (today - timedelta(days=63)).date()
            end = (today + timedelta(days=28)).date()
            first = datetime(start.year, start.month, start.day, tzinfo=UTC)
            plans = [
                (
                    "Customers barely notice checkout incidents",
                    "payments-eng",
                    "support",
                    [
                        ("CSAT at or above target", "csat", {}, +3.0),
                        ("Purchase conversion up", "conversion", {"journey": "purchase"}, +0.5),
                        ("Fewer tickets per 1,000 orders", "tickets_per_1k_orders", {}, -20.0),
                    ],
                ),
                (
                    "Fast, first-time answers for app and web problems",
                    "sre-platform",
                    "tech-support",
                    [
                        ("First response p90 down", "frt_p90", {"team": "tech-support"}, -1.0),
                        ("First-contact resolution up", "fcr", {"team": "tech-support"}, +5.0),
                    ],
                ),
            ]
            for title, ops, cx, krs in plans:
                objective = okrs.create_objective(
                    session,
                    data=ObjectiveCreate(
                        title=title,
                        ops_team_id=teams[ops],
                        cx_team_id=teams[cx],
                        period_start=start,
                        period_end=end,
                    ),
                )
                for kr_title, kpi, filters, step in krs:
                    base = kpi_service.kpi_value(
                        session, kpi=kpi, start=first, end=first + timedelta(days=14),
                        filters=filters or None, settings=settings,
                    ).value  # fmt: skip
                    if base is None:
                        continue
                    okrs.create_key_result(
                        session,
                        objective_id=objective.id,
                        data=KeyResultCreate(
                            title=kr_title,
                            kpi=kpi,
                            filters=filters,
                            baseline=round(base, 2),
                            target=round(base + step, 2),
                        ),
                    )
            moment = first + timedelta(days=7)
            while moment < today:
                okrs.refresh_progress(session, now=moment)
                moment += timedelta(days=7)
            okrs.refresh_progress(session, now=today)
    except Exception:  # the demo keeps going without OKRs; the log says why
        logger.exception("demo OKRs could not be created")
    finally:
        db.dispose()


#: Alert rules of the demo company (targets in the simulated catalog).
DEMO_RULES: list[dict[str, Any]] = [
    {
        "name": "Checkout: customers feel it",
        "kind": "customer_impact",
        "severity": "critical",
        "team": "payments-eng",
        "target": {"signal_type": "funnel", "metric": "reached", "subject": "purchase/checkout"},
        "params": {"min_customers": 10, "max_lag_minutes": 30},
    },
    {
        "name": "Payment: customers feel it",
        "kind": "customer_impact",
        "severity": "critical",
        "team": "payments-eng",
        "target": {"signal_type": "funnel", "metric": "reached", "subject": "purchase/paid"},
        "params": {"min_customers": 10, "max_lag_minutes": 30},
    },
    {
        "name": "Payments latency p95 above 1.5 s",
        "kind": "threshold",
        "severity": "high",
        "team": "payments-eng",
        "target": {"signal_type": "metric", "metric": "latency_p95_ms", "subject": "payments"},
        "params": {"threshold": 1500, "for_minutes": 10, "clear_threshold": 1000},
    },
    {
        "name": "Service error rate above 5%",
        "kind": "threshold",
        "severity": "high",
        "team": "sre-platform",
        "target": {"signal_type": "metric", "metric": "error_rate"},
        "params": {"threshold": 0.05, "for_minutes": 10, "clear_threshold": 0.02},
    },
]


def _merge(windows: Sequence[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Sort windows and join the overlapping ones."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def seed_alerting(
    settings: Settings,
    today: datetime,
    *,
    days: int = 5,
    people: bool = True,
    cause_for: Callable[[Any], str] | None = None,
    windows: Sequence[tuple[datetime, datetime]] = (),
) -> dict[str, Any]:
    """The demo company's alert rules, replayed over the last ``days`` of its history (and
    over the earlier ``windows``, oldest first) with the simulated on-call staff acknowledging
    (and sometimes escalating) what fires and, with ``people``, the incident responders
    declaring incidents from customer-facing alerts and running them to their post-mortems
    (``cause_for`` names a fault's cause for those)."""
    from juncture.detect import service as detect_service
    from juncture.detect.evaluate import catch_up
    from juncture.detect.schemas import AlertRuleCreate
    from juncture.incidents import comms
    from juncture.incidents.defaults import ensure_defaults
    from juncture.simulate import incident_people
    from juncture.simulate.responders import respond

    def tick(session: Session, at: datetime) -> None:
        respond(session, now=at)
        if people:
            incident_people.act(session, now=at, cause_for=cause_for)

    db = Database(settings)
    totals: dict[str, Any] = {}
    try:
        with unit_of_work(db) as session:
            ensure_defaults(session)
            comms.ensure_default_templates(session)
            teams = {t.slug: t.id for t in access_service.list_teams(session)}
            for rule in DEMO_RULES:
                if rule["team"] not in teams:
                    return totals
                detect_service.create_rule(
                    session,
                    data=AlertRuleCreate(
                        name=rule["name"],
                        kind=rule["kind"],
                        severity=rule["severity"],
                        owner_team_id=teams[rule["team"]],
                        target=rule["target"],
                        params=rule["params"],
                    ),
                )
        recent = (today - timedelta(days=days), today)
        for start, end in _merge([*windows, recent]):
            day = start
            while day < end:  # one transaction per simulated day
                with unit_of_work(db) as session:
                    result = catch_up(
                        session,
                        start=day,
                        end=min(day + timedelta(days=1), end),
                        step=timedelta(minutes=10),
                        settings=settings,
                        after_tick=tick,
                    )
                for key in ("opened", "reopened", "resolved"):
                    totals[key] = totals.get(key, 0) + result[key]
                totals.setdefault("errors", []).extend(result["errors"][:3])
                day += timedelta(days=1)
        if people:  # post-mortems of incidents whose following days were not replayed
            for _ in range(3):  # draft, then review, then publication
                with unit_of_work(db) as session:
                    incident_people.write_postmortems(session, now=today, cause_for=cause_for)
    except Exception:  # the demo keeps going without alert history; the log says why
        logger.exception("demo alert history could not be created")
    finally:
        db.dispose()
    return totals
