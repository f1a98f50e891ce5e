"""Customer impact of an incident, measured live from signals against a baseline.

The estimators follow the simulator's ground-truth definitions (docs/simulator.md) so that
they can be checked against it:

* **sessions / customers affected**: funnel sessions whose entry step happened in
  [start, end) in an affected region, on a journey with a step mapped to an affected service
  (or listed by the incident); customers are their distinct customer ids (an anonymous
  session counts as one customer of its own).
* **lost completions** (per journey; ``lost_conversions`` for the journeys whose last step
  carries an order value): over sessions started in [start - 30 min, end) in the affected
  regions, for each transition into a step that depends on an affected service, the number of
  sessions that were expected to continue (sessions at the previous step times the baseline
  transition rate of their segment and channel) minus those that did; each such loss is
  carried to the journey's end with the baseline rates of the later transitions. Transitions
  the incident does not touch contribute nothing, so their random variation does not enter
  the estimate. Lost revenue prices lost conversions at the baseline mean order value of
  their segment and channel.
* **extra tickets**: tickets created in [start - 30 min, end + ticket lag) in the affected
  regions whose service is one of the incident's, minus the number expected there: the
  baseline tickets of those regions and services per session, times the sessions of the
  window.
* **customers_share**: customers affected / distinct customers with a session (any journey,
  any region) that started in [start, end); ``orders_share``: lost conversions / conversions
  the baseline expects from the sessions of the loss window; ``vip_affected``: a customer of
  the ``vip`` segment had an affected session; ``sessions_expected``: sessions the baseline
  expects on the affected journeys and regions in [start, end).
* **SLA breaches**: the incident's tickets (as for extra tickets) whose first response came
  later than ``frt_target_minutes`` calendar minutes after creation (or has not come yet),
  against the breach share of the baseline's tickets; the KPI catalogue's first response
  time is in business hours of the owning team, which is not used here.
* **sentiment**: a small word lexicon (:func:`sentiment_score`) over the opening texts of
  tickets created in [start, end + ticket lag) in the regions, customers exposed (an affected
  session) versus not; CSAT and NPS likewise, over answers received after the start.
* **baseline**: the same regions at the same hours ([start - 30 min, end) for funnel rates,
  [start - 30 min, end + ticket lag) for tickets) of the 7 days before and, once they have
  passed, the 7 days after, minus the windows in ``exclude`` (other incidents). Same hours
  because load, and with it latency and natural abandonment, follows the time of day: rates
  from other hours measured the simulator's checkout losses a few percent low.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from juncture.analytics import kpimath
from juncture.catalog import service as catalog_service
from juncture.incidents import severity
from juncture.incidents.common import aware, get_incident_or_raise, record_timeline
from juncture.incidents.enums import Sev, TimelineKind
from juncture.incidents.models import Incident, SeverityTier
from juncture.kit import clock
from juncture.signals import service as signals_service

#: Sessions that started this long before the incident can still be caught by it.
PRE_WINDOW = timedelta(minutes=30)
#: How long after the end tickets caused by the incident keep arriving (contact lag).
TICKET_LAG = timedelta(hours=3)
#: Days of baseline on each side of the incident.
BASELINE_DAYS = 7
#: A first response later than this (calendar minutes) breaches the SLA.
FRT_TARGET_MINUTES = 240
#: Width of one bucket of the chart series.
SERIES_STEP = timedelta(minutes=15)
#: The customer segment treated as VIP.
VIP_SEGMENT = "vip"
#: A stratum (segment, channel) needs this many baseline sessions at a step for its own rate.
MIN_STRATUM = 30

_NEGATIVE = frozenset(
    [
        "angry",
        "annoyed",
        "awful",
        "bad",
        "broken",
        "cancel",
        "charged",
        "crash",
        "crashed",
        "declined",
        "disappointed",
        "double",
        "error",
        "errors",
        "fail",
        "failed",
        "failing",
        "failure",
        "frustrated",
        "frustrating",
        "hang",
        "horrible",
        "impossible",
        "issue",
        "lost",
        "never",
        "not",
        "nothing",
        "problem",
        "refund",
        "slow",
        "stuck",
        "terrible",
        "timeout",
        "unacceptable",
        "unable",
        "useless",
        "waiting",
        "worst",
        "wrong",
    ]
)
_POSITIVE = frozenset(
    [
        "amazing",
        "appreciate",
        "easy",
        "excellent",
        "fast",
        "fine",
        "glad",
        "good",
        "great",
        "happy",
        "helpful",
        "love",
        "perfect",
        "quick",
        "resolved",
        "smooth",
        "thank",
        "thanks",
        "wonderful",
        "works",
    ]
)
_WORD = re.compile(r"[a-z']+")


def sentiment_score(text: str) -> float:
    """Score a text from -1 (negative) to 1 (positive) with a small word lexicon.

    Parameters
    ----------
    text : str
        Free text (already redacted).

    Returns
    -------
    float
        (positive words - negative words) / (positive + negative words); 0 without any.
    """
    words = _WORD.findall(text.lower())
    pos = sum(w in _POSITIVE for w in words)
    neg = sum(w in _NEGATIVE for w in words)
    return 0.0 if pos + neg == 0 else (pos - neg) / (pos + neg)


def _subtract(
    windows: Iterable[tuple[datetime, datetime]], holes: Sequence[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """Windows minus holes (all [start, end))."""
    out: list[tuple[datetime, datetime]] = []
    for lo, hi in windows:
        parts = [(lo, hi)]
        for h_lo, h_hi in holes:
            nxt: list[tuple[datetime, datetime]] = []
            for a, b in parts:
                if h_hi <= a or h_lo >= b:
                    nxt.append((a, b))
                    continue
                if a < h_lo:
                    nxt.append((a, h_lo))
                if h_hi < b:
                    nxt.append((h_hi, b))
            parts = nxt
        out.extend((a, b) for a, b in parts if b > a)
    return out


class _Rates:
    """Baseline transition rates and order values per (journey, step, stratum)."""

    def __init__(self, rows: Sequence[signals_service.StepCount]) -> None:
        self.count: dict[tuple[str, int, tuple[Any, ...]], int] = defaultdict(int)
        self.value: dict[tuple[str, int, tuple[Any, ...]], float] = defaultdict(float)
        for r in rows:
            self.count[(r.journey, r.step, r.dims)] += r.count
            self.count[(r.journey, r.step, ())] += r.count
            self.value[(r.journey, r.step, r.dims)] += r.value_sum
            self.value[(r.journey, r.step, ())] += r.value_sum

    def rate(self, journey: str, step: int, stratum: tuple[Any, ...]) -> float:
        """Baseline share of sessions at ``step - 1`` that reach ``step``."""
        prev = self.count.get((journey, step - 1, stratum), 0)
        if prev < MIN_STRATUM:
            stratum = ()
            prev = self.count.get((journey, step - 1, ()), 0)
        if prev == 0:
            return 0.0
        return min(1.0, self.count.get((journey, step, stratum), 0) / prev)

    def order_value(self, journey: str, step: int, stratum: tuple[Any, ...]) -> float:
        """Baseline mean value carried by events of ``step`` (0 when none carry one)."""
        n = self.count.get((journey, step, stratum), 0)
        if n < MIN_STRATUM:
            stratum = ()
            n = self.count.get((journey, step, ()), 0)
        return self.value.get((journey, step, stratum), 0.0) / n if n else 0.0


def _journey_map(session: Session) -> dict[str, list[set[str]]]:
    """Journey slug -> the services of each step, in order."""
    return {
        j.slug: [{s.slug for s in st.services} for st in sorted(j.steps, key=lambda s: s.position)]
        for j in catalog_service.list_journeys(session)
    }


def _touched(steps: list[set[str]], services: set[str]) -> list[bool]:
    """For each transition k = 1..K-1 (index k-1): does it depend on an affected service?

    The first transition also depends on the entry step's services (the entry page has to load
    before anyone can move on), as in the simulator."""
    out = []
    for k in range(1, len(steps)):
        deps = steps[k] | (steps[0] if k == 1 else set())
        out.append(bool(deps & services))
    return out


def measure(
    session: Session,
    *,
    services: Sequence[str],
    journeys: Sequence[str],
    regions: Sequence[str],
    start: datetime,
    end: datetime,
    now: datetime | None = None,
    exclude: Sequence[tuple[datetime, datetime]] = (),
    frt_target_minutes: int = FRT_TARGET_MINUTES,
) -> dict[str, Any]:
    """Measure an incident's customer impact from signals (see the module docstring).

    Parameters
    ----------
    session : Session
        Open session.
    services, journeys, regions : Sequence[str]
        Affected service, journey and region slugs (no regions: all regions).
    start, end : datetime
        When customers started and stopped feeling it (aware UTC).
    now : datetime, optional
        The current time [default: the clock]; baselines and tickets are read up to it.
    exclude : Sequence[tuple[datetime, datetime]]
        Windows left out of the baseline (other incidents in the same regions).
    frt_target_minutes : int
        First-response target (calendar minutes) for SLA breaches.

    Returns
    -------
    dict
        JSON-ready figures: window, sessions/customers affected and shares, lost conversions
        and revenue, journeys with loss, regions, VIP exposure, tickets (surge), sentiment,
        surveys of exposed and unexposed customers, SLA breaches, a 15-minute series and
        ``by_region``.
    """
    now = aware(now)
    start, end = clock.ensure_utc(start), clock.ensure_utc(end)
    end = max(start, min(end, now))
    jmap = _journey_map(session)
    svc = set(services)
    region_list = sorted(regions) or sorted(r.slug for r in catalog_service.list_regions(session))
    touched = {j: _touched(steps, svc) for j, steps in jmap.items()}
    affected_j = sorted({j for j, t in touched.items() if any(t)} | (set(journeys) & set(jmap)))
    for j in journeys:  # listed journeys without a matching service: every transition counts
        if j in jmap and not any(touched[j]):
            touched[j] = [True] * (len(jmap[j]) - 1)
    lo = start - PRE_WINDOW
    ticket_hi = min(end + TICKET_LAG, now)
    pad_lo, pad_hi = lo - timedelta(hours=1), min(end + timedelta(hours=1), now)

    # ---- baseline windows (same regions), without the incident and the excluded windows
    # The same hours of the days around the incident: load (and with it latency and natural
    # abandonment) follows the time of day, so other hours would bias the rates.
    shifted = [
        (lo + timedelta(days=d), min(now, end + TICKET_LAG + timedelta(days=d)))
        for d in range(-BASELINE_DAYS, BASELINE_DAYS + 1)
        if d != 0
    ]
    base_windows = _subtract(shifted, [(lo, end + TICKET_LAG), *exclude])
    # Funnel rates from exactly the loss window's hours (the ticket tail's later hours differ
    # in load: including them measured checkout losses a few percent low).
    rate_windows = _subtract(
        [(a, min(b, end + (a - lo))) for a, b in shifted], [(lo, end + TICKET_LAG), *exclude]
    )
    rates = _Rates(
        signals_service.funnel_step_counts(
            session,
            journeys=affected_j,
            regions=region_list,
            windows=rate_windows,
            by=("segment", "channel"),
        )
    )

    # ---- sessions: [pad_lo, pad_hi) read once; exposure and loss windows are subsets
    sessions = signals_service.funnel_sessions(
        session, journeys=affected_j, regions=region_list, start=pad_lo, end=pad_hi
    )
    lo_ms, start_ms, end_ms = clock.to_ms(lo), clock.to_ms(start), clock.to_ms(end)
    exposed = [s for s in sessions if start_ms <= s.started_ms < end_ms]

    def who(s: signals_service.FunnelSession) -> str:
        return s.customer_id if s.customer_id is not None else f"session:{s.session_id}"

    exposed_customers = {who(s) for s in exposed}
    vip_customers = {who(s) for s in exposed if s.segment == VIP_SEGMENT}
    everyone = signals_service.funnel_sessions(
        session, journeys=None, regions=None, start=start, end=end, span=timedelta(0)
    )
    active_customers = {who(s) for s in everyone}

    # ---- lost completions per journey (and by region)
    conversion_journeys = {
        j for j in affected_j if rates.order_value(j, len(jmap[j]) - 1, ()) > 0
    } or ({"purchase"} & set(affected_j))
    lost: dict[str, float] = defaultdict(float)
    expected_done: dict[str, float] = defaultdict(float)
    lost_value = 0.0
    by_region: dict[str, dict[str, float]] = {
        r: {
            "sessions_affected": 0,
            "customers_affected": 0,
            "lost_conversions": 0.0,
            "lost_revenue": 0.0,
            "extra_tickets": 0.0,
        }
        for r in region_list
    }
    per_bucket_expected: dict[int, float] = defaultdict(float)
    step_ms = int(SERIES_STEP.total_seconds() * 1000)
    for s in sessions:
        j = s.journey
        stratum = (s.segment, s.channel)
        steps = jmap[j]
        p = [rates.rate(j, k, stratum) for k in range(1, len(steps))]
        tail = [math.prod(p[k:]) for k in range(len(p) + 1)]  # tail[k]: from step k to the end
        if j in conversion_journeys:
            bucket = s.started_ms - s.started_ms % step_ms
            per_bucket_expected[bucket] += tail[0]
        if not (lo_ms <= s.started_ms < end_ms):
            continue
        expected_done[j] += tail[0]
        # Loss at each touched transition k: expected to continue minus did continue, carried
        # to the end with the later transitions' baseline rates.
        session_loss = 0.0
        for k in range(1, len(steps)):
            if touched[j][k - 1] and s.reached >= k:
                session_loss += (p[k - 1] - (1.0 if s.reached > k else 0.0)) * tail[k]
        lost[j] += session_loss
        if j in conversion_journeys:
            value = rates.order_value(j, len(steps) - 1, stratum)
            lost_value += session_loss * value
            if s.region in by_region:
                by_region[s.region]["lost_conversions"] += session_loss
                by_region[s.region]["lost_revenue"] += session_loss * value
    for s in exposed:
        if s.region in by_region:
            by_region[s.region]["sessions_affected"] += 1
    for r in region_list:
        by_region[r]["customers_affected"] = len({who(s) for s in exposed if s.region == r})
    lost_conversions = sum(lost[j] for j in conversion_journeys)
    expected_conversions = sum(expected_done[j] for j in conversion_journeys)

    # ---- tickets: the incident's services in its regions, against the per-session baseline
    base_sessions = sum(
        n
        for (j, k, dims), n in _entry_counts(session, region_list, base_windows).items()
        if k == 0 and dims == ()
    )
    window_sessions = sum(
        n
        for (j, k, dims), n in _entry_counts(session, region_list, [(lo, ticket_hi)]).items()
        if k == 0 and dims == ()
    )
    base_tickets = signals_service.count_tickets(
        session, windows=base_windows, regions=region_list, services=sorted(svc)
    )
    base_all = signals_service.count_tickets(session, windows=base_windows, regions=region_list)
    per_session = base_tickets / base_sessions if base_sessions else 0.0
    per_session_all = base_all / base_sessions if base_sessions else 0.0
    matching = signals_service.tickets_created(
        session, start=lo, end=ticket_hi, regions=region_list, services=sorted(svc)
    )
    all_window = signals_service.count_tickets(
        session, windows=[(lo, ticket_hi)], regions=region_list
    )
    expected_matching = per_session * window_sessions
    expected_all = per_session_all * window_sessions
    extra_tickets = len(matching) - expected_matching
    share_of_base = dict.fromkeys(region_list, 0)
    for t in matching:
        if t.region in share_of_base:
            share_of_base[t.region] += 1
    total_matching = max(1, len(matching))
    for r in region_list:
        by_region[r]["extra_tickets"] = extra_tickets * share_of_base[r] / total_matching

    # ---- SLA: first responses of the incident's tickets later than the target
    now_ms = clock.to_ms(now)
    target_ms = frt_target_minutes * 60_000

    def breached(t: signals_service.TicketRow) -> bool:
        answered = t.first_response_ms if t.first_response_ms is not None else now_ms
        return answered - t.created_ms > target_ms

    breaches = sum(breached(t) for t in matching)
    base_rows = (
        [
            t
            for w_lo, w_hi in base_windows
            for t in signals_service.tickets_created(
                session,
                start=w_lo,
                end=min(w_hi, now - timedelta(minutes=frt_target_minutes)),
                regions=region_list,
            )
        ]
        if base_windows
        else []
    )
    base_breach_share = sum(breached(t) for t in base_rows) / len(base_rows) if base_rows else 0.0
    expected_breaches = base_breach_share * len(matching)

    # ---- sentiment of opening texts, exposed vs unexposed customers
    window_tickets = signals_service.tickets_created(
        session, start=start, end=ticket_hi, regions=region_list
    )
    texts = signals_service.ticket_opening_texts(session, refs=[t.ref for t in window_tickets])
    sent: dict[str, list[float]] = {"exposed": [], "unexposed": []}
    for t in window_tickets:
        if t.ref in texts:
            group = "exposed" if t.customer_id in exposed_customers else "unexposed"
            sent[group].append(sentiment_score(texts[t.ref]))

    # ---- surveys after the start, exposed vs unexposed
    answers = signals_service.survey_responses(
        session, start=start, end=min(now, end + timedelta(days=BASELINE_DAYS))
    )
    surveys: dict[str, dict[str, Any]] = {}
    for group in ("exposed", "unexposed"):
        mine = [a for a in answers if (a.customer_id in exposed_customers) == (group == "exposed")]
        csat = [a.score for a in mine if a.kind == "csat"]
        nps = [a.score for a in mine if a.kind == "nps"]
        surveys[group] = {"csat_n": len(csat), "csat": None, "nps_n": len(nps), "nps": None}
        if csat:  # top-2-box share in percent, with its Wilson interval
            c = kpimath.csat(kpimath.histogram(csat, 1, 5))
            surveys[group] |= {
                "csat": round(100 * c.value, 1),
                "csat_low": round(100 * c.low, 1),
                "csat_high": round(100 * c.high, 1),
            }
        if nps:  # adjusted Wald: these groups are often a handful of answers
            net = kpimath.nps(kpimath.histogram(nps, 0, 10), method="adjusted_wald")
            surveys[group] |= {
                "nps": round(net.value, 1),
                "nps_low": round(net.low, 1),
                "nps_high": round(net.high, 1),
            }

    # ---- chart series
    series: list[dict[str, Any]] = []
    first_bucket = clock.to_ms(pad_lo) - clock.to_ms(pad_lo) % step_ms
    buckets = range(first_bucket, clock.to_ms(pad_hi), step_ms)
    sess_n: dict[int, int] = defaultdict(int)
    conv_n: dict[int, int] = defaultdict(int)
    for s in sessions:
        b = s.started_ms - s.started_ms % step_ms
        sess_n[b] += 1
        if s.journey in conversion_journeys and s.reached == len(jmap[s.journey]):
            conv_n[b] += 1
    tick_n: dict[int, int] = defaultdict(int)
    for t in signals_service.tickets_created(
        session, start=pad_lo, end=pad_hi, regions=region_list, services=sorted(svc)
    ):
        tick_n[t.created_ms - t.created_ms % step_ms] += 1
    for b in buckets:
        series.append(
            {
                "at": clock.from_ms(b).isoformat(),
                "sessions": sess_n.get(b, 0),
                "conversions": conv_n.get(b, 0),
                "expected_conversions": round(per_bucket_expected.get(b, 0.0), 2),
                "tickets": tick_n.get(b, 0),
            }
        )

    # Sessions the baseline expects on the affected journeys in [start, end): the mean rate of
    # entry-step events over the same-hours windows, times the window's length.
    # Windows without any session (before the data starts) are left out.
    per_second = []
    for w_lo, w_hi in rate_windows:
        n = sum(
            r.count
            for r in signals_service.funnel_step_counts(
                session, journeys=affected_j, regions=region_list, windows=[(w_lo, w_hi)]
            )
            if r.step == 0
        )
        if n:
            per_second.append(n / (w_hi - w_lo).total_seconds())
    sessions_expected = (
        sum(per_second) / len(per_second) * (end - start).total_seconds() if per_second else 0.0
    )
    journeys_lost = {j: round(v, 1) for j, v in sorted(lost.items())}
    minutes = (end - start).total_seconds() / 60
    return {
        "window": {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "minutes": round(minutes, 1),
            "loss_window_start": lo.isoformat(),
            "ticket_window_end": ticket_hi.isoformat(),
            "baseline": [[a.isoformat(), b.isoformat()] for a, b in base_windows],
        },
        "services": sorted(svc),
        "regions": region_list,
        "journeys": [j for j in affected_j if lost.get(j, 0.0) >= 1.0],
        "journeys_exposed": affected_j,
        "journeys_lost": journeys_lost,
        "sessions_affected": len(exposed),
        "customers_affected": len(exposed_customers),
        "customers_active": len(active_customers),
        "customers_share": round(len(exposed_customers) / len(active_customers), 4)
        if active_customers
        else 0.0,
        "customer_minutes_lost": round(len(exposed_customers) * minutes, 1),
        "sessions_expected": round(sessions_expected, 1),
        "vip_customers_affected": len(vip_customers),
        "vip_affected": bool(vip_customers),
        "lost_conversions": round(lost_conversions, 1),
        "expected_conversions": round(expected_conversions, 1),
        "orders_share": round(max(0.0, lost_conversions) / expected_conversions, 4)
        if expected_conversions
        else 0.0,
        "estimated_lost_revenue": round(lost_value, 2),
        "revenue_basis": "lost conversions x baseline mean order value by segment and channel",
        "tickets": {
            "matching": len(matching),
            "expected": round(expected_matching, 1),
            "extra": round(extra_tickets, 1),
            "surge_ratio": round(len(matching) / expected_matching, 2)
            if expected_matching
            else None,
            "all_in_window": all_window,
            "all_expected": round(expected_all, 1),
            "all_surge_ratio": round(all_window / expected_all, 2) if expected_all else None,
        },
        "sla": {
            "frt_target_minutes": frt_target_minutes,
            "breaches": breaches,
            "expected": round(expected_breaches, 1),
            "caused": round(max(0.0, breaches - expected_breaches), 1),
        },
        "sentiment": {
            g: {"n": len(v), "mean": round(sum(v) / len(v), 3) if v else None}
            for g, v in sent.items()
        },
        "surveys": surveys,
        "series": series,
        "by_region": {
            r: {k: round(v, 1) if isinstance(v, float) else v for k, v in d.items()}
            for r, d in by_region.items()
        },
    }


def _entry_counts(
    session: Session, regions: Sequence[str], windows: Sequence[tuple[datetime, datetime]]
) -> dict[tuple[str, int, tuple[Any, ...]], int]:
    """Funnel events per (journey, step) of all journeys in the regions over the windows."""
    return {
        (r.journey, r.step, r.dims): r.count
        for r in signals_service.funnel_step_counts(
            session, journeys=None, regions=regions, windows=windows
        )
    }


def _other_windows(
    session: Session, incident: Incident, now: datetime
) -> list[tuple[datetime, datetime]]:
    """Windows of the other incidents sharing a region (kept out of the baseline)."""
    mine = set(incident.regions)
    out = []
    started = clock.ensure_utc(incident.started_at)
    reach = timedelta(days=BASELINE_DAYS + 2)
    near = select(Incident).where(
        Incident.id != incident.id,
        Incident.started_at >= started - 2 * reach,
        Incident.started_at <= started + reach,
    )
    for other in session.scalars(near):
        if mine and other.regions and not (mine & set(other.regions)):
            continue
        o_end = other.impact_ended_at or other.resolved_at or now
        out.append(
            (clock.ensure_utc(other.started_at) - PRE_WINDOW, clock.ensure_utc(o_end) + TICKET_LAG)
        )
    return out


def incident_window(incident: Incident, now: datetime) -> tuple[datetime, datetime]:
    """An incident's impact window: started_at to impact end, else resolution, else now."""
    end = incident.impact_ended_at or incident.resolved_at or now
    return clock.ensure_utc(incident.started_at), min(clock.ensure_utc(end), now)


