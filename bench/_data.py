"""Deterministic mixed signal records for the benchmarks (self-made, no external data)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

START = datetime(2026, 9, 1, tzinfo=UTC)
SERVICES = ["web", "search", "catalog", "cart", "checkout", "payments", "notifications", "shipping"]
STEPS = [
    ("purchase", "browse"),
    ("purchase", "cart"),
    ("purchase", "checkout"),
    ("purchase", "paid"),
]
REGIONS = ["eu", "us", "apac"]


def records(n: int, *, seed: int = 7, days: int = 60) -> Iterator[dict[str, Any]]:
    """n records: 50% metrics, 30% funnel, 10% tickets, 5% surveys, 4% reviews, 1% deploys."""
    rng = np.random.default_rng(seed)
    offsets = np.sort(rng.integers(0, days * 86_400_000, size=n))
    kinds = rng.choice(6, size=n, p=[0.5, 0.3, 0.1, 0.05, 0.04, 0.01])
    vals = rng.gamma(2.0, 60.0, size=n)
    picks = rng.integers(0, 1_000_000, size=n)
    for i in range(n):
        ts = (START + timedelta(milliseconds=int(offsets[i]))).isoformat()
        k = kinds[i]
        p = int(picks[i])
        if k == 0:
            yield {
                "type": "metric",
                "ts": ts,
                "service": SERVICES[p % 8],
                "metric": "latency_p95_ms",
                "value": round(float(vals[i]), 2),
                "unit": "ms",
                "labels": {"region": REGIONS[p % 3]},
            }
        elif k == 1:
            journey, step = STEPS[p % 4]
            yield {
                "type": "funnel",
                "ts": ts,
                "journey": journey,
                "step": step,
                "session_id": f"s{p}",
                "region": REGIONS[p % 3],
                "channel": "web",
                "segment": "returning",
            }
        elif k == 2:
            yield {
                "type": "ticket",
                "ts": ts,
                "ticket_id": f"T{p % 50_000}",
                "kind": ("created", "replied", "resolved")[p % 3],
                "actor_kind": "agent",
                "team": "support",
                "priority": "normal",
                "category": "delivery",
                "text": "Where is my parcel? It was due yesterday.",
            }
        elif k == 3:
            yield {
                "type": "survey",
                "ts": ts,
                "kind": "nps",
                "score": p % 11,
                "customer_id": f"c{p}",
            }
        elif k == 4:
            yield {
                "type": "review",
                "ts": ts,
                "source": "app_store",
                "rating": 1 + p % 5,
                "text": "Works well",
            }
        else:
            yield {
                "type": "deploy",
                "ts": ts,
                "service": SERVICES[p % 8],
                "version": f"1.{p}",
                "actor": "ci",
            }


def write_ndjson(path: Path, n: int, *, seed: int = 7) -> Path:
    with path.open("wb") as handle:
        for record in records(n, seed=seed):
            handle.write(orjson.dumps(record) + b"\n")
    return path


def seed_catalog(db: Any) -> None:
    """The services and journey the records name."""
    from juncture.access import service as access_service
    from juncture.access.schemas import TeamCreate
    from juncture.catalog import service as catalog_service
    from juncture.catalog.schemas import JourneyCreate, ServiceCreate, StepIn
    from juncture.store.uow import unit_of_work

    with unit_of_work(db) as session:
        team = access_service.create_team(session, data=TeamCreate(slug="sre", name="SRE"))
        ids = {
            s: catalog_service.create_service(
                session, data=ServiceCreate(slug=s, name=s, owner_team_id=team.id)
            ).id
            for s in SERVICES
        }
        catalog_service.create_journey(
            session,
            data=JourneyCreate(
                slug="purchase",
                name="Purchase",
                steps=[StepIn(slug=s, name=s, service_ids=[ids["web"]]) for _, s in STEPS],
            ),
        )
