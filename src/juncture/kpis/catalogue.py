"""The KPI catalogue: one definition per KPI, read by the service, the API, the pages and the docs.

A definition says what the number means (formula, unit, good direction), where it comes from
(rollups, or the incrementally maintained ticket state) and how it can be sliced. The
computation lives in ``juncture.kpis.compute``; this module is data only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["up", "down"]
Family = Literal["cx", "ops", "journey"]

#: Every slice a KPI may support; ``location`` is the customer's region in this release.
SLICES = (
    "service",
    "journey",
    "region",
    "channel",
    "team",
    "segment",
    "location",
    "severity",
    "root_cause",
)


@dataclass(frozen=True)
class KpiDef:
    key: str
    name: str
    family: Family
    unit: str  # "%", "points", "score", "hours", "ms", "per 1k", "count"
    direction: Direction  # which way is good
    source: str  # the stored signals it is computed from
    formula: str  # human definition, as in docs/kpis.md
    slices: tuple[str, ...] = field(default_factory=tuple)
    interval: bool = False  # computed with a 95% interval
    available: bool = True  # False: its source room does not exist yet
    unavailable_reason: str = ""


_SURVEY = ("region", "channel", "segment", "location")
_TICKET = ("team", "service", "region", "channel", "segment", "location")
_METRIC = ("service", "region", "location")
_FUNNEL = ("journey", "region", "channel", "segment", "location")
_INCIDENT = ("severity", "root_cause", "service", "region")

KPIS: tuple[KpiDef, ...] = (
    # ------------------------------------------------------------------ CX
    KpiDef(
        "csat",
        "CSAT",
        "cx",
        "%",
        "up",
        "survey responses of kind csat (1-5), from hourly or daily survey rollups",
        "share of CSAT responses scoring 4 or 5, x100; Wilson 95% interval",
        _SURVEY,
        interval=True,
    ),
    KpiDef(
        "csat_mean",
        "CSAT mean score",
        "cx",
        "score",
        "up",
        "survey responses of kind csat (1-5)",
        "mean CSAT score on the 1-5 scale; t 95% interval",
        _SURVEY,
        interval=True,
    ),
    KpiDef(
        "nps",
        "NPS",
        "cx",
        "points",
        "up",
        "survey responses of kind nps (0-10)",
        "% promoters (9-10) - % detractors (0-6), from -100 to 100; Wald 95% interval "
        "on the difference of the two multinomial shares",
        _SURVEY,
        interval=True,
    ),
    KpiDef(
        "ces",
        "CES",
        "cx",
        "score",
        "up",
        "survey responses of kind ces (1-7, 7 = very easy)",
        "mean Customer Effort Score on the 1-7 scale (higher is easier); t 95% interval",
        _SURVEY,
        interval=True,
    ),
    KpiDef(
        "ces_easy",
        "CES share easy",
        "cx",
        "%",
        "up",
        "survey responses of kind ces (1-7)",
        "share of CES responses scoring 5, 6 or 7, x100; Wilson 95% interval",
        _SURVEY,
        interval=True,
    ),
    KpiDef(
        "frt_median",
        "First response time (median)",
        "cx",
        "minutes",
        "down",
        "ticket state (created, first agent reply), per ticket",
        "median business minutes from a ticket's creation to the first agent reply, over tickets "
        "created in the period that have been answered; business hours follow the owning "
        "team's calendar (time zone, working days, holidays)",
        _TICKET,
    ),
    KpiDef(
        "frt_p90",
        "First response time (p90)",
        "cx",
        "minutes",
        "down",
        "ticket state (created, first agent reply)",
        "90th percentile of the business-minutes first response time (as frt_median)",
        _TICKET,
    ),
    KpiDef(
        "ttr_median",
        "Time to resolution (median)",
        "cx",
        "hours",
        "down",
        "ticket state (created, resolved)",
        "median calendar hours from creation to the last resolution, over tickets created in "
        "the period that are resolved",
        _TICKET,
    ),
    KpiDef(
        "resolution_rate",
        "Resolution rate",
        "cx",
        "%",
        "up",
        "ticket state",
        "share of tickets created in the period that are resolved (solved or closed) now, x100",
        _TICKET,
        interval=True,
    ),
    KpiDef(
        "fcr",
        "First-contact resolution",
        "cx",
        "%",
        "up",
        "ticket state (replies, reassignments, reopens)",
        "share of resolved tickets resolved with at most one agent reply, never reassigned and "
        "never reopened, x100",
        _TICKET,
        interval=True,
    ),
    KpiDef(
        "reopen_rate",
        "Reopen rate",
        "cx",
        "%",
        "down",
        "ticket state (reopen count)",
        "share of resolved tickets that were reopened at least once, x100",
        _TICKET,
        interval=True,
    ),
    KpiDef(
        "repeat_contact_rate",
        "Repeat contacts",
        "cx",
        "%",
        "down",
        "ticket state (customer, creation time)",
        "share of tickets with a known customer whose customer opened another ticket in the "
        "7 days before, x100",
        _TICKET,
        interval=True,
    ),
    KpiDef(
        "escalation_rate",
        "Escalation rate",
        "cx",
        "%",
        "down",
        "ticket state (priority and when it was set)",
        "share of tickets whose priority was raised to high or urgent after creation, x100",
        _TICKET,
        interval=True,
    ),
    KpiDef(
        "handoff_rate",
        "Reassignment (hand-off) rate",
        "cx",
        "%",
        "down",
        "ticket state (reassignment count)",
        "share of tickets reassigned at least once, x100",
        _TICKET,
        interval=True,
    ),
    KpiDef(
        "ticket_volume",
        "Tickets created",
        "cx",
        "count",
        "down",
        "ticket state (creation time)",
        "number of tickets created in the period",
        _TICKET,
    ),
    KpiDef(
        "tickets_per_1k_orders",
        "Tickets per 1,000 orders",
        "cx",
        "per 1k",
        "down",
        "ticket state (creation time) and funnel rollups at the order step",
        "tickets created / orders x1000; orders are sessions reaching the order step "
        "(setting JUNCTURE_ORDER_STEP, default purchase/paid)",
        ("region", "channel", "segment", "location"),
    ),
    KpiDef(
        "negative_sentiment",
        "Negative-sentiment share",
        "cx",
        "%",
        "down",
        "review and mention rollups (rating 1-5)",
        "share of rated reviews and mentions rating 1 or 2 of 5, x100 (text sentiment of "
        "tickets arrives with the tickets room)",
        ("region", "location"),
        interval=True,
    ),
    # ------------------------------------------------------------------ Ops
    KpiDef(
        "availability",
        "Availability",
        "ops",
        "%",
        "up",
        "metric rollups: availability (0-1) per service",
        "mean of the services' availability readings, x100",
        _METRIC,
    ),
    KpiDef(
        "slo_attainment",
        "SLO attainment",
        "ops",
        "%",
        "up",
        "metric rollups: availability per service, and each service's SLO by tier",
        "share of hourly availability readings at or above the service's SLO target "
        "(tier 1: 99.9%, tier 2: 99.5%, tier 3: 99.0%), x100",
        _METRIC,
    ),
    KpiDef(
        "error_budget_remaining",
        "Error budget remaining",
        "ops",
        "%",
        "up",
        "metric rollups: availability per service, and its SLO",
        "1 - (1 - availability) / (1 - SLO target) over the period, x100 (negative when the "
        "budget is overspent); several services: the lowest",
        _METRIC,
    ),
    KpiDef(
        "latency_p95",
        "Latency p95",
        "ops",
        "ms",
        "down",
        "metric rollups: latency_p95_ms",
        "mean of the services' reported p95 latency readings",
        _METRIC,
    ),
    KpiDef(
        "error_rate",
        "Error rate",
        "ops",
        "%",
        "down",
        "metric rollups: error_rate (0-1)",
        "mean of the services' error-rate readings, x100",
        _METRIC,
    ),
    KpiDef(
        "change_failure_rate",
        "Change failure rate",
        "ops",
        "%",
        "down",
        "deploy rollups (status)",
        "share of deploys that failed or were rolled back, x100",
        ("service", "region", "location"),
        interval=True,
    ),
    KpiDef(
        "mtta",
        "MTTA",
        "ops",
        "minutes",
        "down",
        "alerts (detect room): when each fired and was acknowledged",
        "mean minutes from an alert firing to its acknowledgement (an alert resolved without "
        "one counts to its resolution), over alerts that fired in the period; incidents will "
        "be the source once the incidents room exists",
        ("service", "severity"),
    ),
    KpiDef(
        "mttr",
        "MTTR",
        "ops",
        "minutes",
        "down",
        "alerts (detect room): when each fired and was resolved",
        "mean minutes from an alert firing to its resolution, over alerts that fired in the "
        "period and are resolved; incidents will be the source once the incidents room exists",
        ("service", "severity"),
    ),
    KpiDef(
        "incidents",
        "Incidents",
        "ops",
        "count",
        "down",
        "incidents (incidents room), by declaration time",
        "number of incidents declared in the period; by severity, root cause, service or region "
        "(an incident naming several services or regions counts once in each)",
        _INCIDENT,
    ),
    KpiDef(
        "incident_mtta",
        "Incident MTTA",
        "ops",
        "minutes",
        "down",
        "incidents: detected (else declared) and acknowledged times",
        "mean minutes from an incident's detection (its declaration when it has no detection "
        "time) to its acknowledgement, over incidents declared in the period and acknowledged",
        _INCIDENT,
    ),
    KpiDef(
        "incident_mttr",
        "Incident MTTR",
        "ops",
        "minutes",
        "down",
        "incidents: started (customer impact began) and resolved times",
        "mean minutes from the start of customer impact to resolution, over incidents declared "
        "in the period and resolved",
        _INCIDENT,
    ),
    KpiDef(
        "customer_minutes_lost",
        "Customer-minutes lost",
        "ops",
        "count",
        "down",
        "incidents: measured customer impact",
        "sum over incidents declared in the period of customers affected x minutes of impact "
        "(from the measured impact; incidents never measured are left out)",
        _INCIDENT,
    ),
    # ------------------------------------------------------------------ journeys
    KpiDef(
        "conversion",
        "Conversion",
        "journey",
        "%",
        "up",
        "funnel rollups (sessions reaching each step)",
        "sessions reaching a journey's last step / sessions entering its first step, x100",
        _FUNNEL,
        interval=True,
    ),
    KpiDef(
        "dropoff",
        "Drop-off",
        "journey",
        "%",
        "down",
        "funnel rollups",
        "at a step: 1 - sessions reaching it / sessions reaching the step before, x100 "
        "(filter step=journey/step; without it, the journey's overall drop-off)",
        _FUNNEL,
        interval=True,
    ),
)

CATALOGUE: dict[str, KpiDef] = {k.key: k for k in KPIS}
