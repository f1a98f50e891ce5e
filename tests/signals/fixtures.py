"""Small, self-made signal records for tests (no external data)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from juncture.store.engine import Database
from tests.factories import make_journey, make_service, make_team

BASE = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def seed_catalog(db: Database) -> dict[str, int]:
    team = make_team(db, slug="sre", name="SRE")
    ids = {
        slug: make_service(db, owner_team_id=team, slug=slug, name=slug.title())
        for slug in ("web", "checkout")
    }
    make_journey(
        db,
        slug="purchase",
        name="Purchase",
        steps=[("cart", [ids["web"]]), ("pay", [ids["checkout"]])],
    )
    return ids


def ts(minutes: float) -> str:
    return (BASE + timedelta(minutes=minutes)).isoformat()


def metric(
    minutes: float,
    value: float,
    *,
    service: str = "checkout",
    name: str = "latency_p95_ms",
    region: str = "eu",
    **extra: Any,
) -> dict[str, Any]:
    unit = {"latency_p95_ms": "ms", "error_rate": "ratio", "requests": "count"}.get(name, "ms")
    return {
        "type": "metric",
        "ts": ts(minutes),
        "service": service,
        "metric": name,
        "value": value,
        "unit": unit,
        "labels": {"region": region},
    } | extra


def ticket(
    minutes: float, ref: str, kind: str, actor: str = "agent", **extra: Any
) -> dict[str, Any]:
    return {
        "type": "ticket",
        "ts": ts(minutes),
        "ticket_id": ref,
        "kind": kind,
        "actor_kind": actor,
    } | extra


def mixed(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """A deterministic mix of valid records of every type."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(n):
        m = rng.random() * 600
        kind = i % 6
        if kind == 0:
            out.append(metric(m, round(rng.uniform(20, 900), 2), region=rng.choice(["eu", "us"])))
        elif kind == 1:
            out.append(
                {
                    "type": "funnel",
                    "ts": ts(m),
                    "journey": "purchase",
                    "step": rng.choice(["cart", "pay"]),
                    "session_id": f"s{i}",
                    "region": rng.choice(["eu", "us"]),
                    "channel": "web",
                    "value": round(rng.uniform(5, 200), 2),
                }
            )
        elif kind == 2:
            out.append(
                ticket(
                    m,
                    f"T{i % 40}",
                    rng.choice(["created", "replied", "resolved"]),
                    team=rng.choice(["support", "billing"]),
                    category="returns",
                )
            )
        elif kind == 3:
            out.append(
                {
                    "type": "survey",
                    "ts": ts(m),
                    "kind": "nps",
                    "score": rng.randint(0, 10),
                    "customer_id": f"c{i}",
                }
            )
        elif kind == 4:
            out.append(
                {
                    "type": "review",
                    "ts": ts(m),
                    "source": "app_store",
                    "rating": rng.randint(1, 5),
                    "text": "fine app",
                }
            )
        else:
            out.append(
                {"type": "deploy", "ts": ts(m), "service": "web", "version": f"v{i}", "actor": "ci"}
            )
    return out
