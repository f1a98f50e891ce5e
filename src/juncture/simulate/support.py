"""The contact centre: routing, a FIFO multi-agent queue with shifts, ticket lifecycles and CSAT."""

from __future__ import annotations

import bisect
import heapq
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd

from juncture.simulate import text
from juncture.simulate.catalog import Catalog
from juncture.simulate.scenario import Scenario
from juncture.simulate.truth import InterventionTruth

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]

CONTACT_CHANNELS = ("phone", "email", "chat", "web", "app")
PRIORITIES = ("low", "normal", "high", "urgent")
SEGMENTS = ("new", "returning", "vip")


@dataclass(slots=True)
class TicketInputs:
    """Tickets as created, in creation order (seconds since start; indices into the catalog)."""

    created: F64
    session: I64  # the failed session behind the contact, or -1
    region: I64
    segment: I64
    customer: I64
    category: I64
    service: I64  # -1 when unknown
    exposed: Bool = field(default_factory=lambda: np.zeros(0, dtype=bool))


@dataclass(slots=True)
class _Agent:
    id: str
    team: int
    starts: list[float]
    ends: list[float]
    extra: bool


@dataclass(slots=True)
class _QueueOutcome:
    abandoned: Bool
    first_start: F64  # first team's start (misrouted) or the right team's start
    first_agent: I64
    reassign_at: F64
    start: F64  # the right team's start (NaN if never)
    agent: I64


@dataclass
class SupportResult:
    """Ticket events, CSAT responses and the true effect of support interventions."""

    events: pd.DataFrame
    csat: pd.DataFrame
    interventions: list[InterventionTruth]
    ticket_ids: list[str]
    session_ticket: dict[int, str]
    bad_customer: I64
    bad_sec: F64

    def ticket_ids_for_sessions(self, sessions: list[int]) -> list[str]:
        """Return the ids of the tickets opened after the given failed sessions.

        Parameters
        ----------
        sessions : list of int
            Session indices.

        Returns
        -------
        list of str
            Sorted ticket ids (sessions without a ticket are skipped).
        """
        return sorted(self.session_ticket[s] for s in sessions if s in self.session_ticket)

    def recent_bad(self, customer: I64, when: F64, window: float) -> Bool:
        """Whether each customer had a bad ticket (abandoned, misrouted, reopened) recently.

        Parameters
        ----------
        customer : ndarray of int
            Customer indices.
        when : ndarray of float
            Reference times (seconds since start).
        window : float
            Look-back in seconds.

        Returns
        -------
        ndarray of bool
            One flag per customer.
        """
        out = np.zeros(len(customer), dtype=bool)
        if not len(self.bad_customer) or not len(customer):
            return out
        right = pd.DataFrame({"customer": self.bad_customer, "t": self.bad_sec, "bad": 1})
        left = pd.DataFrame({"customer": customer, "t": when, "row": np.arange(len(customer))})
        merged = pd.merge_asof(
            left.sort_values("t", kind="stable"),
            right.sort_values("t", kind="stable"),
            on="t",
            by="customer",
            direction="backward",
            tolerance=int(window),
        )
        out[merged["row"].to_numpy()] = merged["bad"].fillna(0).to_numpy() > 0
        return out


def _roster(
    sc: Scenario, cat: Catalog, teams: list[str], start: datetime, days: int
) -> list[_Agent]:
    agents: list[_Agent] = []
    tz_of = {t.slug: ZoneInfo(t.timezone) for t in cat.teams}
    for ti, team in enumerate(teams):
        tz = tz_of[team]
        for si, shift in enumerate(sc.support.teams[team].shifts):
            for j in range(max(shift.weekday_agents, shift.weekend_agents)):
                starts, ends = [], []
                for d in range(-1, days + 1):
                    day = start.date() + timedelta(days=d)
                    weekend = day.weekday() >= 5
                    if j >= (shift.weekend_agents if weekend else shift.weekday_agents):
                        continue
                    t0 = datetime(day.year, day.month, day.day, shift.start_hour, tzinfo=tz)
                    s0 = (t0 - start).total_seconds()
                    starts.append(s0)
                    ends.append(s0 + shift.hours * 3600)
                letter = "abcdefgh"[si % 8]
                agents.append(_Agent(f"{team}-{letter}{j + 1:02d}", ti, starts, ends, False))
        for iv in sc.interventions:
            if iv.kind != "staffing" or iv.team != team:
                continue
            for j in range(iv.agents):
                starts, ends = [], []
                for d in range(math.ceil(iv.start_day), days + 1):
                    day = start.date() + timedelta(days=d)
                    if day.weekday() >= 5:
                        continue
                    t0 = datetime(day.year, day.month, day.day, iv.from_hour, tzinfo=tz)
                    s0 = (t0 - start).total_seconds()
                    starts.append(s0)
                    ends.append(s0 + (iv.to_hour - iv.from_hour) * 3600)
                agents.append(_Agent(f"{team}-x{j + 1:02d}", ti, starts, ends, True))
    return agents


