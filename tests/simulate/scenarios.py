"""Small scenarios shared by the simulate tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from juncture.simulate.scenario import Scenario, parse_scenario

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday


def small(**sections: Any) -> Scenario:
    """A small, quiet company: no random faults or bad releases unless asked."""
    data: dict[str, Any] = {
        "company": {"name": "Test Co", "customers": 20_000},
        "traffic": {"sessions_per_day": 4000},
        "deploys": {"bad_fraction": 0.0, "failed_fraction": 0.0},
        "incidents": {"random_per_week": 0.0},
        "surveys": {"nps_per_week": 200},
    }
    for key, value in sections.items():
        data.setdefault(key, {})
        if isinstance(value, dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return parse_scenario(data, source="test")


# Day 1 at 14:00 UTC = 15:00 in Berlin, 09:00 in New York.
CHECKOUT_SLOW = {
    "service": "checkout",
    "regions": ["eu"],
    "start_day": 1 + 14 / 24,
    "duration_minutes": 240,
    "kind": "both",
    "latency_multiplier": 6.0,
    "error_rate": 0.3,
    "cause": "deploy",
    "title": "checkout slow in Europe",
}
