"""``@periodic``: how a room declares a job; the runner discovers them here."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

JobFunc = Callable[[Session], dict[str, Any] | None]

# Rooms that declare periodic work. A new room with a jobs.py adds itself here.
JOB_MODULES: tuple[str, ...] = (
    "juncture.access.jobs",
    "juncture.detect.jobs",
    "juncture.incidents.jobs",
    "juncture.kpis.jobs",
    "juncture.signals.jobs",
)


@dataclass(frozen=True)
class PeriodicJob:
    """A named piece of periodic work and how often it runs."""

    name: str
    every: timedelta
    func: JobFunc
    description: str


_REGISTRY: dict[str, PeriodicJob] = {}


def periodic(name: str, *, every: timedelta, description: str = "") -> Callable[[JobFunc], JobFunc]:
    """Declare ``func(session) -> summary`` as a job that runs once per ``every``."""
    if every <= timedelta(0):
        raise ValueError("a periodic job needs a positive period")

    def register(func: JobFunc) -> JobFunc:
        doc = (func.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = PeriodicJob(
            name=name, every=every, func=func, description=description or (doc[0] if doc else "")
        )
        return func

    return register


def registered_jobs() -> list[PeriodicJob]:
    """Every declared job, after importing each room's jobs module."""
    for module in JOB_MODULES:
        importlib.import_module(module)
    return sorted(_REGISTRY.values(), key=lambda job: job.name)


def get_job(name: str) -> PeriodicJob | None:
    registered_jobs()
    return _REGISTRY.get(name)