def refresh_impact(
    session: Session, *, incident_id: int, now: datetime | None = None
) -> dict[str, Any]:
    """Re-measure an incident's impact, link its tickets and re-suggest its severity.

    Stores ``impact`` (the :func:`measure` figures plus ``linked_tickets``) and
    ``impact_computed_at``; sets ``suggested_severity`` from the configured tiers and
    ``impact_outgrown`` when the suggestion is more severe than the severity; records one
    IMPACT timeline entry per tier the impact outgrew (``impact:outgrown:<tier>``).

    Parameters
    ----------
    session : Session
        Open session.
    incident_id : int
        The incident.
    now : datetime, optional
        The current time [default: the clock].

    Returns
    -------
    dict
        The stored impact.
    """
    from juncture.incidents import linking  # linking imports this module's constants

    now = aware(now)
    incident = get_incident_or_raise(session, incident_id=incident_id)
    start, end = incident_window(incident, now)
    impact = measure(
        session,
        services=list(incident.services),
        journeys=list(incident.journeys),
        regions=list(incident.regions),
        start=start,
        end=end,
        now=now,
        exclude=_other_windows(session, incident, now),
    )
    links = linking.link_tickets(session, incident_id=incident_id, now=now)
    impact["tickets"]["linked"] = links["linked"]
    rules = [
        severity.TierRule.from_criteria(t.tier, t.criteria)
        for t in session.scalars(select(SeverityTier))
    ]
    suggested, reasons = severity.suggest(rules, impact)
    impact["suggested_severity"] = {"tier": str(suggested), "reasons": reasons}
    incident.impact = impact
    incident.impact_computed_at = now
    incident.suggested_severity = str(suggested)
    outgrown = severity.more_severe(suggested, incident.severity)
    incident.impact_outgrown = outgrown
    if outgrown:
        order = list(Sev)
        # every tier between the current severity (exclusive) and the suggestion (inclusive)
        for tier in order[order.index(Sev(suggested)) : order.index(Sev(incident.severity))]:
            record_timeline(
                session,
                incident_id=incident.id,
                kind=TimelineKind.IMPACT,
                text=f"Measured impact now meets {tier.upper()}: {'; '.join(reasons)}",
                at=now,
                actor="juncture",
                data={"tier": str(tier), "reasons": reasons},
                source_key=f"impact:outgrown:{tier}",
            )
    session.flush()
    return impact


#: A stored impact younger than this is current; older ones are measured again on request.
FRESH = timedelta(seconds=60)


def current_impact(
    session: Session, *, incident_id: int, refresh: bool = False, now: datetime | None = None
) -> Incident:
    """The incident with a current measured impact: the stored one when younger than
    :data:`FRESH`, else (or with ``refresh``) measured again with :func:`refresh_impact`."""
    at = aware(now)
    incident = get_incident_or_raise(session, incident_id=incident_id)
    computed = incident.impact_computed_at
    if refresh or computed is None or not incident.impact or at - computed > FRESH:
        refresh_impact(session, incident_id=incident_id, now=at)
    return incident