def _run_queue(
    created: F64,
    initial_team: I64,
    team: I64,
    patience: F64,
    handle: F64,
    triage: F64,
    agents: list[_Agent],
    use_extra: bool,
) -> _QueueOutcome:
    n = len(created)
    by_team: dict[int, list[int]] = {}
    for a, agent in enumerate(agents):
        if agent.extra and not use_extra:
            continue
        by_team.setdefault(agent.team, []).append(a)
    free = [0.0] * len(agents)
    abandoned = np.zeros(n, dtype=bool)
    first_start = np.full(n, np.nan)
    first_agent = np.full(n, -1, dtype=np.int64)
    reassign_at = np.full(n, np.nan)
    start = np.full(n, np.nan)
    agent_of = np.full(n, -1, dtype=np.int64)
    heap: list[tuple[float, int, int]] = [(float(created[i]), i, 0) for i in range(n)]
    heapq.heapify(heap)
    init_l = initial_team.tolist()
    team_l = team.tolist()
    while heap:
        t, i, stage = heapq.heappop(heap)
        tm = init_l[i] if stage == 0 else team_l[i]
        best, best_a = math.inf, -1
        for a in by_team.get(tm, ()):
            e = t if t > free[a] else free[a]
            ends = agents[a].ends
            k = bisect.bisect_right(ends, e)
            if k == len(ends):
                continue
            s = agents[a].starts[k]
            s = e if s < e else s
            if s < best:
                best, best_a = s, a
        if stage == 0 and best - t > patience[i]:
            abandoned[i] = True
            continue
        if best_a < 0:
            continue
        if stage == 0 and init_l[i] != team_l[i]:
            first_start[i], first_agent[i] = best, best_a
            done = best + float(triage[i])
            free[best_a] = done
            reassign_at[i] = done
            heapq.heappush(heap, (done, i, 1))
            continue
        if stage == 0:
            first_start[i], first_agent[i] = best, best_a
        start[i], agent_of[i] = best, best_a
        free[best_a] = best + float(handle[i])
    return _QueueOutcome(abandoned, first_start, first_agent, reassign_at, start, agent_of)


def _csat(latent: F64, u: F64) -> F64:
    return np.asarray(np.clip(np.floor(latent + u), 1, 5), dtype=np.float64)


