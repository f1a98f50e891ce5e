"""The world generator: traffic, service health, faults, deploys, funnels and the customer side."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.signal import lfilter

from juncture.simulate import support, text
from juncture.simulate.catalog import DEFAULT_CATALOG, Catalog, JourneySpec
from juncture.simulate.scenario import Fault, Scenario
from juncture.simulate.truth import (
    AnomalyWindow,
    Impact,
    IncidentTruth,
    InterventionTruth,
    PromotionTruth,
    Truth,
)

logger = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]
Obj = npt.NDArray[np.object_]

DEFAULT_START = datetime(2026, 8, 24, tzinfo=UTC)  # a Monday
SIGNAL_TYPES = ("metric", "funnel", "ticket", "survey", "review", "deploy")
SEGMENTS = ("new", "returning", "vip")
DEVICES = ("desktop", "mobile", "tablet", "other")
METRICS = (
    ("requests", "count"),
    ("latency_p50_ms", "ms"),
    ("latency_p95_ms", "ms"),
    ("error_rate", "ratio"),
    ("availability", "ratio"),
)
# Ticket category and channel of contacts that follow a failure at "journey.step".
FAILURE_CATEGORY = {
    "purchase.cart": "website-problem",
    "purchase.checkout": "website-problem",
    "purchase.paid": "payment-issue",
    "track-order.delivery-notice": "delivery-status",
    "return-item.return-label": "returns",
    "return-item.refund": "refund",
}
CATEGORY_SERVICE = {
    "delivery-status": "shipping",
    "returns": "returns",
    "refund": "payments",
    "payment-issue": "payments",
    "website-problem": "web",
    "app-problem": "web",
    "account-access": "web",
}
# Streams of randomness, one per component, so that one part's draws do not shift another's.
_STREAMS = {
    name: i
    for i, name in enumerate(
        (
            "traffic",
            "sessions",
            "health",
            "faults",
            "deploys",
            "funnel",
            "tickets",
            "queue",
            "surveys",
            "reviews",
            "metrics",
            "text",
        )
    )
}


def _rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAMS[stream]])


def _choice(
    rng: np.random.Generator, shares: dict[str, float], keys: tuple[str, ...], n: int
) -> I64:
    p = np.array([shares.get(k, 0.0) for k in keys], dtype=np.float64)
    p = p / p.sum()
    return np.asarray(rng.choice(len(keys), size=n, p=p), dtype=np.int64)


def _cat(codes: npt.ArrayLike, categories: Sequence[str]) -> pd.Categorical[str]:
    return pd.Categorical.from_codes(
        np.asarray(codes, dtype=np.int64), categories=pd.Index(list(categories))
    )


def _ar1(rng: np.random.Generator, shape: tuple[int, ...], phi: float, sd: float) -> F64:
    """AR(1) noise along the last axis with stationary standard deviation ``sd``."""
    eps = rng.standard_normal(shape) * sd * math.sqrt(1 - phi * phi)
    out = lfilter([1.0], [1.0, -phi], eps, axis=-1)
    return np.asarray(out, dtype=np.float64)


# ---------------------------------------------------------------------------- internal state


@dataclass(slots=True)
class _FaultPlan:
    """A fault as the generator applies it (minutes since start, service and region indices)."""

    id: str
    title: str
    service: int
    regions: list[int]
    region_start: dict[int, float]
    end: float
    kind: str
    latency_multiplier: float
    error_rate: float
    cause: str
    effects: list[tuple[int, float]] = field(default_factory=list)  # (service, share)
    deploy_id: str | None = None
    change_id: str | None = None
    version: str | None = None
    rolled_back: bool = False

    @property
    def start(self) -> float:
        return min(self.region_start.values())

    def weights(self, region: int, n_minutes: int) -> tuple[int, F64]:
        """Effect weight in [0, 1] per minute: a 3-minute ramp in and out of the window."""
        start = self.region_start[region]
        lo = max(0, math.floor(start))
        hi = min(n_minutes, math.ceil(self.end))
        if hi <= lo:
            return lo, np.zeros(0)
        mid = np.arange(lo, hi, dtype=np.float64) + 0.5
        w = np.clip((mid - start) / 3.0, 0, 1) * np.clip((self.end - mid) / 3.0, 0, 1)
        return lo, w


@dataclass(slots=True)
class _Health:
    """Per-minute p95 latency ratio and error rate for every service and region."""

    lat: F32  # (S, R, T) p95 relative to nominal
    err: F32  # (S, R, T)


@dataclass(slots=True)
class _Patch:
    """Removes one fault from the actual health inside its window (for its counterfactual)."""

    fault: _FaultPlan
    pieces: dict[tuple[int, int], tuple[int, F64, F64]]  # (s, r) -> (lo, lat factor, err keep)

    def apply(self, s: int, r: I64, m: I64, lat: F64, err: F64) -> None:
        for (ps, pr), (lo, lat_f, err_keep) in self.pieces.items():
            if ps != s:
                continue
            sel = np.nonzero((r == pr) & (m >= lo) & (m < lo + len(lat_f)))[0]
            if len(sel):
                off = m[sel] - lo
                lat[sel] = lat[sel] / lat_f[off]
                err[sel] = 1.0 - (1.0 - err[sel]) / err_keep[off]


@dataclass(slots=True)
class _JourneyRun:
    """Outcome of a journey's sessions under one version of the world's health."""

    reached: Bool  # (n, K)
    failed: Bool  # (n, K-1) error at transition k
    abandoned: Bool  # (n, K-1) left because of slowness at transition k


# ---------------------------------------------------------------------------- the World


@dataclass
class World:
    """A generated world: columnar signals per type, plus the ground truth.

    Attributes
    ----------
    scenario : Scenario
        The scenario it was generated from.
    catalog : Catalog
        The company's teams, services, journeys, regions and channels.
    seed, days : int
        Generation parameters.
    start, end : datetime
        The simulated period (UTC).
    truth : Truth
        Ground truth (incidents and their impact, interventions, promotions, anomalies).
    """

    scenario: Scenario
    catalog: Catalog
    seed: int
    days: int
    start: datetime
    end: datetime
    truth: Truth
    _frames: dict[str, pd.DataFrame]

    def frames(self) -> dict[str, pd.DataFrame]:
        """Return the signals as one DataFrame per type, sorted by ``ts``.

        Returns
        -------
        dict of str to pandas.DataFrame
            Keys are the signal types. Columns are the v1 fields (``ts`` as
            ``datetime64[ns, UTC]``); nested fields are flattened: metric ``labels.region`` is
            column ``region``, survey ``touchpoint`` is ``touchpoint_kind`` and
            ``touchpoint_ref``. Missing optional values are None (strings) or NaN (numbers).
        """
        return self._frames

    def counts(self) -> dict[str, int]:
        """Return the number of records per signal type.

        Returns
        -------
        dict of str to int
            Counts keyed by type.
        """
        return {k: len(v) for k, v in self._frames.items()}

    @property
    def n_events(self) -> int:
        """Total number of signal records."""
        return sum(self.counts().values())

    def iter_records(self, batch_size: int = 10_000) -> Iterator[list[dict[str, Any]]]:
        """Yield the signals as lists of v1 records (dicts), day by day and type by type.

        Parameters
        ----------
        batch_size : int
            Maximum records per list. Each list holds one type and is sorted by time.

        Yields
        ------
        list of dict
            Records exactly as in docs/signals.md (``ts`` as RFC 3339 with ``Z``).
        """
        from juncture.simulate.records import iter_batches

        yield from iter_batches(self._frames, self.start, self.days, batch_size)

    def content_hash(self) -> str:
        """Return a SHA-256 over all frames and the truth (same seed and scenario, same hash).

        Returns
        -------
        str
            Hex digest.
        """
        h = hashlib.sha256()
        for kind in SIGNAL_TYPES:
            frame = self._frames[kind]
            h.update(kind.encode())
            h.update(",".join(frame.columns).encode())
            h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        h.update(self.truth.to_json().encode())
        return h.hexdigest()


# ---------------------------------------------------------------------------- generator


def generate(
    scenario: Scenario | None = None,
    *,
    days: int = 90,
    seed: int = 7,
    start: datetime | None = None,
    catalog: Catalog = DEFAULT_CATALOG,
) -> World:
    """Generate a world from a scenario.

    Parameters
    ----------
    scenario : Scenario, optional
        The scenario (the shipped default when None).
    days : int
        Length of the simulated period in days (at least 1).
    seed : int
        Seed of every random draw; the same seed and scenario give identical output.
    start : datetime, optional
        First instant (UTC; naive means UTC; rounded down to the minute). Defaults to
        ``DEFAULT_START`` (2026-08-24T00:00Z).
    catalog : Catalog
        The company's catalog.

    Returns
    -------
    World
        Columnar signals and ground truth.

    Notes
    -----
    The world is built minute by minute as numpy arrays (``R`` regions × ``T`` minutes, ``S``
    services × ``R`` × ``T``); sessions, tickets, surveys and reviews are then drawn from them
    as columns, so no per-event Python object exists until records are requested.

    Funnel model (also in docs/simulator.md). A session of journey ``j`` enters at step 0 and
    reaches step ``k`` (k ≥ 1) at time ``t_k`` when it reached step ``k-1`` and three
    independent draws pass::

        F_k(t) = 1 - prod_{s in S_k} (1 - e_{s,r}(t))                     # an error stops it
        A_k(t) = 1 - exp(-alpha * sum_{s in S_k} max(0, l_{s,r}(t) - 1))  # slowness: it leaves
        P(reach k | reached k-1) = (1 - F_k) * (1 - A_k)
                                   * min(0.99, p_k * m_segment * m_channel * m_promotion)

    where ``S_k`` is the set of services mapped to step ``k`` (plus those of the entry step
    when ``k = 1``), ``e_{s,r}(t)`` the error rate and ``l_{s,r}(t)`` the p95 latency of
    service ``s`` in region ``r`` relative to its nominal p95, ``alpha`` the scenario's
    ``funnel.latency_sensitivity`` and ``p_k`` the scenario's healthy conversion. The same
    uniform draws are reused for the world without faults, and without each single fault
    (common random numbers); the differences are the true impacts in the truth.
    """
    if scenario is None:
        from juncture.simulate.scenario import load_scenario

        scenario = load_scenario()
    if days < 1:
        raise ValueError("days must be at least 1")
    if start is None:
        start = DEFAULT_START
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    start = start.astimezone(UTC).replace(second=0, microsecond=0)
    return _Generator(scenario, catalog, days=days, seed=seed, start=start).run()


class _Generator:
    def __init__(
        self, scenario: Scenario, catalog: Catalog, *, days: int, seed: int, start: datetime
    ) -> None:
        self.sc = scenario
        self.cat = catalog
        self.days = days
        self.seed = seed
        self.start = start
        self.T = days * 1440
        self.regions = [r.slug for r in catalog.regions]
        self.services = [s.slug for s in catalog.services]
        self.svc_index = {s: i for i, s in enumerate(self.services)}
        self.reg_index = {r: i for i, r in enumerate(self.regions)}
        self.R = len(self.regions)
        self.S = len(self.services)
        self.start64 = np.datetime64(start.replace(tzinfo=None), "s")

    # ------------------------------------------------------------------ helpers

    def ts(self, seconds: npt.NDArray[Any]) -> pd.DatetimeIndex:
        secs = np.asarray(np.floor(seconds), dtype=np.int64)
        values = self.start64 + secs.astype("timedelta64[s]")
        return pd.DatetimeIndex(values.astype("datetime64[ns]")).tz_localize("UTC")

    def at(self, minutes: float) -> datetime:
        return self.start + timedelta(minutes=float(minutes))

    def local_clock(self, tz: str) -> tuple[I64, I64]:
        """Local minute of day and weekday (Mon = 0) for every simulated minute."""
        hours = pd.date_range(self.start, periods=self.days * 24 + 1, freq="h", tz="UTC")
        local = hours.tz_convert(ZoneInfo(tz))
        delta = local.tz_localize(None) - hours.tz_localize(None)
        offsets = (delta.total_seconds().to_numpy() // 60).astype(np.int64)
        t = np.arange(self.T, dtype=np.int64)
        local_min = t + offsets[t // 60] + self.start.hour * 60 + self.start.minute
        base_dow = self.start.weekday()
        return local_min % 1440, (base_dow + local_min // 1440) % 7

    # ------------------------------------------------------------------ run

    def run(self) -> World:
        self.build_traffic()
        self.build_sessions()
        self.build_health()
        self.build_deploys_and_faults()
        self.apply_faults()
        self.run_funnels()
        self.build_tickets()
        self.build_surveys()
        self.build_reviews()
        self.build_metrics()
        truth = self.build_truth()
        frames = {
            "metric": self.metric_frame,
            "funnel": self.funnel_frame,
            "ticket": self.ticket_frame,
            "survey": self.survey_frame,
            "review": self.review_frame,
            "deploy": self.deploy_frame,
        }
        logger.info("simulated %d days: %s", self.days, {k: len(v) for k, v in frames.items()})
        return World(
            scenario=self.sc,
            catalog=self.cat,
            seed=self.seed,
            days=self.days,
            start=self.start,
            end=self.at(self.T),
            truth=truth,
            _frames=frames,
        )

    # ------------------------------------------------------------------ traffic

    def build_traffic(self) -> None:
        rng = _rng(self.seed, "traffic")
        tr = self.sc.traffic
        daily = np.asarray(tr.daily_profile, dtype=np.float64)
        weekly = np.asarray(tr.weekly_profile, dtype=np.float64)
        daily_n = daily / daily.mean()
        weekly_n = weekly / weekly.mean()
        xp = np.arange(-0.5, 25.0, 1.0)
        fp = np.concatenate([[daily_n[-1]], daily_n, [daily_n[0]]])
        t = np.arange(self.T, dtype=np.float64)
        growth = (1.0 + tr.growth_per_week) ** (t / (7 * 1440))
        self.local_min = np.zeros((self.R, self.T), dtype=np.int64)
        self.local_dow = np.zeros((self.R, self.T), dtype=np.int64)
        lam = np.zeros((self.R, self.T))
        self.promo_traffic = np.ones((self.R, self.T))
        self.promo_conv = np.ones((self.R, self.T))
        for p in self.sc.promotions:
            lo, hi = p.start_day * 1440, (p.start_day + p.days) * 1440
            ramp = np.clip((t - lo) / 60, 0, 1) * np.clip((hi - t) / 60, 0, 1)
            for slug in p.regions:
                r = self.reg_index[slug]
                self.promo_traffic[r] *= 1 + (p.traffic_multiplier - 1) * ramp
                self.promo_conv[r] *= 1 + (p.conversion_multiplier - 1) * ramp
        n_hours = self.days * 24
        for r, region in enumerate(self.cat.regions):
            mod, dow = self.local_clock(region.timezone)
            self.local_min[r], self.local_dow[r] = mod, dow
            shape = np.interp(mod / 60.0, xp, fp) * weekly_n[dow]
            noise = np.exp(_ar1(rng, (n_hours,), 0.7, tr.noise) - tr.noise**2 / 2)
            base = tr.sessions_per_day * tr.region_share.get(region.slug, 0.0) / 1440
            lam[r] = base * shape * growth * self.promo_traffic[r] * noise[t.astype(np.int64) // 60]
        self.lam = lam
        mean = lam.mean(axis=1, keepdims=True)
        self.load = lam / np.where(mean > 0, mean, 1.0)

    # ------------------------------------------------------------------ sessions

    def build_sessions(self) -> None:
        rng = _rng(self.seed, "sessions")
        tr = self.sc.traffic
        counts = rng.poisson(self.lam)
        n = int(counts.sum())
        flat = np.repeat(np.arange(self.R * self.T, dtype=np.int64), counts.ravel())
        region = flat // self.T
        minute = flat % self.T
        sec = minute * 60 + rng.integers(0, 60, size=n)
        order = np.argsort(sec, kind="stable")
        self.n_sessions = n
        self.s_region = region[order]
        self.s_sec = sec[order].astype(np.float64)
        self.s_channel = _choice(rng, tr.channel_share, ("web", "app"), n)
        u = rng.random(n)
        web_dev = np.where(u < 0.55, 0, np.where(u < 0.9, 1, 2))
        app_dev = np.where(u < 0.85, 1, 2)
        self.s_device = np.where(self.s_channel == 0, web_dev, app_dev).astype(np.int64)
        self.s_segment = _choice(rng, tr.segment_share, SEGMENTS, n)
        journeys = tuple(j.slug for j in self.cat.journeys)
        self.s_journey = _choice(rng, tr.journey_share, journeys, n)
        # Customers: contiguous blocks per (region, segment).
        n_cust = self.sc.company.customers
        reg_share = np.array([tr.region_share.get(r, 0.0) for r in self.regions])
        seg_share = np.array([tr.segment_share[s] for s in SEGMENTS])
        block = np.maximum(1, np.floor(n_cust * np.outer(reg_share, seg_share))).astype(np.int64)
        offsets = np.concatenate([[0], np.cumsum(block.ravel())[:-1]]).reshape(block.shape)
        self.cust_block, self.cust_offset = block, offsets
        self.n_customers = int(block.sum())
        b = block[self.s_region, self.s_segment]
        self.s_customer = offsets[self.s_region, self.s_segment] + (rng.random(n) * b).astype(
            np.int64
        )
        self.customer_ids = np.array([f"c{i:07d}" for i in range(self.n_customers)], dtype=object)
        self.customer_region = np.repeat(np.repeat(np.arange(self.R), len(SEGMENTS)), block.ravel())
        self.customer_segment = np.repeat(np.tile(np.arange(len(SEGMENTS)), self.R), block.ravel())
        seg = self.sc.segments
        mu = np.array([math.log(seg[s].order_value_mean) for s in SEGMENTS])
        sigma = np.array([seg[s].order_value_sigma for s in SEGMENTS])
        sg = sigma[self.s_segment]
        self.s_value = np.round(
            np.exp(mu[self.s_segment] - sg**2 / 2 + sg * rng.standard_normal(n)), 2
        )
        self.s_contact_u = rng.random(n)
        self.s_lag = rng.exponential(self.sc.support.contact_lag_minutes * 60, size=n)

    # ------------------------------------------------------------------ health

    def nominal(self) -> tuple[F64, F64, F64, F64]:
        p50, ratio, err, rps = [], [], [], []
        for svc in self.cat.services:
            o = self.sc.metrics.services.get(svc.slug)
            p50.append(o.latency_p50_ms if o and o.latency_p50_ms else svc.latency_p50_ms)
            ratio.append(o.p95_ratio if o and o.p95_ratio else svc.p95_ratio)
            err.append(o.error_rate if o and o.error_rate is not None else svc.error_rate)
            rps.append(
                o.requests_per_session if o and o.requests_per_session else svc.requests_per_session
            )
        return np.array(p50), np.array(ratio), np.array(err), np.array(rps)

    def build_health(self) -> None:
        rng = _rng(self.seed, "health")
        m = self.sc.metrics
        self.p50, self.p95_ratio, self.err0, self.rps = self.nominal()
        shape = (self.S, self.R, self.T)
        self.region_lat = np.exp(rng.normal(0, 0.08, size=(self.S, self.R)))
        drift_days = np.cumsum(
            rng.normal(0, m.drift_per_day, size=(self.S, self.R, self.days + 1)), axis=2
        )
        x = np.arange(self.T) / 1440.0
        drift = np.empty(shape)
        for s in range(self.S):
            for r in range(self.R):
                drift[s, r] = np.interp(x, np.arange(self.days + 1), drift_days[s, r])
        load = np.maximum(self.load - 1.0, -0.5)[None, :, :]
        lat_noise = _ar1(rng, shape, 0.95, m.latency_noise)
        lat = np.exp(lat_noise + drift) * (1 + m.load_sensitivity * load)
        err_noise = _ar1(rng, shape, 0.9, m.error_noise) - m.error_noise**2 / 2
        err = self.err0[:, None, None] * np.exp(err_noise + 2 * drift) * (1 + 0.5 * load)
        self.base = _Health(lat.astype(np.float32), np.clip(err, 0, 0.5).astype(np.float32))

    # ------------------------------------------------------------------ deploys and faults

    def _team_clock(self, team: str) -> ZoneInfo:
        for t in self.cat.teams:
            if t.slug == team:
                return ZoneInfo(t.timezone)
        return ZoneInfo("UTC")

    def _fault_effects(self, service: int) -> list[tuple[int, float]]:
        effects = [(service, 1.0)]
        root = self.services[service]
        share = self.sc.incidents.propagation
        if share > 0:
            for i, svc in enumerate(self.cat.services):
                if root in svc.depends_on:
                    effects.append((i, share))
        return effects

    def build_deploys_and_faults(self) -> None:
        rng = _rng(self.seed, "deploys")
        frng = _rng(self.seed, "faults")
        dp = self.sc.deploys
        releases: list[dict[str, Any]] = []
        for s, svc in enumerate(self.cat.services):
            tz = self._team_clock(svc.owner)
            for d in range(self.days):
                day = (self.start + timedelta(days=d)).date()
                local0 = datetime(day.year, day.month, day.day, 9, tzinfo=tz)
                rate = dp.per_service_per_weekday * (
                    dp.weekend_factor if local0.weekday() >= 5 else 1
                )
                for _ in range(int(rng.poisson(rate))):
                    when = local0 + timedelta(minutes=float(rng.uniform(0, 8 * 60)))
                    minute = (when - self.start).total_seconds() / 60
                    if 0 <= minute < self.T:
                        releases.append({"service": s, "minute": minute, "kind": "normal"})
        releases.sort(key=lambda x: (x["minute"], x["service"]))
        faults: list[_FaultPlan] = []
        gap = dp.region_gap_minutes
        for rel in releases:
            u = rng.random()
            if u < dp.failed_fraction:
                rel["kind"] = "failed"
            elif u < dp.failed_fraction + dp.bad_fraction:
                rel["kind"] = "bad"
                k = 1 if rng.random() < 0.6 else (2 if rng.random() < 0.75 else self.R)
                regions = sorted(rng.choice(self.R, size=min(k, self.R), replace=False).tolist())
                kind = ("latency", "errors", "both")[int(rng.choice(3, p=[0.5, 0.35, 0.15]))]
                dur = float(np.clip(rng.lognormal(math.log(45), 0.6), 15, 240))
                starts = {r: rel["minute"] + r * gap + float(rng.uniform(0, 5)) for r in regions}
                end = max(min(starts.values()) + dur, max(starts.values()) + 10)
                fault = _FaultPlan(
                    id="",
                    title=f"{self.services[rel['service']]} degraded after a release",
                    service=rel["service"],
                    regions=regions,
                    region_start=starts,
                    end=end,
                    kind=kind,
                    latency_multiplier=float(rng.uniform(2.0, 5.0)) if kind != "errors" else 1.0,
                    error_rate=float(rng.uniform(0.05, 0.35)) if kind != "latency" else 0.0,
                    cause="deploy",
                    effects=self._fault_effects(rel["service"]),
                    rolled_back=bool(rng.random() < dp.rollback_fraction),
                )
                rel["fault"] = fault
                faults.append(fault)
        # Random faults of other causes.
        n_random = int(frng.poisson(self.sc.incidents.random_per_week * self.days / 7))
        for _ in range(n_random):
            faults.append(self._random_fault(frng))
        # Scripted faults.
        for f in self.sc.incidents.scripted:
            first_day = f.start_day if f.start_day >= 0 else self.days + f.start_day
            if not 0 <= first_day * 1440 < self.T:
                logger.info("scripted fault %r starts after the simulated period", f.title)
                continue
            plan = self._scripted_fault(f, frng)
            faults.append(plan)
            if f.cause == "deploy":
                rel = {
                    "service": plan.service,
                    "minute": max(0.0, plan.start - 3.0),
                    "kind": "bad",
                    "fault": plan,
                    "regions": plan.regions,
                }
                releases.append(rel)
        # Fix-forward releases end the bad releases that are not rolled back.
        for rel in list(releases):
            bad: _FaultPlan | None = rel.get("fault")
            if rel["kind"] == "bad" and bad is not None and not bad.rolled_back:
                releases.append({"service": rel["service"], "minute": bad.end, "kind": "fix"})
        releases.sort(key=lambda x: (x["minute"], x["service"]))
        self.build_deploy_records(releases, rng)
        faults.sort(key=lambda x: (x.start, x.service))
        for i, plan_i in enumerate(faults, start=1):
            plan_i.id = f"inc-{i:04d}"
        self.faults = faults
        self.releases = releases

    def _random_fault(self, rng: np.random.Generator) -> _FaultPlan:
        cause = ("dependency", "capacity", "network", "config")[
            int(rng.choice(4, p=[0.35, 0.25, 0.2, 0.2]))
        ]
        if cause == "dependency":
            slug = ("payments", "shipping", "search", "notifications")[
                int(rng.choice(4, p=[0.5, 0.2, 0.15, 0.15]))
            ]
            kind = "errors" if rng.random() < 0.6 else "both"
        elif cause == "capacity":
            slug = ("web", "search", "catalog", "checkout")[int(rng.integers(4))]
            kind = "latency"
        elif cause == "network":
            slug, kind = "web", "both"
        else:
            slug = self.services[int(rng.integers(self.S))]
            kind = "errors"
        if slug not in self.svc_index:
            slug = self.services[0]
        k = 1 if rng.random() < 0.7 else (2 if rng.random() < 0.7 else self.R)
        regions = sorted(rng.choice(self.R, size=min(k, self.R), replace=False).tolist())
        day = int(rng.integers(self.days))
        # Start at a busy local hour of the first region (08-23 local).
        r0 = regions[0]
        local_hour = float(rng.uniform(8, 23))
        t0 = day * 1440 + ((local_hour * 60 - self.local_min[r0, day * 1440]) % 1440)
        t0 = float(min(t0, self.T - 30))
        dur = float(np.clip(rng.lognormal(math.log(40), 0.6), 15, 180))
        return _FaultPlan(
            id="",
            title=f"{slug} {cause} fault",
            service=self.svc_index[slug],
            regions=regions,
            region_start=dict.fromkeys(regions, t0),
            end=t0 + dur,
            kind=kind,
            latency_multiplier=float(rng.uniform(2.0, 5.0)) if kind != "errors" else 1.0,
            error_rate=float(rng.uniform(0.05, 0.4)) if kind != "latency" else 0.0,
            cause=cause,
            effects=self._fault_effects(self.svc_index[slug]),
        )

    def _scripted_fault(self, f: Fault, rng: np.random.Generator) -> _FaultPlan:
        t0 = (f.start_day if f.start_day >= 0 else self.days + f.start_day) * 1440
        regions = sorted(self.reg_index[r] for r in f.regions)
        return _FaultPlan(
            id="",
            title=f.title or f"{f.service} {f.cause} fault",
            service=self.svc_index[f.service],
            regions=regions,
            region_start=dict.fromkeys(regions, t0),
            end=t0 + f.duration_minutes,
            kind=f.kind,
            latency_multiplier=f.latency_multiplier if f.kind != "errors" else 1.0,
            error_rate=f.error_rate if f.kind != "latency" else 0.0,
            cause=f.cause,
            effects=self._fault_effects(self.svc_index[f.service]),
            rolled_back=f.cause == "deploy"
            and bool(rng.random() < self.sc.deploys.rollback_fraction),
        )

    def build_deploy_records(
        self, releases: list[dict[str, Any]], rng: np.random.Generator
    ) -> None:
        gap = self.sc.deploys.region_gap_minutes
        minor = dict.fromkeys(range(self.S), 0)
        patch = dict.fromkeys(range(self.S), 0)
        cols: dict[str, list[Any]] = {
            k: []
            for k in ("sec", "id", "service", "version", "actor", "change_id", "region", "status")
        }

        def emit(
            sec: float, rid: str, s: int, version: str, actor: str, change: str, r: int, status: str
        ) -> None:
            cols["sec"].append(sec)
            cols["id"].append(rid)
            cols["service"].append(self.services[s])
            cols["version"].append(version)
            cols["actor"].append(actor)
            cols["change_id"].append(change)
            cols["region"].append(self.regions[r])
            cols["status"].append(status)

        counts = {"releases": 0, "failed": 0, "bad": 0, "rolled_back": 0}
        for n, rel in enumerate(releases, start=1):
            s = rel["service"]
            if rng.random() < 0.15:
                minor[s] += 1
                patch[s] = 0
            else:
                patch[s] += 1
            version = f"2.{minor[s]}.{patch[s]}"
            dep_id = f"dep-{n:05d}"
            change = f"CHG-{n:05d}"
            owner = self.cat.services[s].owner
            actor = f"{owner}-{int(rng.integers(1, 7))}" if rng.random() < 0.7 else "ci-bot"
            counts["releases"] += 1
            kind = rel["kind"]
            fault: _FaultPlan | None = rel.get("fault")
            if kind == "failed":
                counts["failed"] += 1
                emit(
                    rel["minute"] * 60,
                    f"{dep_id}-{self.regions[0]}",
                    s,
                    version,
                    actor,
                    change,
                    0,
                    "failed",
                )
                continue
            if fault is not None:
                counts["bad"] += 1
                fault.deploy_id, fault.change_id, fault.version = dep_id, change, version
            for r in range(self.R):
                if fault is not None and r in fault.region_start and "regions" not in rel:
                    minute = fault.region_start[r] - float(rng.uniform(0, 5))
                elif fault is not None and "regions" in rel:
                    minute = rel["minute"] + (0 if r in fault.regions else gap * (r + 1))
                else:
                    minute = rel["minute"] + r * gap
                if minute >= self.T:
                    continue
                emit(
                    max(0.0, minute) * 60,
                    f"{dep_id}-{self.regions[r]}",
                    s,
                    version,
                    actor,
                    change,
                    r,
                    "succeeded",
                )
                if fault is not None and fault.rolled_back and fault.end < self.T:
                    emit(
                        fault.end * 60,
                        f"{dep_id}-{self.regions[r]}-rollback",
                        s,
                        version,
                        actor,
                        change,
                        r,
                        "rolled_back",
                    )
            if fault is not None and fault.rolled_back:
                counts["rolled_back"] += 1
        self.deploy_counts = counts
        frame = pd.DataFrame(cols)
        frame = frame.sort_values(["sec", "id"], kind="stable").reset_index(drop=True)
        out = pd.DataFrame(
            {
                "ts": self.ts(frame["sec"].to_numpy()),
                "id": frame["id"],
                "service": frame["service"],
                "version": frame["version"],
                "actor": frame["actor"],
                "change_id": frame["change_id"],
                "region": frame["region"],
                "status": frame["status"],
            }
        )
        self.deploy_frame = out

    def apply_faults(self) -> None:
        lat = self.base.lat.copy()
        err = self.base.err.copy()
        self.patches: list[_Patch] = []
        for f in self.faults:
            pieces: dict[tuple[int, int], tuple[int, F64, F64]] = {}
            for r in f.regions:
                lo, w = f.weights(r, self.T)
                if not len(w):
                    continue
                for s, share in f.effects:
                    lat_f = 1.0 + share * (f.latency_multiplier - 1.0) * w
                    err_keep = 1.0 - np.minimum(share * f.error_rate * w, 0.99)
                    sl = slice(lo, lo + len(w))
                    lat[s, r, sl] = lat[s, r, sl] * lat_f
                    err[s, r, sl] = 1.0 - (1.0 - err[s, r, sl]) * err_keep
                    pieces[(s, r)] = (lo, lat_f, err_keep)
            self.patches.append(_Patch(f, pieces))
        self.actual = _Health(lat, err)

    # ------------------------------------------------------------------ funnels

    def _journey_plan(self, j: JourneySpec) -> list[list[int]]:
        """Service indices per transition k = 1..K-1."""
        plan = []
        for k in range(1, len(j.steps)):
            names = set(j.steps[k].services)
            if k == 1:
                names |= set(j.steps[0].services)
            plan.append(sorted(self.svc_index[n] for n in names))
        return plan

    def _run_journey(
        self,
        ji: int,
        idx: I64,
        health: _Health,
        patch: _Patch | None = None,
    ) -> _JourneyRun:
        j = self.cat.journeys[ji]
        plan = self.j_plan[ji]
        K = len(j.steps)
        n = len(idx)
        reached = np.zeros((n, K), dtype=bool)
        reached[:, 0] = True
        failed = np.zeros((n, K - 1), dtype=bool)
        abandoned = np.zeros((n, K - 1), dtype=bool)
        r = self.s_region[idx]
        alpha = self.sc.funnel.latency_sensitivity
        u_err, u_lat, u_int, prob, times = (
            self.j_u_err[ji],
            self.j_u_lat[ji],
            self.j_u_int[ji],
            self.j_prob[ji],
            self.j_times[ji],
        )
        pos = self.j_pos[idx]
        for k in range(1, K):
            m = np.minimum((times[pos, k] // 60).astype(np.int64), self.T - 1)
            keep = np.ones(n)
            excess = np.zeros(n)
            for s in plan[k - 1]:
                lat = health.lat[s, r, m].astype(np.float64)
                err = health.err[s, r, m].astype(np.float64)
                if patch is not None:
                    patch.apply(s, r, m, lat, err)
                keep *= 1.0 - err
                excess += np.maximum(0.0, lat - 1.0)
            f_k = 1.0 - keep
            a_k = 1.0 - np.exp(-alpha * excess)
            prev = reached[:, k - 1]
            fail = prev & (u_err[pos, k - 1] < f_k)
            aband = prev & ~fail & (u_lat[pos, k - 1] < a_k)
            cont = prev & ~fail & ~aband & (u_int[pos, k - 1] < prob[pos, k - 1])
            failed[:, k - 1] = fail
            abandoned[:, k - 1] = aband
            reached[:, k] = cont
        return _JourneyRun(reached, failed, abandoned)

    def run_funnels(self) -> None:
        rng = _rng(self.seed, "funnel")
        fn = self.sc.funnel
        self.j_plan = [self._journey_plan(j) for j in self.cat.journeys]
        self.j_idx: list[I64] = []
        self.j_u_err: list[F32] = []
        self.j_u_lat: list[F32] = []
        self.j_u_int: list[F32] = []
        self.j_prob: list[F64] = []
        self.j_times: list[F64] = []
        self.j_pos = np.zeros(self.n_sessions, dtype=np.int64)
        self.j_actual: list[_JourneyRun] = []
        self.j_cf: list[_JourneyRun] = []
        seg_mult = np.array([self.sc.segments[s].conversion_multiplier for s in SEGMENTS])
        for ji, j in enumerate(self.cat.journeys):
            idx = np.nonzero(self.s_journey == ji)[0]
            n, K = len(idx), len(j.steps)
            self.j_pos[idx] = np.arange(n)
            self.j_idx.append(idx)
            self.j_u_err.append(rng.random((n, K - 1), dtype=np.float32))
            self.j_u_lat.append(rng.random((n, K - 1), dtype=np.float32))
            self.j_u_int.append(rng.random((n, K - 1), dtype=np.float32))
            gaps = rng.exponential(fn.step_gap_minutes * 60, size=(n, K - 1))
            times = np.concatenate(
                [self.s_sec[idx][:, None], self.s_sec[idx][:, None] + np.cumsum(gaps, axis=1)],
                axis=1,
            )
            self.j_times.append(times)
            prob = np.empty((n, K - 1))
            for k in range(1, K):
                p = fn.conversion[f"{j.slug}.{j.steps[k].slug}"] * np.ones(n)
                if j.slug == "purchase":
                    p = p * seg_mult[self.s_segment[idx]]
                    p = p * np.where(self.s_channel[idx] == 1, fn.app_multiplier, 1.0)
                    m = np.minimum((times[:, k] // 60).astype(np.int64), self.T - 1)
                    p = p * self.promo_conv[self.s_region[idx], m]
                prob[:, k - 1] = np.minimum(p, 0.99)
            self.j_prob.append(prob)
            self.j_actual.append(self._run_journey(ji, idx, self.actual))
            self.j_cf.append(self._run_journey(ji, idx, self.base))
        self.build_funnel_frame()
        self.mark_incident_hits()

    def build_funnel_frame(self) -> None:
        secs, sess, jstep, values = [], [], [], []
        self.step_names: list[tuple[str, str]] = []
        offset = 0
        for ji, j in enumerate(self.cat.journeys):
            run = self.j_actual[ji]
            rows, ks = np.nonzero(run.reached)
            idx = self.j_idx[ji]
            secs.append(self.j_times[ji][rows, ks])
            sess.append(idx[rows])
            jstep.append(offset + ks)
            val = np.full(len(rows), np.nan)
            if j.slug == "purchase":
                last = ks == len(j.steps) - 1
                val[last] = self.s_value[idx[rows[last]]]
            values.append(val)
            self.step_names.extend((j.slug, st.slug) for st in j.steps)
            offset += len(j.steps)
        sec = np.concatenate(secs)
        keep = sec < self.T * 60
        order = np.argsort(sec[keep], kind="stable")
        s_idx = np.concatenate(sess)[keep][order]
        js = np.concatenate(jstep)[keep][order]
        # Strings are built with pandas' vectorised string methods (Arrow-backed when available).
        session_ids = "s" + pd.Series(np.arange(self.n_sessions)).astype(str).str.zfill(7)
        journey_cat = _cat(
            np.array([[j.slug for j in self.cat.journeys].index(a) for a, _ in self.step_names])[
                js
            ],
            categories=[j.slug for j in self.cat.journeys],
        )
        step_labels = sorted({b for _, b in self.step_names})
        step_code = np.array([step_labels.index(b) for _, b in self.step_names])
        step_cat = _cat(step_code[js], categories=step_labels)
        sid = pd.Series(session_ids.array.take(s_idx))
        ids = sid + "-" + pd.Series(step_cat).astype(str)
        self.funnel_frame = pd.DataFrame(
            {
                "ts": self.ts(sec[keep][order]),
                "id": ids.array,
                "session_id": sid.array,
                "journey": journey_cat,
                "step": step_cat,
                "customer_id": self.customer_ids[self.s_customer[s_idx]],
                "region": _cat(self.s_region[s_idx], categories=self.regions),
                "channel": _cat(self.s_channel[s_idx], categories=["web", "app"]),
                "device": _cat(self.s_device[s_idx], categories=list(DEVICES)),
                "segment": _cat(self.s_segment[s_idx], categories=list(SEGMENTS)),
                "value": np.concatenate(values)[keep][order],
            }
        )

    def mark_incident_hits(self) -> None:
        """Per session: did a fault make it fail or abandon (vs the no-fault world)?"""
        hit = np.zeros(self.n_sessions, dtype=bool)
        err_hit = np.zeros(self.n_sessions, dtype=bool)
        self.s_fail_k = np.full(self.n_sessions, -1, dtype=np.int64)
        self.s_fail_kind = np.zeros(self.n_sessions, dtype=np.int64)  # 0 none, 1 error, 2 slow
        self.s_fail_sec = np.zeros(self.n_sessions)
        for ji in range(len(self.cat.journeys)):
            idx = self.j_idx[ji]
            a, c = self.j_actual[ji], self.j_cf[ji]
            bad_a = a.failed | a.abandoned
            bad_c = c.failed | c.abandoned
            hit[idx] = (bad_a & ~bad_c).any(axis=1)
            err_hit[idx] = (a.failed & ~c.failed).any(axis=1)
            any_bad = bad_a.any(axis=1)
            k = np.argmax(bad_a, axis=1)
            rows = np.nonzero(any_bad)[0]
            self.s_fail_k[idx[rows]] = k[rows] + 1
            self.s_fail_kind[idx[rows]] = np.where(a.failed[rows, k[rows]], 1, 2)
            self.s_fail_sec[idx[rows]] = self.j_times[ji][rows, k[rows] + 1]
        self.s_hit = hit
        self.s_err_hit = err_hit

    def contact_prob(self, ji: int, k: Any, kind: Any, segment: Any) -> F64:
        sp = self.sc.support
        K = len(self.cat.journeys[ji].steps)
        pos = (
            (np.asarray(k) - 1) / max(K - 2, 1)
            if K > 2
            else np.ones_like(np.asarray(k), dtype=np.float64)
        )
        p_err = (
            sp.contact_on_error_first + (sp.contact_on_error_last - sp.contact_on_error_first) * pos
        )
        mult = np.array([self.sc.segments[s].contact_multiplier for s in SEGMENTS])[segment]
        p = np.where(np.asarray(kind) == 1, p_err, sp.contact_on_latency_abandon) * mult
        return np.asarray(np.minimum(p, 1.0), dtype=np.float64)

    def _contacts(self, ji: int, rows: I64, run: _JourneyRun, *, aligned: bool = False) -> Bool:
        """Whether each session (rows of journey ji) contacts support under ``run``.

        ``run`` covers the whole journey, or only ``rows`` when ``aligned``.
        """
        failed = run.failed if aligned else run.failed[rows]
        bad = failed | (run.abandoned if aligned else run.abandoned[rows])
        any_bad = bad.any(axis=1)
        k = np.argmax(bad, axis=1)
        kind = np.where(failed[np.arange(len(k)), k], 1, 2)
        idx = self.j_idx[ji][rows]
        p = self.contact_prob(ji, k + 1, kind, self.s_segment[idx])
        return np.asarray(any_bad & (self.s_contact_u[idx] < p), dtype=bool)

    # ------------------------------------------------------------------ tickets

    def build_tickets(self) -> None:
        rng = _rng(self.seed, "tickets")
        sp = self.sc.support
        cats = self.cat.ticket_categories
        # Session-driven contacts.
        s_contact = np.zeros(self.n_sessions, dtype=bool)
        for ji in range(len(self.cat.journeys)):
            rows = np.arange(len(self.j_idx[ji]))
            s_contact[self.j_idx[ji]] = self._contacts(ji, rows, self.j_actual[ji])
        sess = np.nonzero(s_contact)[0]
        created_sess = self.s_fail_sec[sess] + self.s_lag[sess]
        cat_sess = np.empty(len(sess), dtype=np.int64)
        service_sess = np.full(len(sess), -1, dtype=np.int64)
        for ji, j in enumerate(self.cat.journeys):
            mine = np.nonzero(self.s_journey[sess] == ji)[0]
            if not len(mine):
                continue
            k = self.s_fail_k[sess[mine]]
            for kk in np.unique(k):
                sel = mine[k == kk]
                name = FAILURE_CATEGORY.get(f"{j.slug}.{j.steps[int(kk)].slug}", "website-problem")
                code = np.full(len(sel), cats.index(name))
                if name == "website-problem":
                    code[self.s_channel[sess[sel]] == 1] = cats.index("app-problem")
                cat_sess[sel] = code
                # The service most degraded at the failing step.
                services = self.j_plan[ji][int(kk) - 1]
                m = np.minimum((self.s_fail_sec[sess[sel]] // 60).astype(np.int64), self.T - 1)
                r = self.s_region[sess[sel]]
                score = np.stack(
                    [self.actual.err[s, r, m] * 10 + self.actual.lat[s, r, m] for s in services]
                )
                service_sess[sel] = np.asarray(services)[np.argmax(score, axis=0)]
        # Background contacts driven by traffic.
        counts = rng.poisson(self.lam * sp.tickets_per_1000_sessions / 1000.0)
        flat = np.repeat(np.arange(self.R * self.T, dtype=np.int64), counts.ravel())
        nb = len(flat)
        region_b = flat // self.T
        created_b = (flat % self.T) * 60 + rng.uniform(0, 60, size=nb)
        contact_mult = np.array([self.sc.segments[s].contact_multiplier for s in SEGMENTS])
        seg_p = np.array([self.sc.traffic.segment_share[s] for s in SEGMENTS]) * contact_mult
        seg_b = rng.choice(3, size=nb, p=seg_p / seg_p.sum())
        cust_b = self.cust_offset[region_b, seg_b] + (
            rng.random(nb) * self.cust_block[region_b, seg_b]
        ).astype(np.int64)
        cat_b = _choice(rng, sp.category_share, cats, nb)
        service_b = np.array([self.svc_index.get(CATEGORY_SERVICE.get(c, ""), -1) for c in cats])[
            cat_b
        ]
        # All tickets, in creation order.
        created = np.concatenate([created_sess, created_b])
        src_session = np.concatenate([sess, np.full(nb, -1, dtype=np.int64)])
        region = np.concatenate([self.s_region[sess], region_b])
        segment = np.concatenate([self.s_segment[sess], seg_b])
        customer = np.concatenate([self.s_customer[sess], cust_b])
        category = np.concatenate([cat_sess, cat_b])
        service = np.concatenate([service_sess, service_b])
        order = np.argsort(created, kind="stable")
        keep = order[created[order] < self.T * 60]
        t = support.TicketInputs(
            created=created[keep],
            session=src_session[keep],
            region=region[keep],
            segment=segment[keep],
            customer=customer[keep],
            category=category[keep],
            service=service[keep],
        )
        self.tickets = t
        # Exposure: the customer's session was hit by a fault within the previous 7 days.
        t.exposed = self._recent_hit(t.customer, t.created, 7 * 86400) | (
            (t.session >= 0) & self.s_hit[np.maximum(t.session, 0)]
        )
        result = support.simulate_support(
            self.sc,
            self.cat,
            t,
            rng=_rng(self.seed, "queue"),
            text_rng=_rng(self.seed, "text"),
            start=self.start,
            days=self.days,
            regions=self.regions,
            services=self.services,
            customer_ids=self.customer_ids,
        )
        self.support_result = result
        frame = result.events
        frame.insert(0, "ts", self.ts(frame.pop("sec").to_numpy()))
        self.ticket_frame = frame

    def _recent_hit(self, customer: I64, when: F64, window: float) -> Bool:
        hits = np.nonzero(self.s_hit)[0]
        if not len(hits) or not len(customer):
            return np.zeros(len(customer), dtype=bool)
        right = pd.DataFrame(
            {"customer": self.s_customer[hits], "t": self.s_fail_sec[hits], "hit": 1}
        ).sort_values("t", kind="stable")
        left = pd.DataFrame({"customer": customer, "t": when, "row": np.arange(len(customer))})
        merged = pd.merge_asof(
            left.sort_values("t", kind="stable"),
            right,
            on="t",
            by="customer",
            direction="backward",
            tolerance=int(window),
        )
        out = np.zeros(len(customer), dtype=bool)
        out[merged["row"].to_numpy()] = merged["hit"].fillna(0).to_numpy() > 0
        return out

    # ------------------------------------------------------------------ surveys

    def build_surveys(self) -> None:
        rng = _rng(self.seed, "surveys")
        trng = _rng(self.seed, "text")
        sv = self.sc.surveys
        parts: list[pd.DataFrame] = [self.support_result.csat]
        # CES after checkout: sessions that reached the checkout step of the purchase journey.
        ji = [j.slug for j in self.cat.journeys].index("purchase")
        j = self.cat.journeys[ji]
        k_checkout = [s.slug for s in j.steps].index("checkout")
        run = self.j_actual[ji]
        rows = np.nonzero(run.reached[:, k_checkout])[0]
        rows = rows[rng.random(len(rows)) < sv.ces_response_rate]
        if len(rows):
            kk = k_checkout  # transition into the next step (paid)
            failed = run.failed[rows, kk] if kk < run.failed.shape[1] else np.zeros(len(rows), bool)
            slow = (
                run.abandoned[rows, kk] if kk < run.failed.shape[1] else np.zeros(len(rows), bool)
            )
            idx = self.j_idx[ji][rows]
            latent = (
                5.9
                - 2.6 * failed
                - 1.4 * slow
                - 1.2 * self.s_hit[idx]
                + rng.normal(0, 0.9, len(rows))
            )
            score = np.clip(np.floor(latent + rng.random(len(rows))), 1, 7).astype(np.int64)
            sec = self.j_times[ji][rows, kk] + rng.uniform(60, 300, len(rows))
            comment = self._comments(
                trng, score >= 5, score <= 3, text.CES_EASY, (), text.CES_HARD, 0.2
            )
            parts.append(
                pd.DataFrame(
                    {
                        "sec": sec,
                        "kind": "ces",
                        "score": score,
                        "comment": comment,
                        "customer_id": self.customer_ids[self.s_customer[idx]],
                        "touchpoint_kind": "journey_step",
                        "touchpoint_ref": f"{j.slug}/{j.steps[kk].slug}",
                        "region": np.array(self.regions, dtype=object)[self.s_region[idx]],
                        "channel": np.array(["web", "app"], dtype=object)[self.s_channel[idx]],
                        "segment": np.array(SEGMENTS, dtype=object)[self.s_segment[idx]],
                    }
                )
            )
        # Periodic NPS: weekly waves to customers with a session in the previous 28 days.
        waves = math.ceil(self.days / 7)
        for w in range(waves):
            lo = max(0, (w * 7 - 28)) * 86400
            hi = max(w * 7 * 86400, 86400)
            pool = np.nonzero((self.s_sec >= lo) & (self.s_sec < hi))[0]
            if not len(pool) or not sv.nps_per_week:
                continue
            pick = pool[rng.integers(len(pool), size=sv.nps_per_week)]
            pick = np.unique(self.s_customer[pick])
            pick = pick[rng.random(len(pick)) < sv.nps_response_rate]
            sec = w * 7 * 86400 + rng.uniform(0, 7 * 86400, len(pick))
            ok = sec < self.T * 60
            pick, sec = pick[ok], sec[ok]
            if not len(pick):
                continue
            hit = self._recent_hit(pick, sec, 30 * 86400)
            bad = self.support_result.recent_bad(pick, sec, 30 * 86400)
            seg = self.customer_segment[pick]
            latent = (
                7.9
                + 0.6 * (seg == 2)
                - 0.3 * (seg == 0)
                - 2.2 * hit
                - 1.3 * bad
                + rng.normal(0, 1.8, len(pick))
            )
            score = np.clip(np.floor(latent + rng.random(len(pick))), 0, 10).astype(np.int64)
            comment = self._comments(
                trng,
                score >= 9,
                score <= 6,
                text.NPS_PROMOTER,
                text.NPS_PASSIVE,
                text.NPS_DETRACTOR,
                0.3,
            )
            week = (self.start + timedelta(days=7 * w)).isocalendar()
            parts.append(
                pd.DataFrame(
                    {
                        "sec": sec,
                        "kind": "nps",
                        "score": score,
                        "comment": comment,
                        "customer_id": self.customer_ids[pick],
                        "touchpoint_kind": "periodic",
                        "touchpoint_ref": f"nps-{week.year}-W{week.week:02d}",
                        "region": np.array(self.regions, dtype=object)[self.customer_region[pick]],
                        "channel": "email",
                        "segment": np.array(SEGMENTS, dtype=object)[seg],
                    }
                )
            )
        frame = pd.concat(parts, ignore_index=True)
        frame = frame[frame["sec"] < self.T * 60]
        frame = frame.sort_values(["sec", "kind"], kind="stable").reset_index(drop=True)
        frame.insert(0, "id", [f"svy-{i:07d}" for i in range(len(frame))])
        frame.insert(0, "ts", self.ts(frame.pop("sec").to_numpy()))
        self.survey_frame = frame

    def _comments(
        self,
        rng: np.random.Generator,
        good: Bool,
        bad: Bool,
        pos: tuple[str, ...],
        mid: tuple[str, ...],
        neg: tuple[str, ...],
        rate: float,
    ) -> list[str | None]:
        n = len(good)
        grade = np.where(good, 2, np.where(bad, 0, 1))
        if not mid:
            grade = np.where(grade == 1, 2, grade)
        texts = text.graded_texts(rng, grade, (neg, mid or pos, pos))
        say = rng.random(n) < rate
        return [t if s else None for t, s in zip(texts, say.tolist(), strict=True)]

    # ------------------------------------------------------------------ reviews

    def build_reviews(self) -> None:
        rng = _rng(self.seed, "reviews")
        trng = _rng(self.seed, "text")
        rv = self.sc.reviews
        n_base = int(rng.poisson(rv.per_day * self.days))
        sec_b = rng.uniform(0, self.T * 60, n_base)
        reg_b = _choice(rng, self.sc.traffic.region_share, tuple(self.regions), n_base)
        rating_b = np.clip(np.round(4.1 + rng.normal(0, 1.2, n_base)), 1, 5).astype(np.int64)
        # Sessions that saw an error caused by a fault leave angry reviews a few hours later.
        angry = np.nonzero(self.s_err_hit & (rng.random(self.n_sessions) < rv.per_failed_session))[
            0
        ]
        sec_a = self.s_fail_sec[angry] + rng.lognormal(math.log(2 * 3600), 0.8, len(angry))
        rating_a = rng.choice([1, 2], size=len(angry), p=[0.7, 0.3])
        sec = np.concatenate([sec_b, sec_a])
        region = np.concatenate([reg_b, self.s_region[angry]])
        rating = np.concatenate([rating_b, rating_a])
        n = len(sec)
        sources = np.array(["app_store", "google_play", "trustpilot", "social"], dtype=object)
        source = sources[rng.choice(4, size=n, p=[0.25, 0.25, 0.3, 0.2])]
        grade = np.where(rating >= 4, 2, np.where(rating <= 2, 0, 1))
        texts = text.graded_texts(
            trng, grade, (text.REVIEW_NEGATIVE, text.REVIEW_MIXED, text.REVIEW_POSITIVE)
        )
        rating_col: list[int | None] = [
            None if s == "social" else int(x)
            for s, x in zip(source.tolist(), rating.tolist(), strict=True)
        ]
        frame = pd.DataFrame(
            {
                "sec": sec,
                "source": source,
                "text": texts,
                "rating": pd.array(rating_col, dtype="Int64"),
                "region": np.array(self.regions, dtype=object)[region],
                "author_id": [f"a{int(x):07d}" for x in rng.integers(0, 10_000_000, n)],
            }
        )
        frame = (
            frame[frame["sec"] < self.T * 60]
            .sort_values("sec", kind="stable")
            .reset_index(drop=True)
        )
        frame.insert(0, "id", [f"rev-{i:06d}" for i in range(len(frame))])
        frame.insert(0, "ts", self.ts(frame.pop("sec").to_numpy()))
        self.review_frame = frame

    # ------------------------------------------------------------------ metrics

    def build_metrics(self) -> None:
        rng = _rng(self.seed, "metrics")
        step = self.sc.metrics.step_minutes
        B = self.T // step
        S, R = self.S, self.R
        lat = self.actual.lat.reshape(S, R, B, step).astype(np.float64)
        err = self.actual.err.reshape(S, R, B, step).astype(np.float64)
        sessions = np.zeros((R, B))
        bucket = (self.s_sec // (60 * step)).astype(np.int64)
        np.add.at(sessions, (self.s_region, bucket), 1)
        # Requests follow the sessions, plus a steady background (crawlers, health checks, jobs).
        background = 0.25 * sessions.mean(axis=1)[None, :, None]
        noise = np.exp(rng.normal(0, 0.05, (S, R, B)))
        expected = self.rps[:, None, None] * (sessions[None, :, :] + background) * noise
        requests = rng.poisson(expected * (1 + err.mean(axis=3)) + 1)
        err_mean = err.mean(axis=3)
        errors = rng.binomial(requests, np.clip(err_mean, 0, 1))
        error_rate = errors / np.maximum(requests, 1)
        base = self.p50[:, None, None] * self.region_lat[:, :, None]
        p50 = base * (lat**0.6).mean(axis=3) * np.exp(rng.normal(0, 0.02, (S, R, B)))
        p95 = (
            base
            * self.p95_ratio[:, None, None]
            * lat.mean(axis=3)
            * np.exp(rng.normal(0, 0.04, (S, R, B)))
        )
        down = np.clip((err - 0.02) / 0.3, 0, 1).mean(axis=3)
        availability = 1.0 - down
        values = np.stack(
            [
                requests.astype(np.float64),
                np.round(p50, 1),
                np.round(np.maximum(p95, p50), 1),
                np.round(error_rate, 5),
                np.round(availability, 5),
            ],
            axis=-1,
        )  # (S, R, B, M)
        M = len(METRICS)
        units = sorted({u for _, u in METRICS})
        unit_code = np.array([units.index(u) for _, u in METRICS])
        # Rows ordered by bucket, then service, region, metric.
        v = values.transpose(2, 0, 1, 3).reshape(-1)
        b_idx = np.repeat(np.arange(B), S * R * M)
        s_idx = np.tile(np.repeat(np.arange(S), R * M), B)
        r_idx = np.tile(np.repeat(np.arange(R), M), B * S)
        m_idx = np.tile(np.arange(M), B * S * R)
        # Short ids (at most 38 characters) are stored as given by the signals room.
        short = ("req", "p50", "p95", "err", "avail")
        keys = [f"m-{s}-{r}-{m}-" for s in self.services for r in self.regions for m in short]
        key_idx = (s_idx * R + r_idx) * M + m_idx
        ids = pd.Series(_cat(key_idx, categories=keys)).astype(str) + pd.Series(
            b_idx * step
        ).astype(str)
        self.metric_frame = pd.DataFrame(
            {
                "ts": self.ts(b_idx * step * 60),
                "id": ids.array,
                "service": _cat(s_idx, categories=self.services),
                "metric": _cat(m_idx, categories=[m for m, _ in METRICS]),
                "value": v,
                "unit": _cat(unit_code[m_idx], categories=units),
                "region": _cat(r_idx, categories=self.regions),
            }
        )
        self.metric_step = step

    # ------------------------------------------------------------------ truth

    def incident_impact(self, p: _Patch) -> Impact:
        f = p.fault
        affected = {s for s, _ in f.effects}
        lo_min = f.start - 30
        imp = Impact()
        by_region: dict[str, dict[str, float]] = {
            self.regions[r]: {
                "sessions_affected": 0,
                "lost_conversions": 0,
                "extra_tickets": 0,
                "lost_revenue": 0.0,
            }
            for r in f.regions
        }
        customers: set[int] = set()
        ticket_sessions: list[int] = []
        for ji, j in enumerate(self.cat.journeys):
            plan = self.j_plan[ji]
            if not any(affected & set(ks) for ks in plan):
                continue
            idx = self.j_idx[ji]
            sec = self.s_sec[idx]
            in_region = np.isin(self.s_region[idx], f.regions)
            exposed = in_region & (sec >= f.start * 60) & (sec < f.end * 60)
            rows = np.nonzero(in_region & (sec >= lo_min * 60) & (sec < f.end * 60))[0]
            if not len(rows):
                continue
            actual = self.j_actual[ji]
            sub = _JourneyRun(actual.reached[rows], actual.failed[rows], actual.abandoned[rows])
            cf = self._run_journey(ji, idx[rows], self.actual, patch=p)
            exp_rows = np.nonzero(exposed)[0]
            imp.sessions_affected += len(exp_rows)
            customers.update(self.s_customer[idx[exp_rows]].tolist())
            touched = np.zeros(len(rows), dtype=bool)
            for k, ks in enumerate(plan):
                if affected & set(ks):
                    m = np.minimum(
                        (self.j_times[ji][rows, k + 1] // 60).astype(np.int64), self.T - 1
                    )
                    touched |= sub.reached[:, k] & (m >= f.start) & (m < f.end)
            imp.sessions_degraded += int(touched.sum())
            imp.failed_sessions += int(sub.failed.any(axis=1).sum() - cf.failed.any(axis=1).sum())
            imp.abandoned_sessions += int(
                sub.abandoned.any(axis=1).sum() - cf.abandoned.any(axis=1).sum()
            )
            last_a = sub.reached[:, -1]
            last_c = cf.reached[:, -1]
            lost = int(last_c.sum() - last_a.sum())
            imp.lost_completions[j.slug] = lost
            c_a = self._contacts(ji, rows, actual)
            c_c = self._contacts(ji, rows, cf, aligned=True)
            extra_rows = np.nonzero(c_a & ~c_c)[0]
            ticket_sessions.extend(idx[rows[extra_rows]].tolist())
            imp.extra_tickets += int(c_a.sum() - c_c.sum())
            reg = self.s_region[idx[rows]]
            for r in f.regions:
                name = self.regions[r]
                in_r = reg == r
                by_region[name]["sessions_affected"] += int((exposed[rows] & in_r).sum())
                by_region[name]["extra_tickets"] += int(c_a[in_r].sum() - c_c[in_r].sum())
                if j.slug == "purchase":
                    by_region[name]["lost_conversions"] += int(
                        last_c[in_r].sum() - last_a[in_r].sum()
                    )
                    val = self.s_value[idx[rows]]
                    by_region[name]["lost_revenue"] += float(
                        val[in_r & last_c].sum() - val[in_r & last_a].sum()
                    )
            if j.slug == "purchase":
                imp.lost_conversions = lost
                val = self.s_value[idx[rows]]
                imp.lost_revenue = round(float(val[last_c].sum() - val[last_a].sum()), 2)
        imp.customers_affected = len(customers)
        imp.ticket_ids = self.support_result.ticket_ids_for_sessions(ticket_sessions)
        for v in by_region.values():
            v["lost_revenue"] = round(v["lost_revenue"], 2)
        imp.by_region = by_region
        imp.customer_impacting = imp.sessions_degraded >= 50 and (
            sum(imp.lost_completions.values()) >= 10
            or imp.failed_sessions >= 25
            or imp.extra_tickets >= 5
        )
        return imp

    def build_truth(self) -> Truth:
        truth = Truth(
            seed=self.seed,
            start=self.start,
            end=self.at(self.T),
            days=self.days,
            company=self.sc.company.name,
            deploys=dict(self.deploy_counts),
        )
        step = self.metric_step
        lag = self.sc.support.contact_lag_minutes
        for p in self.patches:
            f = p.fault
            imp = self.incident_impact(p)
            services = [self.services[s] for s, _ in f.effects]
            regions = [self.regions[r] for r in f.regions]
            start, end = self.at(f.start), self.at(min(f.end, self.T))
            truth.incidents.append(
                IncidentTruth(
                    id=f.id,
                    title=f.title,
                    service=self.services[f.service],
                    services=services,
                    regions=regions,
                    start=start,
                    end=end,
                    region_starts={
                        self.regions[r]: self.at(t) for r, t in sorted(f.region_start.items())
                    },
                    kind=f.kind,
                    latency_multiplier=round(f.latency_multiplier, 4),
                    error_rate=round(f.error_rate, 4),
                    cause=f.cause,
                    deploy_id=f.deploy_id,
                    change_id=f.change_id,
                    version=f.version,
                    rolled_back=f.rolled_back,
                    impact=imp,
                )
            )
            # Anomaly windows, aligned outwards to the metric step.
            a0 = self.at(math.floor(f.start / step) * step)
            a1 = self.at(min(math.ceil(f.end / step) * step, self.T))
            for s_slug in services:
                for r_slug in regions:
                    names = []
                    if f.kind in ("latency", "both"):
                        names += ["latency_p50_ms", "latency_p95_ms"]
                    if f.kind in ("errors", "both"):
                        names += ["error_rate"]
                        if f.error_rate >= 0.05:
                            names += ["availability"]
                    for name in names:
                        truth.anomaly_windows.append(
                            AnomalyWindow(
                                {
                                    "type": "metric",
                                    "service": s_slug,
                                    "region": r_slug,
                                    "metric": name,
                                },
                                a0,
                                a1,
                                f.id,
                            )
                        )
            affected = {s for s, _ in f.effects}
            for ji, j in enumerate(self.cat.journeys):
                for k, ks in enumerate(self.j_plan[ji]):
                    if affected & set(ks):
                        for r_slug in regions:
                            truth.anomaly_windows.append(
                                AnomalyWindow(
                                    {
                                        "type": "funnel",
                                        "journey": j.slug,
                                        "step": j.steps[k + 1].slug,
                                        "region": r_slug,
                                        "measure": "conversion",
                                    },
                                    start,
                                    end,
                                    f.id,
                                )
                            )
            if imp.extra_tickets > 0:
                for r_slug in regions:
                    truth.anomaly_windows.append(
                        AnomalyWindow(
                            {"type": "ticket", "region": r_slug, "measure": "created"},
                            start,
                            self.at(min(f.end + 3 * lag, self.T)),
                            f.id,
                        )
                    )
        truth.interventions = self.support_result.interventions
        for i, pr in enumerate(self.sc.promotions, start=1):
            if pr.start_day >= self.days:
                continue
            s0 = self.start + timedelta(days=pr.start_day)
            truth.promotions.append(
                PromotionTruth(
                    id=f"promo-{i:02d}",
                    name=pr.name,
                    regions=list(pr.regions),
                    start=s0,
                    end=s0 + timedelta(days=pr.days),
                    announced_at=s0 - timedelta(days=pr.announce_days_before),
                    traffic_multiplier=pr.traffic_multiplier,
                    conversion_multiplier=pr.conversion_multiplier,
                )
            )
        return truth


__all__ = [
    "DEFAULT_START",
    "SIGNAL_TYPES",
    "InterventionTruth",
    "World",
    "generate",
]
