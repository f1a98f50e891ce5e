"""Small worlds shared by the simulate tests (generated once per session)."""

from __future__ import annotations

import pytest

from juncture.simulate.world import World, generate
from tests.simulate.scenarios import CHECKOUT_SLOW, START, small


@pytest.fixture(scope="session")
def quiet_world() -> World:
    return generate(small(), days=3, seed=11, start=START)


@pytest.fixture(scope="session")
def incident_world() -> World:
    sc = small(incidents={"random_per_week": 0.0, "scripted": [CHECKOUT_SLOW]})
    return generate(sc, days=3, seed=11, start=START)


@pytest.fixture(scope="session")
def busy_world() -> World:
    """A default-like company with its random faults and bad releases, for consistency checks."""
    sc = small(
        traffic={"sessions_per_day": 6000},
        deploys={"bad_fraction": 0.2, "failed_fraction": 0.05},
        incidents={"random_per_week": 4.0},
    )
    return generate(sc, days=7, seed=5, start=START)