def _calibrate_shift(latent: F64, u: F64, effect: float) -> float:
    """Latent shift that moves the mean CSAT of these tickets by ``effect`` points.

    Scores are clipped to 1..5, so a latent shift of ``effect`` moves the mean by less; the
    shift is found by bisection so that the expected effect on the scale is the configured one.
    """
    if not len(latent):
        return effect
    base = _csat(latent, u).mean()
    lo, hi = (0.0, 4.0 * effect) if effect > 0 else (4.0 * effect, 0.0)
    for _ in range(40):
        mid = (lo + hi) / 2
        gained = _csat(latent + mid, u).mean() - base
        if (gained < effect) == (effect > 0):
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def simulate_support(
    sc: Scenario,
    cat: Catalog,
    t: TicketInputs,
    *,
    rng: np.random.Generator,
    text_rng: np.random.Generator,
    start: datetime,
    days: int,
    regions: list[str],
    services: list[str],
    customer_ids: npt.NDArray[np.object_],
) -> SupportResult:
    """Route and work the tickets, and build their events and CSAT responses.

    Parameters
    ----------
    sc : Scenario
        The scenario (``support``, ``surveys`` and ``interventions`` are used).
    cat : Catalog
        The company's catalog.
    t : TicketInputs
        Tickets in creation order.
    rng, text_rng : numpy.random.Generator
        Randomness for the queue and for texts.
    start : datetime
        Start of the simulated period.
    days : int
        Length of the period.
    regions, services : list of str
        Slugs by index.
    customer_ids : ndarray of str
        Customer id by index.

    Returns
    -------
    SupportResult
        Events (column ``sec`` = seconds since start), CSAT rows and intervention truths.

    Notes
    -----
    Each support team works its own first-in-first-out queue. An agent on shift takes the
    oldest waiting ticket as soon as they are free; a ticket is taken by the agent who can start
    it first. Callers and chatters hang up when their wait exceeds their patience
    (exponential). A misrouted ticket is first taken by the wrong team, which reassigns it after
    a short triage; it then joins the right team's queue. Only the first touch occupies the
    queue; later replies (after the customer answers, or after a reopening) are not queued. The
    queue runs twice when a staffing intervention exists, with and without the extra agents,
    which gives its true effect.
    """
    sp = sc.support
    end_sec = days * 86400.0
    n = len(t.created)
    cats = cat.ticket_categories
    teams = [tm.slug for tm in cat.teams if tm.handles]
    team_of_cat = np.array([teams.index(cat.team_for_category(c)) for c in cats], dtype=np.int64)
    team = team_of_cat[t.category] if n else np.zeros(0, dtype=np.int64)
    channel = np.asarray(
        rng.choice(
            len(CONTACT_CHANNELS),
            size=n,
            p=np.array([sp.channel_share[c] for c in CONTACT_CHANNELS])
            / sum(sp.channel_share.values()),
        ),
        dtype=np.int64,
    )
    misrouted = rng.random(n) < sp.misroute_rate
    other = (team + rng.integers(1, max(len(teams), 2), size=n)) % max(len(teams), 1)
    initial_team = np.where(misrouted & (len(teams) > 1), other, team)
    misrouted = initial_team != team
    patience = np.full(n, math.inf)
    phone, chat = channel == 0, channel == 2
    patience[phone] = rng.exponential(sp.phone_patience_minutes * 60, size=int(phone.sum()))
    patience[chat] = rng.exponential(sp.chat_patience_minutes * 60, size=int(chat.sum()))
    # Calls and chats are shorter than written contacts.
    handle_scale = np.array([0.5, 1.0, 0.7, 1.0, 1.0])[channel]
    handle = handle_scale * rng.lognormal(math.log(sp.handle_minutes * 60) - 0.18, 0.6, size=n)
    triage = rng.uniform(60, 300, size=n)
    agents = _roster(sc, cat, teams, start, days)
    q = _run_queue(t.created, initial_team, team, patience, handle, triage, agents, True)
    has_extra = any(a.extra for a in agents)
    q_cf = (
        _run_queue(t.created, initial_team, team, patience, handle, triage, agents, False)
        if has_extra
        else q
    )
    answered = ~np.isnan(q.start)
    quick = phone | chat
    reply_delay = np.where(
        quick,
        rng.uniform(30, 120, size=n),
        np.minimum(handle, rng.lognormal(math.log(300), 0.5, n)),
    )
    reply_at = q.start + reply_delay
    frt = reply_at - t.created
    pending = answered & ~phone & (rng.random(n) < sp.pending_rate)
    cust_reply = reply_at + rng.lognormal(math.log(3 * 3600), 0.8, n)
    reply2 = cust_reply + rng.lognormal(math.log(1.5 * 3600), 0.7, n)
    resolved = np.where(
        pending, reply2 + rng.uniform(60, 600, n), np.maximum(q.start + handle, reply_at + 30)
    )
    reopen_p = sp.reopen_rate * (1 + 1.5 * misrouted + 1.0 * t.exposed)
    reopened = answered & (rng.random(n) < reopen_p)
    reopen_at = resolved + rng.lognormal(math.log(30 * 3600), 0.7, n)
    reply3 = reopen_at + rng.lognormal(math.log(3 * 3600), 0.8, n)
    resolved2 = reply3 + rng.uniform(300, 1800, n)
    final = np.where(reopened, resolved2, resolved)
    noted = answered & (rng.random(n) < 0.12)
    note_at = q.start + rng.random(n) * (resolved - q.start)
    abandon_at = t.created + patience

    # Priority: category baseline, failed sessions and VIPs bumped.
    urgent_cat = np.isin(t.category, [cats.index(c) for c in ("payment-issue", "complaint")])
    pr = np.asarray(
        rng.choice(4, size=n, p=[0.22, 0.6, 0.15, 0.03]), dtype=np.int64
    ) + urgent_cat.astype(np.int64)
    pr = pr + ((t.session >= 0) & (rng.random(n) < 0.5)) + (t.segment == 2)
    priority = np.minimum(pr, 3)

    ticket_ids = [f"T{i + 1:06d}" for i in range(n)]
    agent_ids = np.array([a.id for a in agents] + [None], dtype=object)
    team_arr = np.array(teams, dtype=object)

    # ---- events
    cols: dict[str, list[npt.NDArray[np.generic]]] = {
        k: [] for k in ("sec", "tix", "seq", "kind", "actor", "team", "agent", "status", "text")
    }

    def add(
        mask: Bool,
        sec: F64,
        seq: int,
        kind: str,
        actor: str,
        team_col: npt.NDArray[np.object_] | None,
        agent_col: I64 | None,
        status: str | None,
        texts: list[str] | None,
    ) -> None:
        idx = np.nonzero(mask)[0]
        cols["sec"].append(sec[idx])
        cols["tix"].append(idx)
        cols["seq"].append(np.full(len(idx), seq))
        cols["kind"].append(np.full(len(idx), kind, dtype=object))
        cols["actor"].append(np.full(len(idx), actor, dtype=object))
        cols["team"].append(
            team_col[idx] if team_col is not None else np.full(len(idx), None, dtype=object)
        )
        cols["agent"].append(
            agent_ids[agent_col[idx]]
            if agent_col is not None
            else np.full(len(idx), None, dtype=object)
        )
        cols["status"].append(np.full(len(idx), status, dtype=object))
        if texts is None:
            cols["text"].append(np.full(len(idx), None, dtype=object))
        else:
            cols["text"].append(
                np.array(texts, dtype=object) if texts else np.zeros(0, dtype=object)
            )

    everyone = np.ones(n, dtype=bool)
    cat_names = [cats[c] for c in t.category.tolist()]
    created_texts = text.ticket_texts(text_rng, cat_names, (t.session >= 0).tolist())
    add(
        everyone,
        t.created,
        0,
        "created",
        "customer",
        team_arr[initial_team],
        None,
        None,
        created_texts,
    )
    add(q.abandoned, abandon_at, 1, "status_changed", "system", None, None, "closed", None)
    mis = misrouted & ~np.isnan(q.first_start)
    add(
        mis,
        q.first_start,
        2,
        "assigned",
        "system",
        team_arr[initial_team],
        q.first_agent,
        None,
        None,
    )
    add(
        mis,
        q.reassign_at,
        3,
        "reassigned",
        "agent",
        team_arr[team],
        q.first_agent,
        None,
        text.pick_texts(text_rng, text.REASSIGN_NOTES, int(mis.sum())),
    )
    add(answered, q.start, 4, "assigned", "system", team_arr[team], q.agent, None, None)
    add(
        answered,
        reply_at,
        5,
        "replied",
        "agent",
        team_arr[team],
        q.agent,
        None,
        text.pick_texts(text_rng, text.AGENT_REPLIES, int(answered.sum())),
    )
    add(
        pending,
        reply_at + 1,
        6,
        "status_changed",
        "agent",
        team_arr[team],
        q.agent,
        "pending",
        None,
    )
    add(
        pending,
        cust_reply,
        7,
        "replied",
        "customer",
        None,
        None,
        None,
        text.pick_texts(text_rng, text.CUSTOMER_FOLLOW_UPS, int(pending.sum())),
    )
    add(
        pending,
        reply2,
        8,
        "replied",
        "agent",
        team_arr[team],
        q.agent,
        None,
        text.pick_texts(text_rng, text.AGENT_REPLIES, int(pending.sum())),
    )
    add(
        noted,
        note_at,
        9,
        "commented",
        "agent",
        team_arr[team],
        q.agent,
        None,
        text.pick_texts(text_rng, text.INTERNAL_NOTES, int(noted.sum())),
    )
    add(answered, resolved, 10, "resolved", "agent", team_arr[team], q.agent, None, None)
    add(
        reopened,
        reopen_at,
        11,
        "reopened",
        "customer",
        None,
        None,
        None,
        text.pick_texts(text_rng, text.REOPEN_TEXTS, int(reopened.sum())),
    )
    add(
        reopened,
        reply3,
        12,
        "replied",
        "agent",
        team_arr[team],
        q.agent,
        None,
        text.pick_texts(text_rng, text.AGENT_REPLIES, int(reopened.sum())),
    )
    add(reopened, resolved2, 13, "resolved", "agent", team_arr[team], q.agent, None, None)

    sec = np.concatenate(cols["sec"])
    tix = np.concatenate(cols["tix"]).astype(np.int64)
    seq = np.concatenate(cols["seq"]).astype(np.int64)
    keep = sec < end_sec
    order = np.lexsort((seq[keep], tix[keep], sec[keep]))
    sel = np.nonzero(keep)[0][order]
    tix_s = tix[sel]
    tid = np.array(ticket_ids, dtype=object)
    svc_names = np.array([*services, None], dtype=object)
    events = pd.DataFrame(
        {
            "sec": sec[sel],
            "id": [
                f"{a}-{b:02d}" for a, b in zip(tid[tix_s].tolist(), seq[sel].tolist(), strict=True)
            ],
            "ticket_id": tid[tix_s],
            "kind": np.concatenate(cols["kind"])[sel],
            "actor_kind": np.concatenate(cols["actor"])[sel],
            "team": np.concatenate(cols["team"])[sel],
            "agent_id": np.concatenate(cols["agent"])[sel],
            "channel": np.array(CONTACT_CHANNELS, dtype=object)[channel[tix_s]],
            "priority": np.array(PRIORITIES, dtype=object)[priority[tix_s]],
            "category": np.array(cats, dtype=object)[t.category[tix_s]],
            "status": np.concatenate(cols["status"])[sel],
            "text": np.concatenate(cols["text"])[sel],
            "customer_id": customer_ids[t.customer[tix_s]],
            "region": np.array(regions, dtype=object)[t.region[tix_s]],
            "segment": np.array(SEGMENTS, dtype=object)[t.segment[tix_s]],
            "service": svc_names[t.service[tix_s]],
        }
    )

    # ---- CSAT after the final resolution
    sv = sc.surveys
    done = answered & (final < end_sec)
    frt_h = np.where(answered, frt, 0.0) / 3600.0
    latent = (
        sv.csat_base
        - sv.wait_weight * np.log1p(np.maximum(frt_h, 0))
        - sv.reassign_weight * misrouted
        - sv.reopen_weight * reopened
        - sv.incident_weight * t.exposed
        + 0.15 * (t.segment == 2)
        - 0.25 * ((final - t.created) > 2 * 86400)
        + rng.normal(0, 0.7, n)
    )
    u_csat = rng.random(n)
    respond = done & (rng.random(n) < sv.csat_response_rate)
    csat_at = final + rng.lognormal(math.log(2 * 3600), 0.8, n)
    shift = np.zeros(n)
    truths: list[InterventionTruth] = []
    deltas: dict[str, float] = {}
    for iv in sc.interventions:
        if iv.kind != "csat_shift" or iv.region is None or iv.category is None:
            continue
        scope = (
            (t.region == regions.index(iv.region))
            & (t.category == cats.index(iv.category))
            & (t.created >= iv.start_day * 86400)
        )
        delta = _calibrate_shift(latent[scope & done], u_csat[scope & done], iv.effect)
        deltas[iv.id] = delta
        shift = shift + delta * scope
    score = np.clip(np.floor(latent + shift + u_csat), 1, 5).astype(np.int64)
    resp = respond & (csat_at < end_sec)
    for iv in sc.interventions:
        if iv.start_day >= days:
            continue
        if iv.kind == "csat_shift" and iv.region is not None and iv.category is not None:
            scope = (
                (t.region == regions.index(iv.region))
                & (t.category == cats.index(iv.category))
                & (t.created >= iv.start_day * 86400)
            )
            cf = np.clip(np.floor(latent + shift - deltas[iv.id] * scope + u_csat), 1, 5)
            sel_r = resp & scope
            diff = float((score[sel_r] - cf[sel_r]).mean()) if sel_r.any() else 0.0
            base_mean = float(cf[sel_r].mean()) if sel_r.any() else 0.0
            truths.append(
                InterventionTruth(
                    id=iv.id,
                    kind=iv.kind,
                    description=iv.description,
                    start=start + timedelta(days=iv.start_day),
                    scope={"region": iv.region, "category": iv.category, "survey": "csat"},
                    metric="csat_mean",
                    configured_effect=iv.effect,
                    true_effect=diff,
                    true_relative_effect=diff / base_mean if base_mean else None,
                    n=int(sel_r.sum()),
                    details={"counterfactual_mean": base_mean, "latent_shift": deltas[iv.id]},
                )
            )
        elif iv.kind == "staffing" and iv.team is not None:
            ti = teams.index(iv.team)
            tz = ZoneInfo(next(x.timezone for x in cat.teams if x.slug == iv.team))
            local = pd.DatetimeIndex(
                pd.Timestamp(start) + pd.to_timedelta(t.created, unit="s")
            ).tz_convert(tz)
            hour = local.hour.to_numpy()
            wd = local.day_of_week.to_numpy() < 5
            scope = (
                (team == ti)
                & wd
                & (hour >= iv.from_hour)
                & (hour < iv.to_hour)
                & (t.created >= iv.start_day * 86400)
            )
            cf_reply = q_cf.start + reply_delay
            both = scope & answered & ~np.isnan(q_cf.start)
            act = (reply_at - t.created)[both] / 60.0
            cfv = (cf_reply - t.created)[both] / 60.0
            mean_a = float(act.mean()) if len(act) else 0.0
            mean_c = float(cfv.mean()) if len(cfv) else 0.0
            med_a = float(np.median(act)) if len(act) else 0.0
            med_c = float(np.median(cfv)) if len(cfv) else 0.0
            truths.append(
                InterventionTruth(
                    id=iv.id,
                    kind=iv.kind,
                    description=iv.description,
                    start=start + timedelta(days=iv.start_day),
                    scope={
                        "team": iv.team,
                        "weekdays": True,
                        "from_hour": iv.from_hour,
                        "to_hour": iv.to_hour,
                        "timezone": str(tz),
                    },
                    metric="first_response_minutes_mean",
                    configured_effect=float(iv.agents),
                    true_effect=mean_a - mean_c,
                    true_relative_effect=(mean_a / mean_c - 1.0) if mean_c else None,
                    n=int(both.sum()),
                    details={
                        "mean_minutes": mean_a,
                        "counterfactual_mean_minutes": mean_c,
                        "median_minutes": med_a,
                        "counterfactual_median_minutes": med_c,
                        "median_relative_effect": (med_a / med_c - 1.0) if med_c else 0.0,
                        "abandoned": float((scope & q.abandoned).sum()),
                        "counterfactual_abandoned": float((scope & q_cf.abandoned).sum()),
                    },
                )
            )
    ridx = np.nonzero(resp)[0]
    good = score[ridx] >= 4
    bad = score[ridx] <= 2
    grades = np.where(good, 2, np.where(bad, 0, 1))
    comments = text.graded_texts(
        text_rng, grades, (text.CSAT_NEGATIVE, text.CSAT_NEUTRAL, text.CSAT_POSITIVE)
    )
    say = text_rng.random(len(ridx)) < 0.4
    csat = pd.DataFrame(
        {
            "sec": csat_at[ridx],
            "kind": "csat",
            "score": score[ridx],
            "comment": [c if s else None for c, s in zip(comments, say.tolist(), strict=True)],
            "customer_id": customer_ids[t.customer[ridx]],
            "touchpoint_kind": "ticket",
            "touchpoint_ref": tid[ridx],
            "region": np.array(regions, dtype=object)[t.region[ridx]],
            "channel": np.array(CONTACT_CHANNELS, dtype=object)[channel[ridx]],
            "segment": np.array(SEGMENTS, dtype=object)[t.segment[ridx]],
        }
    )
    badt = q.abandoned | misrouted | reopened
    session_ticket = {int(s): ticket_ids[i] for i, s in enumerate(t.session.tolist()) if s >= 0}
    return SupportResult(
        events=events,
        csat=csat,
        interventions=truths,
        ticket_ids=ticket_ids,
        session_ticket=session_ticket,
        bad_customer=t.customer[badt],
        bad_sec=t.created[badt],
    )
