"""Alert rules as pure functions: threshold, deviation, SLO burn rate and customer impact.

Every rule here takes arrays (one value per regular bucket, oldest first) and returns one
state per bucket, so the periodic evaluation job can run it over rollups and store the
transitions. Every rule is *causal*: the state at bucket ``i`` depends only on buckets
``0..i``, so evaluating a longer series never changes an earlier state (what was alerted
stays explainable). Missing values are NaN; a missing value is never evidence of a problem,
nor of recovery.

The rules:

* :func:`threshold_states`: a value beyond a fixed line for ``for_points`` buckets in a row,
  cleared with hysteresis;
* :func:`deviation_states`: the anomaly detector's score, counted only when the value is
  worse than expected (drop-off up, conversion down);
* :func:`burn_rate_alerts`: multi-window, multi-burn-rate SLO alerts (Google SRE workbook,
  "Alerting on SLOs");
* :func:`customer_impact`: a customer-facing series deviates in its bad direction and at
  least one operational series mapped to it deviates in the same window or just before,
  with both sides' evidence (onsets, lag, correlation, size of the effect).

Helpers: :func:`onset` (when did a deviation start), :func:`lagged_correlation`,
:func:`flapping` (hold notifications of a state that changes too often),
:func:`trailing_baseline` (a quick causal baseline when no seasonal one is available) and
:func:`evaluate_detection` (detected share, median delay and false alerts per week against
ground truth).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats
from scipy.ndimage import maximum_filter1d

from juncture.analytics.anomaly import COMPONENTS, AnomalyResult, score_series
from juncture.analytics.kpimath import BaselineResult

__all__ = [
    "DEFAULT_BURN_POLICIES",
    "BurnPolicy",
    "BurnRateAlerts",
    "DetectionQuality",
    "DeviationStates",
    "Direction",
    "ImpactFinding",
    "ImpactParams",
    "LagCorrelation",
    "OpsEvidence",
    "SideSeries",
    "burn_rate_alerts",
    "burn_rates",
    "customer_impact",
    "deviation_states",
    "evaluate_detection",
    "excess_effect",
    "flapping",
    "lagged_correlation",
    "onset",
    "ops_scale_floor",
    "threshold_states",
    "trailing_baseline",
    "window_dropoff",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

#: Which way is worse: ``"up"`` (latency, errors, drop-off, ticket volume, negative share)
#: or ``"down"`` (conversion, CSAT, NPS, throughput).
Direction = Literal["up", "down"]
Op = Literal[">", ">=", "<", "<="]

_MAD_TO_SD = 1.4826
_MINUTES_PER_WEEK = 7 * 24 * 60


def _floats(values: npt.ArrayLike) -> FloatArray:
    out: FloatArray = np.asarray(values, dtype=np.float64).ravel()
    return out


_SIGNS: dict[str, float] = {"up": 1.0, "down": -1.0}


def _orient(direction: Direction) -> float:
    sign = _SIGNS.get(direction)
    if sign is None:
        msg = f"direction must be 'up' or 'down', not {direction!r}"
        raise ValueError(msg)
    return sign


def _broadcast(x: npt.ArrayLike, n: int, name: str) -> FloatArray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 0:
        return np.full(n, float(a))
    a = a.ravel()
    if a.size != n:
        msg = f"{name} has {a.size} values, expected {n}"
        raise ValueError(msg)
    return a


# --------------------------------------------------------------------------------------
# Threshold
# --------------------------------------------------------------------------------------


_COMPARE = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}


def _compare(x: FloatArray, op: Op, threshold: float) -> BoolArray:
    fn = _COMPARE.get(op)
    if fn is None:
        msg = f"op must be one of >, >=, <, <=, not {op!r}"
        raise ValueError(msg)
    with np.errstate(invalid="ignore"):
        out: BoolArray = fn(x, threshold)
    return out


def _run_length(mask: BoolArray) -> IntArray:
    """Length of the run of true values ending at each point (0 where false)."""
    idx = np.arange(mask.size, dtype=np.int64)
    last_false = np.where(~mask, idx, -1)
    np.maximum.accumulate(last_false, out=last_false)
    out: IntArray = np.where(mask, idx - last_false, 0)
    return out


def _latch(set_: BoolArray, reset: BoolArray) -> BoolArray:
    """Set/reset flip-flop: true from a set point until the next reset point (reset wins)."""
    idx = np.arange(set_.size, dtype=np.int64)
    last_set = np.where(set_ & ~reset, idx, -1)
    last_reset = np.where(reset, idx, -1)
    np.maximum.accumulate(last_set, out=last_set)
    np.maximum.accumulate(last_reset, out=last_reset)
    out: BoolArray = last_set > last_reset
    return out


def threshold_states(
    values: npt.ArrayLike,
    *,
    op: Op,
    threshold: float,
    for_points: int = 1,
    clear_threshold: float | None = None,
) -> BoolArray:
    """Firing state of a fixed-threshold rule with a for-duration and hysteresis.

    The rule fires at the ``for_points``-th consecutive point whose value breaches the
    threshold (``value op threshold``), and stays firing until a value is on the normal
    side of ``clear_threshold``. Example: ``op=">", threshold=800, for_points=3,
    clear_threshold=600`` on a p95 latency fires after three minutes above 800 ms and
    clears at the first minute at or below 600 ms; values between 600 and 800 keep it as
    it is, so a series hovering near the line does not flap.

    Parameters
    ----------
    values : array_like of float
        One value per bucket; NaN is missing.
    op : {">", ">=", "<", "<="}
        Breach comparison.
    threshold : float
        Breach line.
    for_points : int, default 1
        Consecutive breaching points needed to fire (Prometheus ``for:``).
    clear_threshold : float, optional
        Recovery line, on the normal side of ``threshold`` (at or below it for ``>``/``>=``,
        at or above it for ``<``/``<=``). The rule clears when the value is no longer
        beyond it (for ``>``: ``value <= clear_threshold``). Default: ``threshold`` itself
        (no hysteresis).

    Returns
    -------
    ndarray of bool
        Firing state per point.

    Notes
    -----
    A missing value neither breaches nor clears: it breaks a pending run (a gap is not
    evidence of a breach) but keeps a firing rule firing (nor is it evidence of recovery).
    """
    if for_points < 1:
        raise ValueError("for_points must be at least 1")
    x = _floats(values)
    clear_at = threshold if clear_threshold is None else float(clear_threshold)
    above = op in (">", ">=")
    if (above and clear_at > threshold) or (not above and clear_at < threshold):
        msg = f"clear_threshold {clear_at} is on the breaching side of {threshold}"
        raise ValueError(msg)
    breach = _compare(x, op, threshold)
    # "Still beyond the clear line" uses the same strictness as the breach comparison.
    beyond_clear = _compare(x, op, clear_at)
    clear = np.isfinite(x) & ~beyond_clear
    return _latch(_run_length(breach) >= for_points, clear)


# --------------------------------------------------------------------------------------
# Deviation from baseline
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviationStates:
    """Firing states of the deviation rule.

    Attributes
    ----------
    firing : ndarray of bool
        The point is anomalous (score at least ``min_score``) *and* worse than expected.
    score : ndarray of float64
        The detector's score in [0, 1].
    component : ndarray of str (object)
        The detector component that drove the score where firing (one of
        :data:`~juncture.analytics.anomaly.COMPONENTS`), ``""`` elsewhere.
    excess : ndarray of float64
        ``value - reference`` oriented so that positive is worse (NaN where unknown).
    """

    firing: BoolArray
    score: FloatArray
    component: npt.NDArray[np.object_]
    excess: FloatArray


def deviation_states(
    values: npt.ArrayLike,
    result: AnomalyResult | None = None,
    *,
    direction: Direction,
    min_score: float = 0.5,
    baseline: npt.ArrayLike | None = None,
    reference_points: int = 60,
    timestamps: npt.ArrayLike | None = None,
) -> DeviationStates:
    """Deviation-from-baseline rule: the anomaly score, counted only in the bad direction.

    The streaming detector (:mod:`juncture.analytics.anomaly`) scores how unusual each
    point is, whichever way it moves. An alert should only be raised when the move is bad
    for the business: drop-off or latency up, conversion or CSAT down. This rule fires when
    the score is at least ``min_score`` and the value is on the bad side of a reference:
    the given ``baseline`` (for example ``seasonal_baseline(...).expected``) or, without
    one, the median of the previous ``reference_points`` values.

    Parameters
    ----------
    values : array_like of float
        The series; NaN is missing (never fires).
    result : AnomalyResult, optional
        Detector scores of ``values`` (from the streaming detector's state, so scores
        carry over between evaluation runs). Computed with :func:`score_series` when
        omitted.
    direction : {"up", "down"}
        Which way is worse.
    min_score : float, default 0.5
        Score at which a bad-direction point fires (the detector's own alert level).
    baseline : array_like of float, optional
        Expected value per point (scalar or one per point).
    reference_points : int, default 60
        Trailing window of the median reference when no baseline is given.
    timestamps : array_like of datetime64, optional
        Passed to the detector when ``result`` is omitted (season length inference).

    Returns
    -------
    DeviationStates
        Firing states, scores, the component that fired and the oriented excess.
    """
    x = _floats(values)
    sign = _orient(direction)
    if result is None:
        result = score_series(x, timestamps)
    if result.score.size != x.size:
        msg = f"{x.size} values but {result.score.size} scores"
        raise ValueError(msg)
    if baseline is None:
        ref = (
            pd.Series(x)
            .shift(1)
            .rolling(reference_points, min_periods=1)
            .median()
            .to_numpy(dtype=np.float64)
        )
    else:
        ref = _broadcast(baseline, x.size, "baseline")
    excess = sign * (x - ref)
    with np.errstate(invalid="ignore"):
        firing = np.isfinite(x) & (result.score >= min_score) & (excess > 0)
    names = np.array(COMPONENTS, dtype=object)[result.component.astype(np.int64)]
    component = np.where(firing, names, "").astype(object)
    return DeviationStates(firing, result.score.astype(np.float64), component, excess)


# --------------------------------------------------------------------------------------
# SLO burn rate
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BurnPolicy:
    """One row of a multi-window, multi-burn-rate table.

    Fires when the burn rate over ``long_minutes`` *and* over ``short_minutes`` both exceed
    ``factor``. The long window makes the alert significant (enough budget is being
    spent); the short one makes it reset quickly once the problem is fixed.
    """

    severity: str
    long_minutes: int
    short_minutes: int
    factor: float


#: The SRE workbook's recommendation for a 30-day SLO ("Alerting on SLOs", table 5-8):
#: page on 2% of the budget in 1 h (burn 14.4) or 5% in 6 h (burn 6), ticket on 10% in
#: 3 days (burn 1); short windows are 1/12 of the long ones.
DEFAULT_BURN_POLICIES: tuple[BurnPolicy, ...] = (
    BurnPolicy("page", 60, 5, 14.4),
    BurnPolicy("page", 360, 30, 6.0),
    BurnPolicy("ticket", 3 * 24 * 60, 360, 1.0),
)

_SEVERITY_RANK = {"page": 2, "ticket": 1}


def _window_sums(x: FloatArray, window: int) -> FloatArray:
    """Sum of the last ``window`` values up to and including each point (partial at start)."""
    if window < 1:
        raise ValueError("windows must be at least 1 minute")
    c = np.concatenate([[0.0], np.cumsum(x)])
    hi = np.arange(1, x.size + 1)
    lo = np.maximum(hi - window, 0)
    out: FloatArray = c[hi] - c[lo]
    return out


def burn_rates(
    bad: npt.ArrayLike,
    total: npt.ArrayLike,
    windows_minutes: Sequence[int],
    *,
    slo: float,
) -> dict[int, FloatArray]:
    """Burn rate of the error budget over trailing windows, per minute.

    The burn rate over a window is the share of bad events in it divided by the budget
    ``1 - slo``: 1 spends the budget exactly over the SLO period, 14.4 spends a 30-day
    budget's 2% in an hour.

    Parameters
    ----------
    bad, total : array_like of float
        Bad and total events per minute (NaN counts as 0: no data, no events). For error
        *ratios* ``r`` with weights ``w`` (requests per minute), pass ``bad = r * w`` and
        ``total = w``.
    windows_minutes : sequence of int
        Trailing window lengths, in minutes (the buckets must be minutes).
    slo : float
        Target good share, in (0, 1), e.g. 0.999.

    Returns
    -------
    dict of int to ndarray of float64
        Window -> burn rate per minute (0 where the window holds no events). Windows
        longer than the history so far use the history so far, as Prometheus does.
    """
    if not 0.0 < slo < 1.0:
        raise ValueError("slo must be in (0, 1)")
    b = np.nan_to_num(_floats(bad), nan=0.0, posinf=0.0, neginf=0.0)
    t = np.nan_to_num(_floats(total), nan=0.0, posinf=0.0, neginf=0.0)
    if b.size != t.size:
        raise ValueError("bad and total differ in length")
    budget = 1.0 - slo
    out: dict[int, FloatArray] = {}
    for w in sorted({int(v) for v in windows_minutes}):
        sb, st_ = _window_sums(b, w), _window_sums(t, w)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[w] = np.where(st_ > 0, sb / np.where(st_ > 0, st_, 1.0) / budget, 0.0)
    return out


@dataclass(frozen=True)
class BurnRateAlerts:
    """Per-minute state of a multi-window, multi-burn-rate SLO alert.

    Attributes
    ----------
    severity : ndarray of str (object)
        ``"page"``, ``"ticket"`` (or another policy severity) where firing, ``""`` elsewhere.
        When several policies fire, the most severe wins (page over ticket; table order
        between equals).
    policy : ndarray of int64
        Index into ``policies`` of that winning policy (-1 when not firing).
    long_burn, short_burn : ndarray of float64
        The winning policy's burn rates over its long and short windows (NaN when not
        firing): the evidence an operator sees.
    firing : ndarray of bool, shape (n, len(policies))
        Each policy's own state.
    burn : dict of int to ndarray of float64
        Burn rate per window (every window used by the table).
    policies : tuple of BurnPolicy
        The table that was evaluated.
    """

    severity: npt.NDArray[np.object_]
    policy: IntArray
    long_burn: FloatArray
    short_burn: FloatArray
    firing: BoolArray
    burn: dict[int, FloatArray]
    policies: tuple[BurnPolicy, ...]


def burn_rate_alerts(
    bad: npt.ArrayLike,
    total: npt.ArrayLike,
    slo: float,
    policies: Sequence[BurnPolicy] = DEFAULT_BURN_POLICIES,
) -> BurnRateAlerts:
    """Multi-window, multi-burn-rate SLO alerting (Google SRE workbook, "Alerting on SLOs").

    Each policy fires at minute ``t`` when the burn rate over its long window *and* over
    its short window, both ending at ``t``, exceed its factor. With the default table and
    a 99.9% SLO (budget 0.1%), a 2% error rate (burn 20) pages once the 1 h burn passes
    14.4, i.e. after 60 × 14.4 / 20 = 43.2 minutes of errors, and stops paging about 2
    minutes after the errors stop (when the 5 min burn falls under 14.4), while a 100%
    outage pages within a minute.

    Parameters
    ----------
    bad, total : array_like of float
        Bad and total events per minute (see :func:`burn_rates`).
    slo : float
        Target good share in (0, 1).
    policies : sequence of BurnPolicy
        The table; default :data:`DEFAULT_BURN_POLICIES` (30-day SLO).

    Returns
    -------
    BurnRateAlerts
        States per minute, with the severity and the burn rates that fired.
    """
    table = tuple(policies)
    windows = {p.long_minutes for p in table} | {p.short_minutes for p in table}
    burn = burn_rates(bad, total, sorted(windows), slo=slo)
    n = _floats(total).size
    firing = np.zeros((n, len(table)), dtype=bool)
    for j, p in enumerate(table):
        firing[:, j] = (burn[p.long_minutes] > p.factor) & (burn[p.short_minutes] > p.factor)
    # Most severe first, then table order.
    order = sorted(range(len(table)), key=lambda j: (-_SEVERITY_RANK.get(table[j].severity, 0), j))
    policy = np.full(n, -1, dtype=np.int64)
    for j in reversed(order):
        policy[firing[:, j]] = j
    severity = np.full(n, "", dtype=object)
    long_burn = np.full(n, np.nan)
    short_burn = np.full(n, np.nan)
    for j, p in enumerate(table):
        sel = policy == j
        severity[sel] = p.severity
        long_burn[sel] = burn[p.long_minutes][sel]
        short_burn[sel] = burn[p.short_minutes][sel]
    return BurnRateAlerts(severity, policy, long_burn, short_burn, firing, burn, table)


# --------------------------------------------------------------------------------------
# Onset, lagged correlation, flapping
# --------------------------------------------------------------------------------------


def _z(
    values: FloatArray, baseline: npt.ArrayLike, scale: npt.ArrayLike, sign: float
) -> FloatArray:
    """Oriented deviation in scales; NaN where value or baseline is missing."""
    n = values.size
    base = _broadcast(baseline, n, "baseline")
    sc = np.abs(_broadcast(scale, n, "scale"))
    # A zero or missing scale (a constant history) gets a tiny relative floor, so that any
    # real change counts as large but the arithmetic stays finite.
    floor = 1e-9 * np.maximum(np.abs(np.nan_to_num(base)), 1.0)
    sc = np.where(np.isfinite(sc), np.maximum(sc, floor), np.nan)
    with np.errstate(invalid="ignore", over="ignore"):
        z = sign * (values - base) / sc
    out: FloatArray = np.clip(z, -1e12, 1e12)
    return out


def onset(
    values: npt.ArrayLike,
    *,
    baseline: npt.ArrayLike,
    scale: npt.ArrayLike,
    at: int,
    lookback: int,
    direction: Direction | None = None,
    method: Literal["cusum", "run"] = "cusum",
    k: float = 3.0,
    drift: float = 2.0,
    gap: int = 1,
) -> int:
    """Estimate where a deviation that is under way at index ``at`` started.

    Two estimators, both looking at most ``lookback`` points back and never after ``at``:

    * ``"cusum"`` (default): Page's one-sided CUSUM of the deviation in scales,
      ``S_i = max(0, S_{i-1} + z_i - drift)``, run from ``at - lookback``; the onset is the
      point after the last time ``S`` was 0. Persistent excesses accumulate, so a ramp is
      dated to where it rose about ``drift`` scales above the baseline, earlier than a
      ``k``-scale crossing, and a noise point just before a step rarely moves it (only a
      point beyond ``drift`` scales can: 2.3% of Gaussian noise at the default).
    * ``"run"``: the first point of the current run of points beyond ``k`` scales,
      tolerating interruptions of up to ``gap`` points. Simple to explain, later on ramps.

    Parameters
    ----------
    values : array_like of float
        The series (NaN is missing and neither extends nor breaks the deviation).
    baseline, scale : float or array_like of float
        Expected value and its typical error (scalar or one per point).
    at : int
        Index at which the series is known to deviate.
    lookback : int
        Maximum number of points before ``at`` to search.
    direction : {"up", "down"}, optional
        Bad direction; default: the sign of the deviation at ``at``.
    method : {"cusum", "run"}
        Estimator.
    k : float, default 3.0
        Threshold of the ``"run"`` estimator, in scales.
    drift : float, default 2.0
        Allowance of the CUSUM, in scales.
    gap : int, default 1
        Interruptions tolerated by the ``"run"`` estimator.

    Returns
    -------
    int
        Index of the estimated start (``at`` when the point at ``at`` is not a deviation).
    """
    x = _floats(values)
    if method not in ("cusum", "run"):
        msg = f"method must be 'cusum' or 'run', not {method!r}"
        raise ValueError(msg)
    if not 0 <= at < x.size:
        msg = f"at={at} outside the series of {x.size} points"
        raise ValueError(msg)
    if direction is None:
        z0 = _z(x[at : at + 1], _pick(baseline, at), _pick(scale, at), 1.0)[0]
        sign = -1.0 if z0 < 0 else 1.0
    else:
        sign = _orient(direction)
    lo = max(0, at - max(int(lookback), 0))
    z = _z(x, baseline, scale, sign)[lo : at + 1]
    if not (np.isfinite(z[-1]) and z[-1] > 0):
        return at
    if method == "run":
        start = at - lo
        missed = 0
        for i in range(at - lo - 1, -1, -1):
            if not np.isfinite(z[i]):
                continue
            if z[i] > k:
                start, missed = i, 0
            else:
                missed += 1
                if missed > gap:
                    break
        return lo + start
    s = 0.0
    last_zero = -1
    for i, zi in enumerate(z):
        if np.isfinite(zi):
            s = max(0.0, s + float(zi) - drift)
        if s == 0.0:
            last_zero = i
    return lo + min(last_zero + 1, at - lo)


def _pick(x: npt.ArrayLike, i: int) -> float:
    a = np.asarray(x, dtype=np.float64)
    return float(a) if a.ndim == 0 else float(a.ravel()[i])


class LagCorrelation(NamedTuple):
    """Best lagged correlation between a customer series and an operational one.

    Attributes
    ----------
    lag : int
        Points by which the operational series leads (positive: ops moved first).
    r : float
        Pearson correlation at that lag (0 when undefined: constant or too few points).
    p : float
        Approximate one-sided p-value of ``r``, Bonferroni-corrected for the lags tried.
        Indicative only: autocorrelated series make it optimistic.
    """

    lag: int
    r: float
    p: float


def lagged_correlation(
    customer: npt.ArrayLike,
    ops: npt.ArrayLike,
    max_lag: int,
    *,
    min_pairs: int = 5,
    absolute: bool = False,
) -> LagCorrelation:
    """Find the lag at which an operational series best tracks a customer series.

    Pass *deviations* (value − baseline, oriented so that positive is worse on both sides)
    over the window of interest, with some normal points before the incident so there is
    variation to correlate. For each lag ``L`` in ``[-max_lag, max_lag]`` the Pearson
    correlation of ``customer[t]`` with ``ops[t - L]`` is computed over the pairs where
    both are finite; the largest wins (ties go to the smallest ``|L|``). A positive lag
    means the operational series moved first.

    Parameters
    ----------
    customer, ops : array_like of float
        Aligned series of equal length; NaN is missing.
    max_lag : int
        Largest lag tried, in points.
    min_pairs : int, default 5
        Fewer finite pairs than this at a lag gives no correlation there.
    absolute : bool, default False
        Rank lags by ``|r|`` instead of ``r`` (for series that were not oriented).

    Returns
    -------
    LagCorrelation
        ``(lag, r, p)``; ``(0, 0.0, 1.0)`` when no lag has a defined correlation.
    """
    c = _floats(customer)
    o = _floats(ops)
    if c.size != o.size:
        raise ValueError("customer and ops differ in length")
    n = c.size
    lags = sorted(range(-max_lag, max_lag + 1), key=lambda v: (abs(v), -v))
    best: tuple[float, int, float, int] | None = None
    for lag in lags:
        if abs(lag) >= n:
            continue
        a = c[lag:] if lag >= 0 else c[: n + lag]
        b = o[: n - lag] if lag >= 0 else o[-lag:]
        ok = np.isfinite(a) & np.isfinite(b)
        m = int(ok.sum())
        if m < max(min_pairs, 3):
            continue
        aa, bb = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
        den = math.sqrt(float(aa @ aa) * float(bb @ bb))
        if not den > 0 or not math.isfinite(den):
            continue
        r = float(np.clip(float(aa @ bb) / den, -1.0, 1.0))
        key = abs(r) if absolute else r
        if best is None or key > best[0]:
            best = (key, lag, r, m)
    if best is None:
        return LagCorrelation(0, 0.0, 1.0)
    _, lag, r, m = best
    rr = min(abs(r) if absolute else r, 1.0 - 1e-12)
    t = rr * math.sqrt((m - 2) / (1.0 - rr * rr))
    p = float(stats.t.sf(t, m - 2)) * (2.0 if absolute else 1.0)
    return LagCorrelation(lag, r, float(min(1.0, p * len(lags))))


def flapping(states: npt.ArrayLike, window: int, max_changes: int) -> BoolArray:
    """Whether a state series changes too often to be worth notifying, per point.

    True at point ``i`` when the state changed (false→true or true→false) more than
    ``max_changes`` times among the last ``window`` points up to ``i``. The evaluation
    job keeps an alert's state as computed but holds its notifications while this is true
    (and sends one summary when it settles), as Nagios-style flap detection does.

    Parameters
    ----------
    states : array_like of bool
        A rule's firing states.
    window : int
        Trailing window, in points.
    max_changes : int
        Changes tolerated within the window.

    Returns
    -------
    ndarray of bool
        Flapping per point.
    """
    s = np.asarray(states, dtype=bool).ravel()
    if window < 1:
        raise ValueError("window must be at least 1")
    change = np.zeros(s.size)
    change[1:] = s[1:] != s[:-1]
    counts = np.rint(_window_sums(change, window))
    out: BoolArray = counts > max_changes
    return out


def trailing_baseline(
    values: npt.ArrayLike, window: int = 60, *, min_points: int | None = None
) -> tuple[FloatArray, FloatArray]:
    """A quick causal baseline: trailing median and robust scale of the previous points.

    ``expected[i]`` is the median of the ``window`` points before ``i``; ``scale[i]`` is
    1.4826 × the median absolute deviation of those points around their median. Use it
    where no seasonal baseline is available yet (simulated days, new series); a deviation
    that lasts longer than about ``window / 2`` points pulls this baseline towards itself,
    which :func:`juncture.analytics.kpimath.seasonal_baseline` does not.

    Parameters
    ----------
    values : array_like of float
        The series; NaN is missing.
    window : int, default 60
        Points of history.
    min_points : int, optional
        Finite points needed (default ``window // 2``); NaN before.

    Returns
    -------
    expected, scale : ndarray of float64
        Per point.
    """
    x = _floats(values)
    n = x.size
    minp = max(1, window // 2 if min_points is None else min_points)
    med = np.full(n, np.nan)
    mad = np.full(n, np.nan)
    if window < 1:
        raise ValueError("window must be at least 1")
    padded = np.concatenate([np.full(window, np.nan), x])
    # Row i holds x[i - window : i]; chunks keep memory bounded on long series.
    chunk = max(1, 1_000_000 // window)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        rows = np.lib.stride_tricks.sliding_window_view(padded[lo : hi + window - 1], window)
        rows = np.where(np.isfinite(rows), rows, np.nan)
        ok = np.isfinite(rows).sum(axis=1) >= minp
        if ok.any():
            m = np.nanmedian(rows[ok], axis=1)
            med[lo:hi][ok] = m
            mad[lo:hi][ok] = np.nanmedian(np.abs(rows[ok] - m[:, None]), axis=1)
    return med, _MAD_TO_SD * mad


def window_dropoff(
    prev_counts: npt.ArrayLike,
    cur_counts: npt.ArrayLike,
    *,
    window: int = 10,
    baseline_minutes: int = 1440,
    min_sessions: int = 3,
    min_baseline_volume: float = 30.0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Drop-off between two funnel steps over trailing windows, its expectation and scale.

    ``prev_counts`` and ``cur_counts`` are the sessions reaching the previous and the current
    step per minute. At each minute the drop-off is ``1 - b / a`` over the trailing
    ``window`` minutes (``a``, ``b``: the window sums). Its expectation is the ratio of sums
    over the ``baseline_minutes`` before the window (a median of ratios of a handful of
    sessions is biased and their MAD often 0), known once the baseline holds at least
    ``min_baseline_volume`` sessions per window minute. The scale is chosen per point so that
    ``(drop - expected) / scale`` is the normal quantile of the exact binomial tail (mid-p)
    of that many drop-offs out of ``a`` sessions; points on fewer than ``min_sessions``
    sessions are missing (NaN). Causal: each point uses only minutes up to itself.

    Returns
    -------
    drop, expected, scale : ndarray of float64
        Per minute (the drop-off's volume is the window sum of ``prev_counts``).
    """
    if window < 1 or baseline_minutes < 1:
        raise ValueError("window and baseline_minutes must be at least 1")
    a = _window_sums(np.nan_to_num(_floats(prev_counts)), window)
    b = _window_sums(np.nan_to_num(_floats(cur_counts)), window)
    if a.size != b.size:
        raise ValueError("prev_counts and cur_counts differ in length")
    w = window
    with np.errstate(divide="ignore", invalid="ignore"):
        drop = np.where(a > 0, 1.0 - b / a, np.nan)
    # Trailing sums of the window sums before the window (each minute counted w times).
    sa = np.roll(_window_sums(a, baseline_minutes), w)
    sb = np.roll(_window_sums(b, baseline_minutes), w)
    sa[: min(w, sa.size)] = 0.0
    sb[: min(w, sb.size)] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(sa >= min_baseline_volume * w, 1.0 - sb / sa, np.nan)
        pc = np.clip(p, 0.02, 0.98)
        se = np.where(a > 0, np.sqrt(pc * (1.0 - pc) / a), np.nan)
    n = np.rint(a)
    k = np.clip(np.rint(a - b), 0, n)
    ok = np.isfinite(pc) & (n >= min_sessions)
    with np.errstate(invalid="ignore"):
        tail = stats.binom.sf(k, n, pc) + 0.5 * stats.binom.pmf(k, n, pc)
    z = stats.norm.isf(np.clip(np.nan_to_num(tail, nan=1.0), 1e-12, 1.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(np.abs(z) > 1e-3, (drop - p) / z, se)
        scale = np.where(ok & (scale > 0), scale, se)
    drop_out: FloatArray = np.where(ok, drop, np.nan)
    return drop_out, p.astype(np.float64), scale.astype(np.float64)


def ops_scale_floor(
    values: npt.ArrayLike,
    expected: npt.ArrayLike,
    scale: npt.ArrayLike,
    *,
    kind: Literal["error_rate", "latency"],
    window: int,
    requests: npt.ArrayLike | None = None,
    error_floor: float = 0.25,
    latency_floor: float = 0.1,
) -> FloatArray:
    """Least scale of an operational series, so that noise does not count as a deviation.

    * ``error_rate``: a rate of a few errors has a MAD of 0. The scale is at least the
      binomial noise at ``requests`` per reading plus ``error_floor`` of the rate's trailing
      mean over ``window`` readings (its own wander), and at least one error per reading
      (``1 / requests``). Without ``requests`` only the relative floor applies.
    * ``latency``: at least ``latency_floor`` of the expected value.

    Returns
    -------
    ndarray of float64
        The floored scale per point (NaN where ``scale`` and the floor are both unknown).
    """
    v = _floats(values)
    e = _broadcast(expected, v.size, "expected")
    s = _broadcast(scale, v.size, "scale")
    if kind == "latency":
        out: FloatArray = np.fmax(s, latency_floor * e)
        return out
    if kind != "error_rate":
        raise ValueError(f"kind must be 'error_rate' or 'latency', not {kind!r}")
    mean = pd.Series(v).shift(1).rolling(max(window, 1), min_periods=1).mean()
    pe = np.clip(np.nan_to_num(mean.to_numpy(np.float64)), 1e-4, 0.5)
    spread2 = (error_floor * pe) ** 2
    least = np.zeros(v.size)
    if requests is not None:
        req = np.maximum(np.nan_to_num(_broadcast(requests, v.size, "requests"), nan=1.0), 1.0)
        spread2 = spread2 + pe * (1 - pe) / req
        least = 1.0 / req
    out = np.fmax(np.fmax(s, np.sqrt(spread2)), least)
    return out


# --------------------------------------------------------------------------------------
# Customer impact
# --------------------------------------------------------------------------------------


def _minutes(timestamps: npt.ArrayLike | pd.Index) -> IntArray:
    """UTC minutes since the epoch: integers are taken as such, datetimes converted."""
    a = np.asarray(timestamps)
    if a.dtype.kind in "iu":
        return a.astype(np.int64).ravel()
    idx = pd.DatetimeIndex(pd.Series(np.ravel(timestamps)))
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    out: IntArray = idx.as_unit("s").asi8 // 60
    return out


def _as_datetime(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, tz=UTC)


@dataclass(frozen=True)
class SideSeries:
    """One side of the customer-impact rule: a series with its expectation.

    Attributes
    ----------
    name : str
        What it is, as shown in the alert, e.g. ``"funnel purchase/checkout drop-off"`` or
        ``"checkout latency_p95_ms eu"``.
    timestamps : array_like
        Bucket starts: datetime64 / tz-aware datetimes (UTC) or integer UTC minutes since
        the epoch. All series of one evaluation share the same grain.
    values : array_like of float
        One value per timestamp; NaN is missing.
    expected, scale : float or array_like of float
        Baseline and its typical error per timestamp (e.g. ``seasonal_baseline(...)``'s
        ``expected`` and ``scale``, or :func:`trailing_baseline`).
    direction : {"up", "down"}
        Which way is worse.
    volume : array_like of float, optional
        Exposure per timestamp when ``values`` is a rate (sessions reaching the step,
        orders, responses): the excess effect is then ``(value - expected) × volume``.
    unit : str
        Unit of the excess effect, e.g. ``"drop-offs"``, ``"tickets"``.
    service, region, journey : str, optional
        Catalog labels carried into the finding.
    """

    name: str
    timestamps: npt.ArrayLike
    values: npt.ArrayLike
    expected: npt.ArrayLike
    scale: npt.ArrayLike
    direction: Direction
    volume: npt.ArrayLike | None = None
    unit: str = ""
    service: str | None = None
    region: str | None = None
    journey: str | None = None

    @classmethod
    def from_baseline(
        cls,
        name: str,
        series: pd.Series,
        baseline: BaselineResult,
        direction: Direction,
        **labels: str | npt.ArrayLike | None,
    ) -> SideSeries:
        """Build a side from a tz-aware series and its :func:`seasonal_baseline` result.

        Extra keyword arguments (``volume``, ``unit``, ``service``, ``region``,
        ``journey``) are passed through.
        """
        return cls(
            name=name,
            timestamps=series.index,
            values=series.to_numpy(dtype=np.float64, na_value=np.nan),
            expected=baseline.expected.to_numpy(dtype=np.float64, na_value=np.nan),
            scale=baseline.scale.to_numpy(dtype=np.float64, na_value=np.nan),
            direction=direction,
            **labels,  # type: ignore[arg-type]  # labels are typed by the dataclass fields
        )


@dataclass(frozen=True)
class ImpactParams:
    """Parameters of :func:`customer_impact`. Durations are minutes; counts are points.

    Attributes
    ----------
    k_customer : float, default 2.5
        A customer point is bad beyond this many scales in its bad direction. Lower than
        ``k_ops`` on purpose: per-minute customer rates are noisy (a 30% drop-off over 60
        sessions has a 6-point standard error) and the ops condition already guards
        against false alarms. On a simulated week (20 incidents, 10 ops-only spikes,
        trailing 2 h baselines) 3.0 found 45% of incidents, 2.5 found 95% with a median
        delay of 4 minutes and no false finding.
    n_customer, m_customer : int, default 3 and 5
        The customer side deviates when at least ``n`` of the last ``m`` points are bad.
    k_ops : float, default 3.0
        An operational point is bad beyond this many scales.
    n_ops, m_ops : int, default 2 and 3
        An operational series deviates when ``n`` of its last ``m`` points are bad.
    lead : int, default 15
        How long before the customer side an operational deviation still counts.
    clear_k : float, default 2.0
        A customer point is normal at or below this many scales (between ``clear_k`` and
        ``k_customer`` a point neither extends nor ends a finding).
    clear_points : int, default 10
        Normal points in a row that end a finding (shorter dips keep it open: flapping).
        Missing points are skipped: they neither count nor break the run.
    cooldown : int, default 30
        After a finding ends, no new one opens on the same customer series for this long...
    reopen_ratio : float, default 2.0
        ...unless its deviation is this many times the previous finding's peak.
    onset_lookback : int, default 60
        How far back onsets are searched.
    context : int, default 60
        Normal history included before the onset for the lagged correlation.
    quiet_end : int, optional
        A finding also ends once its customer side has not deviated (``n_customer`` of
        ``m_customer``) for this many minutes, even without ``clear_points`` normal points
        in a row (a noisy step with few sessions may not show those for hours). None: only
        the normal run ends a finding.
    """

    k_customer: float = 2.5
    n_customer: int = 3
    m_customer: int = 5
    k_ops: float = 3.0
    n_ops: int = 2
    m_ops: int = 3
    lead: int = 15
    clear_k: float = 2.0
    clear_points: int = 10
    cooldown: int = 30
    reopen_ratio: float = 2.0
    onset_lookback: int = 60
    context: int = 60
    quiet_end: int | None = None


@dataclass(frozen=True)
class OpsEvidence:
    """An operational series that deviated with the customer side.

    Attributes
    ----------
    name, service, region : str / str or None
        The series and its catalog labels.
    onset : datetime
        When its deviation started (CUSUM backtrack).
    lead_minutes : float
        Customer onset minus this onset (positive: ops moved first).
    correlation : float
        Best lagged correlation of the two oriented deviations over the finding (with
        ``context`` minutes of normal history before it).
    correlation_lag_minutes : float
        The lag of that correlation (positive: ops leading).
    p_value : float
        Its approximate p-value (see :class:`LagCorrelation`).
    peak_z : float
        Largest deviation, in scales, within the finding.
    """

    name: str
    service: str | None
    region: str | None
    onset: datetime
    lead_minutes: float
    correlation: float
    correlation_lag_minutes: float
    p_value: float
    peak_z: float


@dataclass(frozen=True)
class ImpactFinding:
    """One customer-impact alert: both sides' evidence.

    Attributes
    ----------
    customer : str
        The customer series' name.
    journey, customer_service : str or None
        Labels of the customer series.
    start : datetime
        Estimated start of the customer impact (onset of the customer deviation).
    opened_at : datetime
        The bucket at which the rule fired (the alert time).
    end : datetime
        Last abnormal customer bucket (so far, when ``ongoing``).
    closed_at : datetime or None
        The bucket at which ``clear_points`` normal points completed; None when ongoing.
    ongoing : bool
        Whether the finding was still open at the end of the data.
    ops_start : datetime
        Earliest onset among the operational series.
    ops : tuple of OpsEvidence
        The operational series that deviated, earliest onset first.
    services, regions : tuple of str
        Distinct labels of those series.
    peak_z : float
        Largest customer deviation within the finding, in scales.
    excess : float
        Extra bad outcomes on the customer side over ``[start, end]``: the sum of the
        oriented ``value - expected`` (× ``volume`` when given), in ``unit``.
    unit : str
        Unit of ``excess``.
    """

    customer: str
    journey: str | None
    customer_service: str | None
    start: datetime
    opened_at: datetime
    end: datetime
    closed_at: datetime | None
    ongoing: bool
    ops_start: datetime
    ops: tuple[OpsEvidence, ...]
    services: tuple[str, ...]
    regions: tuple[str, ...]
    peak_z: float
    excess: float
    unit: str


@dataclass(frozen=True)
class _Grid:
    t0: int
    step: int
    n: int

    def place(self, side: SideSeries) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Values, expected, scale and volume of ``side`` on this grid (NaN elsewhere)."""
        ts = _minutes(side.timestamps)
        v = _floats(side.values)
        if ts.size != v.size:
            msg = f"{side.name}: {v.size} values but {ts.size} timestamps"
            raise ValueError(msg)
        cols = [
            v,
            _broadcast(side.expected, v.size, f"{side.name} expected"),
            _broadcast(side.scale, v.size, f"{side.name} scale"),
            _broadcast(np.nan if side.volume is None else side.volume, v.size, "volume"),
        ]
        pos = (ts - self.t0) // self.step
        ok = ((ts - self.t0) % self.step == 0) & (pos >= 0) & (pos < self.n)
        out = []
        for c in cols:
            a = np.full(self.n, np.nan)
            a[pos[ok]] = c[ok]
            out.append(a)
        return out[0], out[1], out[2], out[3]


def _grid_of(side: SideSeries) -> _Grid:
    ts = _minutes(side.timestamps)
    if ts.size == 0:
        return _Grid(0, 1, 0)
    if ts.size > 1 and np.any(np.diff(ts) <= 0):
        raise ValueError(f"{side.name}: timestamps must be strictly increasing")
    step = int(np.min(np.diff(ts))) if ts.size > 1 else 1
    return _Grid(int(ts[0]), step, int((ts[-1] - ts[0]) // step) + 1)


def _n_of_m(bad: BoolArray, n: int, m: int) -> BoolArray:
    if not 1 <= n <= m:
        raise ValueError("need 1 <= n <= m")
    counts = np.rint(_window_sums(bad.astype(np.float64), m))
    out: BoolArray = counts >= n
    return out


def _trailing_any(mask: BoolArray, window: int) -> BoolArray:
    """Whether ``mask`` was true at any of the last ``window`` points (inclusive)."""
    return _window_sums(mask.astype(np.float64), max(window, 1)) > 0.5


def _trailing_max(x: FloatArray, window: int) -> FloatArray:
    w = max(window, 1)
    pad = np.concatenate([np.full(w - 1, -np.inf), np.where(np.isfinite(x), x, -np.inf)])
    m = maximum_filter1d(pad, size=w, mode="nearest", origin=(w - 1) // 2)
    out: FloatArray = m[w - 1 :]
    return out


def excess_effect(side: SideSeries, start: int, end: int) -> float:
    """Extra bad outcomes of ``side`` between two UTC minutes (inclusive).

    The sum over the buckets in ``[start, end]`` of ``value - expected``, oriented so that
    positive is worse and multiplied by ``volume`` when given (a drop-off rate × sessions
    gives extra drop-offs; a ticket count alone gives extra tickets). Missing buckets count
    as 0. Use it to state the effect of a finding on other customer series (orders lost,
    extra tickets) with the finding's ``start`` and ``end``.

    Parameters
    ----------
    side : SideSeries
        The series.
    start, end : int
        UTC minutes since the epoch (``int(dt.timestamp() // 60)``).

    Returns
    -------
    float
        The excess, in ``side.unit``.
    """
    ts = _minutes(side.timestamps)
    v = _floats(side.values)
    dev = _orient(side.direction) * (v - _broadcast(side.expected, v.size, "expected"))
    if side.volume is not None:
        dev = dev * _broadcast(side.volume, v.size, "volume")
    sel = (ts >= start) & (ts <= end)
    return float(np.nansum(np.where(np.isfinite(dev), dev, 0.0)[sel]))


def customer_impact(
    customer: SideSeries,
    ops: Sequence[SideSeries],
    *,
    params: ImpactParams | None = None,
) -> list[ImpactFinding]:
    """Customer-impact rule: customers are worse off and the services behind them moved.

    The rule opens a finding at the first bucket where both hold:

    1. the customer series deviates: at least ``n_customer`` of its last ``m_customer``
       points are more than ``k_customer`` scales from the baseline in its bad direction
       (e.g. 3 of 5 minutes of checkout drop-off beyond 2.5σ);
    2. at least one operational series mapped to that step deviates (``n_ops`` of
       ``m_ops`` points beyond ``k_ops`` scales in *its* bad direction) within the
       customer's window or up to ``lead`` minutes before it.

    The finding stays open while the customer side is abnormal and ends after
    ``clear_points`` consecutive normal points (within ``clear_k`` scales), or, with
    ``quiet_end``, once the customer side has not deviated for that many minutes: short
    dips do not split an incident into many alerts. After it ends, no new finding opens on
    the same customer series for ``cooldown`` minutes unless the deviation is at least
    ``reopen_ratio`` times the previous peak.

    Every decision uses only buckets up to the current one, so running the rule on a longer
    series never changes a finding that had closed, nor when any finding opened.

    Each finding carries both sides' evidence: when the customer impact started (CUSUM
    onset), every operational series that deviated between ``lead`` minutes before that
    and the end, with its onset, how far it led the customer side, and the lagged
    correlation of the two deviations; and the excess on the customer side (extra
    drop-offs, tickets...), see :func:`excess_effect`.

    A customer deviation with no operational deviation gives no finding here (it is the
    plain deviation rule's business, see :func:`deviation_states`); an operational
    deviation without customer effect is the ops rules' business.

    Parameters
    ----------
    customer : SideSeries
        The customer-facing series (drop-off at a step, ticket volume or negative share of
        a service or category, CSAT, NPS).
    ops : sequence of SideSeries
        The operational series of the services mapped to that step, on the same grain.
    params : ImpactParams, optional
        Thresholds and durations.

    Returns
    -------
    list of ImpactFinding
        In time order; the last one may be ``ongoing``.
    """
    p = params or ImpactParams()
    grid = _grid_of(customer)
    if grid.n == 0:
        return []
    step = grid.step
    cv, ce, cs, cvol = grid.place(customer)
    zc = _z(cv, ce, cs, _orient(customer.direction))
    with np.errstate(invalid="ignore"):
        c_bad = zc > p.k_customer
        c_normal = zc <= p.clear_k
    c_dev = _n_of_m(c_bad, p.n_customer, p.m_customer)

    lead_pts = max(math.ceil(p.lead / step), 0)
    placed = []
    ops_recent = np.zeros(grid.n, dtype=bool)
    for side in ops:
        v, e, s, _ = grid.place(side)
        zo = _z(v, e, s, _orient(side.direction))
        with np.errstate(invalid="ignore"):
            o_dev = _n_of_m(zo > p.k_ops, p.n_ops, p.m_ops)
        placed.append((side, v, e, s, zo, o_dev))
        ops_recent |= _trailing_any(o_dev, lead_pts + p.m_customer)
    impact = c_dev & ops_recent

    # Where each normal run of clear_points completes, and the customer's recent peak.
    # Counted over known points only: a gap neither clears a finding nor breaks a clearing
    # run (a step with a few sessions a minute has gaps all night, and a finding that
    # could only close on an unbroken run of known points stayed open for days).
    known = np.flatnonzero(np.isfinite(zc))
    clear_done = known[_run_length(c_normal[known]) >= p.clear_points]
    if p.quiet_end is not None:
        # A finding also ends once its customer side has not deviated (N of M) for
        # quiet_end minutes, whatever the points in between: a step with a handful of
        # sessions rarely shows ten normal points in a row, and a finding kept open for
        # hours by it swallowed every later incident of the journey.
        quiet = np.flatnonzero(_run_length(~c_dev) >= max(math.ceil(p.quiet_end / step), 1))
        clear_done = np.union1d(clear_done, quiet)
    recent_peak = _trailing_max(zc, p.m_customer)
    candidates = np.flatnonzero(impact)

    findings: list[ImpactFinding] = []
    last_end = -(10**12)
    last_peak = math.inf
    suppressed_until = -1
    i = 0
    while i < candidates.size:
        t = int(candidates[i])
        k = int(np.searchsorted(clear_done, t, side="right"))
        ongoing = k >= clear_done.size
        # The bucket at which the episode containing t clears (known once it happens).
        close = grid.n - 1 if ongoing else int(clear_done[k])
        larger = recent_peak[t] >= p.reopen_ratio * last_peak
        if not larger and ((t - last_end) * step < p.cooldown or t <= suppressed_until):
            # An episode that starts within the cooldown is held back until it clears,
            # unless it grows much larger than the last finding.
            suppressed_until = close
            i += 1
            continue
        # The finding ends at its last bad point that belongs to an N-of-M stretch (a lone
        # noise point while it clears, or a point between the clear and the bad line,
        # neither ends it nor extends it).
        # (Looking ahead at most to the close, so a closed finding never changes.)
        ahead = _trailing_any(c_dev[t : close + 1][::-1], p.m_customer)[::-1]
        bad_in = np.flatnonzero(c_bad[t : close + 1] & ahead)
        end = t + int(bad_in[-1]) if bad_in.size else t
        findings.append(
            _finding(customer, placed, grid, p, zc, cv, ce, cvol, t, end, close, ongoing, last_end)
        )
        last_end = end
        last_peak = findings[-1].peak_z
        if ongoing:
            break
        i = int(np.searchsorted(candidates, close, side="right"))
    return findings


def _finding(
    customer: SideSeries,
    placed: list[tuple[SideSeries, FloatArray, FloatArray, FloatArray, FloatArray, BoolArray]],
    grid: _Grid,
    p: ImpactParams,
    zc: FloatArray,
    cv: FloatArray,
    ce: FloatArray,
    cvol: FloatArray,
    opened: int,
    end: int,
    close: int,
    ongoing: bool,
    previous_end: int,
) -> ImpactFinding:
    step = grid.step
    lookback = max(math.ceil(p.onset_lookback / step), 1)
    floor = max(previous_end + 1, 0)
    sign = _orient(customer.direction)
    bad_c = np.flatnonzero(zc[: opened + 1] > p.k_customer)
    anchor = int(bad_c[-1]) if bad_c.size else opened
    c_start = max(
        onset(zc, baseline=0.0, scale=1.0, at=anchor, lookback=lookback, direction="up"), floor
    )
    lead_pts = math.ceil(p.lead / step)
    ctx = math.ceil(p.context / step)
    # The same reach as the opening condition: lead before the customer's N-of-M window.
    lo = max(min(c_start, opened - p.m_customer + 1) - lead_pts, 0)
    win_lo = max(c_start - ctx, 0)
    evidence: list[OpsEvidence] = []
    for side, _v, _e, _s, zo, o_dev in placed:
        hits = np.flatnonzero(o_dev[lo : end + 1])
        if not hits.size:
            continue
        first = lo + int(hits[0])
        # Date the deviation itself from its latest bad point up to the first N-of-M point.
        bad_o = np.flatnonzero(zo[: first + 1] > p.k_ops)
        anchor_o = int(bad_o[-1]) if bad_o.size else first
        o_start = onset(zo, baseline=0.0, scale=1.0, at=anchor_o, lookback=lookback, direction="up")
        seg = slice(win_lo, end + 1)
        corr = lagged_correlation(zc[seg], zo[seg], lead_pts)
        window = zo[max(o_start, 0) : end + 1]
        peak = float(np.max(window[np.isfinite(window)], initial=0.0))
        evidence.append(
            OpsEvidence(
                name=side.name,
                service=side.service,
                region=side.region,
                onset=_as_datetime(grid.t0 + o_start * step),
                lead_minutes=float((c_start - o_start) * step),
                correlation=corr.r,
                correlation_lag_minutes=float(corr.lag * step),
                p_value=corr.p,
                peak_z=peak,
            )
        )
    evidence.sort(key=lambda ev: (ev.onset, -ev.peak_z))
    dev = sign * (cv - ce)
    if customer.volume is not None:
        dev = dev * cvol
    seg_dev = dev[c_start : end + 1]
    excess = float(np.sum(seg_dev[np.isfinite(seg_dev)]))
    seg_z = zc[c_start : end + 1]
    peak_z = float(np.max(seg_z[np.isfinite(seg_z)], initial=0.0))
    ops_start = min((ev.onset for ev in evidence), default=_as_datetime(grid.t0 + c_start * step))
    return ImpactFinding(
        customer=customer.name,
        journey=customer.journey,
        customer_service=customer.service,
        start=_as_datetime(grid.t0 + c_start * step),
        opened_at=_as_datetime(grid.t0 + opened * step),
        end=_as_datetime(grid.t0 + end * step),
        closed_at=None if ongoing else _as_datetime(grid.t0 + close * step),
        ongoing=ongoing,
        ops_start=ops_start,
        ops=tuple(evidence),
        services=tuple(sorted({ev.service for ev in evidence if ev.service})),
        regions=tuple(sorted({ev.region for ev in evidence if ev.region})),
        peak_z=peak_z,
        excess=excess,
        unit=customer.unit,
    )


# --------------------------------------------------------------------------------------
# Evaluation against ground truth
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DetectionQuality:
    """Detection quality of alerts against ground-truth incident windows.

    Attributes
    ----------
    detected_share : float
        Share of truth windows with an alert inside (NaN when there are none).
    median_delay_minutes : float
        Median, over detected windows, of the first alert time minus the window start.
    false_per_week : float
        Alerts matching no window, per week of evaluated time.
    n_truth, n_detected, n_false : int
        The counts behind them.
    delays_minutes : tuple of float
        Each detected window's delay, in truth order.
    """

    detected_share: float
    median_delay_minutes: float
    false_per_week: float
    n_truth: int
    n_detected: int
    n_false: int
    delays_minutes: tuple[float, ...] = field(default=())


TimeLike = datetime | np.datetime64 | pd.Timestamp | int


def _minute_of(t: TimeLike) -> float:
    if isinstance(t, (int, np.integer)):
        return float(t)
    ts = pd.Timestamp(t)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return float(ts.as_unit("ns").value) / 6e10


def evaluate_detection(
    findings: Sequence[ImpactFinding | TimeLike],
    truth_windows: Sequence[tuple[TimeLike, TimeLike]],
    *,
    period: tuple[TimeLike, TimeLike],
    tolerance_minutes: float = 0.0,
) -> DetectionQuality:
    """Detected share, median delay and false alerts per week, against ground truth.

    An alert (a finding's ``opened_at``, or a bare time) *detects* a truth window
    ``[start, end]`` when it falls within ``[start, end + tolerance]``; a window's delay is
    its first detecting alert minus ``start`` (the start of measurable customer impact in
    the simulator's ground truth). An alert that detects no window is false. Alerts that
    fall inside a window that was already detected are duplicates, neither detections nor
    false alarms.

    Parameters
    ----------
    findings : sequence of ImpactFinding or time
        Alerts; times are datetimes (naive ones are UTC), datetime64 or integer UTC
        minutes.
    truth_windows : sequence of (start, end)
        Injected customer-impacting incidents.
    period : (start, end)
        Evaluated time span (for the weekly rate).
    tolerance_minutes : float, default 0
        Grace after a window's end for an alert to still count.

    Returns
    -------
    DetectionQuality
        The issue's quality figures (targets: ≥ 0.95, ≤ 10 min, ≤ 1 per week).
    """
    alerts = np.sort(
        np.array(
            [_minute_of(f.opened_at if isinstance(f, ImpactFinding) else f) for f in findings],
            dtype=np.float64,
        )
    )
    matched = np.zeros(alerts.size, dtype=bool)
    delays: list[float] = []
    for start, stop in truth_windows:
        lo, hi = _minute_of(start), _minute_of(stop) + tolerance_minutes
        inside = (alerts >= lo) & (alerts <= hi)
        if inside.any():
            delays.append(float(alerts[inside][0] - lo))
        matched |= inside
    span = _minute_of(period[1]) - _minute_of(period[0])
    weeks = span / _MINUTES_PER_WEEK
    n_false = int((~matched).sum())
    n_truth = len(truth_windows)
    return DetectionQuality(
        detected_share=len(delays) / n_truth if n_truth else math.nan,
        median_delay_minutes=float(np.median(delays)) if delays else math.nan,
        false_per_week=n_false / weeks if weeks > 0 else math.nan,
        n_truth=n_truth,
        n_detected=len(delays),
        n_false=n_false,
        delays_minutes=tuple(delays),
    )
