"""Ground truth of a simulated world: incidents with their true impact, interventions, anomalies."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

TRUTH_SCHEMA = 1


def iso(ts: datetime) -> str:
    """Format a UTC datetime as RFC 3339 with a ``Z`` suffix (seconds precision).

    Parameters
    ----------
    ts : datetime
        An aware UTC datetime.

    Returns
    -------
    str
        For example ``2026-11-02T09:15:00Z``.
    """
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class Impact:
    """The true customer impact of one incident, from the generator's counterfactual.

    ``sessions_affected`` counts sessions that started in an affected region during the window
    on a journey with a step mapped to an affected service; ``customers_affected`` their distinct
    customers. ``failed_sessions``, ``abandoned_sessions``, ``lost_conversions``,
    ``lost_revenue`` and ``extra_tickets`` are differences between the world as generated and the
    same world (same random draws) without this incident. ``customer_impacting`` is true when
    at least 50 sessions were degraded and the incident lost at least 10 completions (all
    journeys), failed at least 25 sessions, or caused at least 5 tickets.
    """

    customer_impacting: bool = False

    sessions_affected: int = 0
    customers_affected: int = 0
    sessions_degraded: int = 0
    failed_sessions: int = 0
    abandoned_sessions: int = 0
    lost_conversions: int = 0
    lost_revenue: float = 0.0
    lost_completions: dict[str, int] = field(default_factory=dict)
    extra_tickets: int = 0
    ticket_ids: list[str] = field(default_factory=list)
    by_region: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(slots=True)
class IncidentTruth:
    """An injected fault: where, when, how big, why, and what it cost customers."""

    id: str
    title: str
    service: str
    services: list[str]
    regions: list[str]
    start: datetime
    end: datetime
    region_starts: dict[str, datetime]
    kind: str
    latency_multiplier: float
    error_rate: float
    cause: str
    deploy_id: str | None
    change_id: str | None
    version: str | None
    rolled_back: bool
    impact: Impact = field(default_factory=Impact)


@dataclass(slots=True)
class InterventionTruth:
    """An intervention and its true effect measured against its counterfactual."""

    id: str
    kind: str
    description: str
    start: datetime
    scope: dict[str, Any]
    metric: str
    configured_effect: float
    true_effect: float
    true_relative_effect: float | None
    n: int
    details: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class PromotionTruth:
    """A promotion or peak, with when it was announced."""

    id: str
    name: str
    regions: list[str]
    start: datetime
    end: datetime
    announced_at: datetime
    traffic_multiplier: float
    conversion_multiplier: float


@dataclass(slots=True)
class AnomalyWindow:
    """A window where one series departs from its normal behaviour because of an incident."""

    series: dict[str, str]
    start: datetime
    end: datetime
    incident_id: str


@dataclass(slots=True)
class Truth:
    """Everything the generator knows that the signals alone do not tell."""

    seed: int
    start: datetime
    end: datetime
    days: int
    company: str
    incidents: list[IncidentTruth] = field(default_factory=list)
    interventions: list[InterventionTruth] = field(default_factory=list)
    promotions: list[PromotionTruth] = field(default_factory=list)
    anomaly_windows: list[AnomalyWindow] = field(default_factory=list)
    deploys: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the truth as JSON-ready data (timestamps as RFC 3339 strings).

        Returns
        -------
        dict
            The layout documented in docs/simulator.md ("Ground truth").
        """
        body = _jsonable(asdict(self))
        assert isinstance(body, dict)
        return {"schema": TRUTH_SCHEMA, **body}

    def to_json(self) -> str:
        """Return the truth as indented, key-sorted JSON.

        Returns
        -------
        str
            The JSON text.
        """
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def write(self, path: Path) -> None:
        """Write the truth as JSON to ``path``.

        Parameters
        ----------
        path : Path
            Destination file.
        """
        path.write_text(self.to_json() + "\n", encoding="utf-8")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    return value


def load_truth(path: Path) -> dict[str, Any]:
    """Read a ``truth.json`` file.

    Parameters
    ----------
    path : Path
        The file written by :func:`juncture.simulate.output.write_files`.

    Returns
    -------
    dict
        The parsed JSON.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data
