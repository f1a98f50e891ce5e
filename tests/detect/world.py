"""A small company for the alert-engine tests: a checkout service on the purchase journey,
minute readings and funnel sessions ingested through ``signals.service.ingest``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from juncture.config import Settings
from juncture.detect import evaluate, service
from juncture.detect.schemas import AlertRuleCreate
from juncture.kit import clock
from juncture.signals import service as signals_service
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work
from tests.factories import make_journey, make_service, make_team

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)  # the incident starts here
SETTINGS = Settings(order_step="purchase/checkout")


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def company(db: Database) -> int:
    """Team ``sre`` owns ``web`` (cart) and ``checkout`` (checkout); returns the team id."""
    sre = make_team(db, slug="sre", name="SRE", timezone="UTC")
    web = make_service(db, owner_team_id=sre, slug="web", name="Web")
    checkout = make_service(db, owner_team_id=sre, slug="checkout", name="Checkout")
    make_journey(
        db,
        slug="purchase",
        name="Purchase",
        steps=[("cart", [web]), ("checkout", [checkout])],
    )
    return sre


def latency(
    start: datetime, minutes: int, value: Callable[[int, datetime], float], service_slug: str
) -> list[dict[str, Any]]:
    return [
        {
            "type": "metric",
            "ts": iso(start + timedelta(minutes=i, seconds=10)),
            "service": service_slug,
            "metric": "latency_p95_ms",
            "value": value(i, start + timedelta(minutes=i)),
            "unit": "ms",
            "labels": {"region": "eu"},
        }
        for i in range(minutes)
    ]


def funnel(
    start: datetime, minutes: int, dropoff: Callable[[datetime], float], *, seed: int = 7
) -> list[dict[str, Any]]:
    """30 sessions reach the cart each minute; each drops off before checkout with
    probability ``dropoff(minute)``."""
    rng = np.random.default_rng(seed)
    out: list[dict[str, Any]] = []
    for i in range(minutes):
        at = start + timedelta(minutes=i)
        drops = rng.random(30) < dropoff(at)
        for s in range(30):
            sid = f"s{i}-{s}"
            out.append(
                {
                    "type": "funnel",
                    "ts": iso(at + timedelta(seconds=5)),
                    "journey": "purchase",
                    "step": "cart",
                    "session_id": sid,
                    "region": "eu",
                }
            )
            if not drops[s]:
                out.append(
                    {
                        "type": "funnel",
                        "ts": iso(at + timedelta(seconds=40)),
                        "journey": "purchase",
                        "step": "checkout",
                        "session_id": sid,
                        "region": "eu",
                    }
                )
    return out


def ingest(db: Database, records: list[dict[str, Any]], *, at: datetime) -> None:
    with clock.use_clock(clock.FixedClock(at)), unit_of_work(db) as session:
        result = signals_service.ingest(session, records=records, settings=SETTINGS, source="test")
    assert result.quarantined == 0, result


def make_rule(db: Database, team_id: int, **kw: Any) -> int:
    data: dict[str, Any] = {
        "name": "Checkout latency",
        "kind": "threshold",
        "target": {"signal_type": "metric", "metric": "latency_p95_ms", "subject": "checkout"},
        "params": {"threshold": 800, "for_minutes": 3},
        "severity": "high",
        "owner_team_id": team_id,
    } | kw
    with unit_of_work(db) as session:
        return service.create_rule(session, data=AlertRuleCreate(**data)).id


def evaluate_at(db: Database, at: datetime, **kw: Any) -> dict[str, Any]:
    with clock.use_clock(clock.FixedClock(at)), unit_of_work(db) as session:
        return evaluate.evaluate_rules(
            session, now=at, settings=SETTINGS, lookback=kw.pop("lookback", timedelta(hours=3))
        )


def noisy(mean: float, sd: float, seed: int = 3) -> Callable[[int, datetime], float]:
    rng = np.random.default_rng(seed)
    draws = rng.normal(0.0, 1.0, 100_000)
    return lambda i, _at: round(mean + sd * float(draws[i]), 3)
