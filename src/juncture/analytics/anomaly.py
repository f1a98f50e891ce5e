"""Streaming, explainable anomaly scores for KPI and metric series."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.ndimage import maximum_filter1d
from scipy.signal import lfilter

from juncture.analytics.anomaly_shape import nearest_window_distance

__all__ = [
    "COMPONENTS",
    "AnomalyAlert",
    "AnomalyResult",
    "DetectorState",
    "StreamingAnomalyDetector",
    "infer_season_length",
    "score_series",
]

logger = logging.getLogger(__name__)

#: Component names, in the order of :attr:`AnomalyResult.component_z` columns.
COMPONENTS: tuple[str, ...] = (
    "spike",
    "level_shift",
    "seasonal_deviation",
    "drift",
    "shape_novelty",
)

_SPIKE, _SHIFT, _SEASONAL, _DRIFT, _SHAPE = range(5)
_SECONDS_PER_DAY = 86_400.0
# Values are clipped here so that cubes of differences stay finite in float64.
_VALUE_LIMIT = 1e90
# Timestamps needed before the season length is decided (the decision is then fixed).
_HEAD_FOR_PERIOD = 16
# Surprise is capped (beyond it, every point is equally unusual) and ignored at the start.
_Z_CAP = 1e3
_MIN_HISTORY = 10
# The score at which a point is an alert (the default of AnomalyResult.alerts).
_ALERT_SCORE = 0.5
# The weekly view may win only after this many days of weekly residuals (its scale settles).
_WEEKLY_SETTLE_DAYS = 1
# Shape novelty: values are quantised to integers in [-_SHAPE_LEVELS, _SHAPE_LEVELS] around
# a fast baseline, in units of the typical step; distances below one quantum are noise.
_SHAPE_LEVELS = 20
_SHAPE_BASE_ALPHA = 0.05
_SHAPE_STEP_ALPHA = 0.01
_SHAPE_FLOOR = 1.0
# Candidate windows end at least this many points back (and never overlap the window).
_SHAPE_GAP = 8

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DetectorState:
    """Everything the detector carries from one batch to the next.

    Attributes
    ----------
    n_seen : int
        Points consumed so far (including missing ones after the first finite value).
    last_value : float
        Last finite value (NaN before the first one).
    reference : float
        First finite value; the detector works on differences from it.
    season_length : int or None
        Points per day, once decided; None for no seasonal component.
    period_decided : bool
        Whether ``season_length`` is final.
    timestamp_head : ndarray of int64
        First timestamps (seconds) kept until the season length is decided.
    filters : dict
        Name -> filter memory (``lfilter`` ``zi``) of each exponential average.
    tails : dict
        Name -> last values of each lagged or windowed series.
    """

    n_seen: int = 0
    last_value: float = float("nan")
    reference: float = 0.0
    season_length: int | None = None
    period_decided: bool = False
    timestamp_head: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.zeros(0, dtype=np.int64)
    )
    filters: dict[str, FloatArray] = field(default_factory=dict)
    tails: dict[str, FloatArray] = field(default_factory=dict)


@dataclass(frozen=True)
class AnomalyAlert:
    """One alert-worthy point, explained.

    Attributes
    ----------
    index : int
        Position in the scored batch.
    timestamp : numpy.datetime64 or None
        Its timestamp, when timestamps were given.
    score : float
        Anomaly score in [0, 1].
    component : str
        Which component fired (one of :data:`COMPONENTS`).
    z : float
        How unusual the point is for that component, in robust standard deviations of the
        component's own recent history.
    """

    index: int
    timestamp: np.datetime64 | None
    score: float
    component: str
    z: float


@dataclass(frozen=True)
class AnomalyResult:
    """Scores of one batch of points.

    Attributes
    ----------
    score : ndarray of float64
        Anomaly score in [0, 1] per point (0 for missing values).
    component : ndarray of int8
        Index into :data:`COMPONENTS` of the component that drives each score.
    component_z : ndarray of float64, shape (n, 5)
        Surprise of each component (standard deviations; 0 when not yet available).
    timestamps : ndarray of datetime64 or None
        The timestamps that were scored, when given.
    """

    score: FloatArray
    component: npt.NDArray[np.int8]
    component_z: FloatArray
    timestamps: npt.NDArray[np.datetime64] | None = None

    def component_names(self) -> list[str]:
        """Return the name of the driving component for every point.

        Returns
        -------
        list of str
            One of :data:`COMPONENTS` per point.
        """
        return [COMPONENTS[int(c)] for c in self.component]

    def alerts(self, threshold: float = 0.5) -> list[AnomalyAlert]:
        """List the points whose score is at least ``threshold``, with their explanation.

        Parameters
        ----------
        threshold : float, default 0.5
            Minimum score.

        Returns
        -------
        list of AnomalyAlert
            In time order.
        """
        out = []
        for i in np.flatnonzero(self.score >= threshold):
            c = int(self.component[i])
            ts = None if self.timestamps is None else self.timestamps[i]
            z = float(self.component_z[i, c])
            out.append(AnomalyAlert(int(i), ts, float(self.score[i]), COMPONENTS[c], z))
        return out


def infer_season_length(timestamps: npt.ArrayLike) -> int | None:
    """Guess the number of points per day from the median sampling interval.

    Parameters
    ----------
    timestamps : array_like of datetime64
        Increasing timestamps.

    Returns
    -------
    int or None
        Points per day, or None when the interval is a day or more, or unknown.
    """
    ts = np.asarray(timestamps).astype("datetime64[s]").astype(np.int64)
    if ts.size < 2:
        return None
    step = float(np.median(np.diff(ts)))
    if step <= 0 or step >= _SECONDS_PER_DAY / 4:
        return None
    return round(_SECONDS_PER_DAY / step)


class _Carry:
    """Stateful building blocks whose output does not depend on how the input is chunked."""

    def __init__(self, state: DetectorState, n: int) -> None:
        self.filters = dict(state.filters)
        self.tails = dict(state.tails)
        # 1-based absolute position of every point in this batch.
        self.pos = state.n_seen + 1.0 + np.arange(n, dtype=np.float64)

    def ewm(
        self, key: str, x: FloatArray, alpha: float, count: FloatArray | None = None
    ) -> FloatArray:
        """Bias-corrected exponential mean (the weighted mean of everything seen).

        ``count`` is the number of points that carried information so far (default: all);
        points before the first of them must be fed as 0.
        """
        zi = self.filters.get(key, np.zeros(1))
        y, zf = lfilter([alpha], [1.0, alpha - 1.0], x, zi=zi)
        self.filters[key] = np.asarray(zf, dtype=np.float64)
        n = self.pos if count is None else count
        weight: FloatArray = -np.expm1(n * np.log1p(-alpha))
        out: FloatArray = np.asarray(y, dtype=np.float64) / weight
        return out

    def count(self, key: str, mask: npt.NDArray[np.bool_]) -> FloatArray:
        """Running count of true values of ``mask`` (including this point)."""
        start = self.tails.get(key, np.zeros(1))
        c: FloatArray = np.cumsum(mask, dtype=np.float64) + start[0]
        self.tails[key] = c[-1:].copy() if c.size else start
        return c

    def lag(self, key: str, x: FloatArray, k: int) -> FloatArray:
        """``x`` shifted by ``k`` points (NaN where no such point exists)."""
        tail = self.tails.get(key, np.zeros(0))
        buf = np.concatenate([np.full(max(k - tail.size, 0), np.nan), tail[-k:], x])
        self.tails[key] = buf[-k:].copy()
        return buf[: x.size].copy() if k > 0 else x.copy()

    def decayed_max(self, key: str, x: FloatArray, points: float) -> FloatArray:
        """Largest earlier value of ``x``, each shrunk by ``e`` every ``points`` points since.

        For non-negative ``x``: ``max(x[j] * exp(-(i - j) / points) for j < i)`` (0 if none).
        Computed as a running maximum of ``log x[j] + j / points``, exactly the same
        whatever the batching.
        """
        with np.errstate(divide="ignore"):
            lg = np.log(x) + self.pos / points
        start = self.tails.get(key, np.full(1, -np.inf))
        run = np.maximum.accumulate(np.concatenate([start, lg]))
        self.tails[key] = run[-1:].copy()
        out: FloatArray = np.exp(run[:-1] - self.pos / points)
        return out

    def previous_max(self, key: str, x: FloatArray, k: int) -> FloatArray:
        """Maximum of ``x`` over the ``k`` points before each point (-inf if none)."""
        tail = self.tails.get(key, np.zeros(0))
        buf = np.concatenate([np.full(max(k - tail.size, 0), -np.inf), tail[-k:], x])
        self.tails[key] = buf[-k:].copy()
        # Window [i - k, i - 1] of x is [j - k, j - 1] of buf with j = i + k: a trailing
        # window of size k ending at j - 1.
        m = maximum_filter1d(buf, size=k, mode="constant", cval=-np.inf, origin=(k - 1) // 2)
        return m[k - 1 : k - 1 + x.size].copy()


@dataclass(frozen=True)
class _Params:
    level_alpha: float
    scale_alpha: float
    shift_fast: float
    shift_slow: float
    drift_fast: float
    drift_slow: float
    season_days: int
    smooth_alpha: float
    z_scale: float
    suppress_points: int
    suppress_ratio: float
    suppress_decay: float
    warmup_points: int
    single_weight: float
    range_shift: float
    season_band: int
    range_damp: float
    range_points: int
    range_damp_long: float
    range_shift_long: float
    range_points_long: int
    recurrence_damp: float
    recurrence_tol: float
    drift_median: int
    deseason_shift: bool
    damp: float
    drift_weight: float
    shift_weight: float
    scale_power: float
    shape_scales: tuple[int, ...]
    shape_weights: tuple[float, ...]
    shape_windows: tuple[int, ...]
    shape_points: tuple[int, ...]
    shape_step: float
    weekly: bool
    realert_ratio: float


def _surprise(
    carry: _Carry,
    key: str,
    r: FloatArray,
    alpha: float,
    power: float,
    floor: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Size of a residual over the power mean of its sizes up to the previous point.

    ``floor`` keeps the ratio finite on flat stretches; the result is capped at
    ``_Z_CAP`` and is 0 until ``_MIN_HISTORY`` points have been seen.
    """
    ok = np.isfinite(r)
    rr = np.abs(np.where(ok, r, 0.0))
    seen = carry.count(key + ".n", ok)
    ms = carry.ewm(key, rr**power, alpha, count=np.maximum(seen, 1.0))
    prev_ms = carry.lag(key + ".lag", ms, 1)
    scale = np.where(np.isfinite(prev_ms), prev_ms, 0.0) ** (1.0 / power)
    z = np.minimum(rr / (scale + floor), _Z_CAP)
    # A residual with too little history behind it is not evidence yet.
    usable = ok & np.isfinite(prev_ms) & (seen > _MIN_HISTORY)
    return np.where(usable, z, 0.0), np.where(usable, scale, np.inf)


def _shift(
    carry: _Carry,
    key: str,
    x: FloatArray,
    fast_alpha: float,
    slow_alpha: float,
    gap: float,
    p: _Params,
    floor: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Surprise and scale of a fast mean against a slow mean ``gap / fast_alpha`` points back."""
    ok = np.isfinite(x)
    xv = np.where(ok, x, 0.0)
    seen = np.maximum(carry.count(key + ".xn", ok), 1.0)
    fast = carry.ewm(key + ".fast", xv, fast_alpha, count=seen)
    slow = carry.ewm(key + ".slow", xv, slow_alpha, count=seen)
    lagged = carry.lag(key + ".slow.lag", slow, max(round(gap / fast_alpha), 1))
    r = np.where(ok, fast - lagged, np.nan)
    alpha = p.scale_alpha if key.startswith("shift") else p.scale_alpha * 0.25
    return _surprise(carry, key, r, alpha, p.scale_power, floor)


def _shape_novelty(
    carry: _Carry,
    key: str,
    x: FloatArray,
    scale: int,
    window: int,
    points: int,
    p: _Params,
    floor: FloatArray,
) -> FloatArray:
    """Surprise of the distance from the recent shape to its nearest match in the past.

    At ``scale`` > 1 the series is smoothed and one point in ``scale`` is kept (those whose
    absolute position is a multiple of ``scale``), so windows span longer shapes; the
    surprise is then 0 between kept points.
    """
    n = x.size
    sel: npt.NDArray[np.intp] | None = None
    if scale > 1:
        x = carry.ewm(key + ".smooth", x, 2.0 / (scale + 1.0))
        sel = np.flatnonzero(carry.pos % scale == 0)
        x, floor = x[sel], floor[sel]
    if x.size == 0:
        return np.zeros(n)
    seen = carry.count(key + ".seen", np.ones(x.size, dtype=bool))
    base = carry.lag(key + ".base.lag", carry.ewm(key + ".base", x, _SHAPE_BASE_ALPHA, seen), 1)
    prev = carry.lag(key + ".x", x, 1)
    step = carry.ewm(
        key + ".step", np.where(np.isfinite(prev), np.abs(x - prev), 0.0), _SHAPE_STEP_ALPHA, seen
    )
    q = np.round((x - np.where(np.isfinite(base), base, x)) / (p.shape_step * step + floor))
    q = np.where(np.isfinite(q), np.clip(q, -_SHAPE_LEVELS, _SHAPE_LEVELS), 0.0)
    tail = carry.tails.get(key + ".q", np.zeros(0))
    d2 = nearest_window_distance(q, tail, window, points, max(window, _SHAPE_GAP))
    carry.tails[key + ".q"] = np.concatenate([tail, q])[-(points + window - 1) :].copy()
    dist = np.sqrt(np.maximum(d2, 0.0))
    z, _ = _surprise(carry, key, dist, p.scale_alpha, p.scale_power, np.full(x.size, _SHAPE_FLOOR))
    if sel is None:
        return z
    out = np.zeros(n)
    out[sel] = z
    return out


def _running_median(carry: _Carry, x: FloatArray, k: int) -> FloatArray:
    """Median of each point and the ``k - 1`` points before it (itself before the first)."""
    if k <= 1:
        return x
    cols = np.stack([x] + [carry.lag(f"median.{j}", x, j) for j in range(1, k)], axis=1)
    out: FloatArray = np.median(np.where(np.isfinite(cols), cols, x[:, None]), axis=1)
    return out


def _better(
    a: tuple[FloatArray, FloatArray], b: tuple[FloatArray, FloatArray]
) -> tuple[FloatArray, FloatArray]:
    """Per point, the surprise of the view whose residuals have been smaller lately."""
    use_b = b[1] < a[1]
    return np.where(use_b, b[0], a[0]), np.where(use_b, b[1], a[1])


def _pipeline(
    x: FloatArray, missing: npt.NDArray[np.bool_], state: DetectorState, p: _Params
) -> tuple[FloatArray, npt.NDArray[np.int8], FloatArray, DetectorState]:
    n = x.size
    carry = _Carry(state, n)
    period = state.season_length
    seasonal = period is not None and period >= 2 and p.season_days > 0

    # Spike: the point against a fast exponential level of the points before it.
    level = carry.ewm("level", x, p.level_alpha)
    prev_level = carry.lag("level.lag", level, 1)
    r_spike = x - prev_level
    # Relative floor for the residual scale, so that flat series stay finite.
    magnitude = np.abs(np.where(np.isfinite(prev_level), prev_level, x) + state.reference)
    floor = 1e-9 * magnitude + 1e-300
    spike = _surprise(carry, "spike", r_spike, p.scale_alpha, p.scale_power, floor)

    # Level shift: a fast mean against a slow mean that stops a few points back.
    # Drift: the same at a much slower pace, on a short running median (a lone spike is no
    # drift).
    shift = _shift(carry, "shift", x, p.shift_fast, p.shift_slow, 2.0, p, floor)
    drift = _shift(
        carry,
        "drift",
        _running_median(carry, x, p.drift_median),
        p.drift_fast,
        p.drift_slow,
        1.0,
        p,
        floor,
    )

    z_season = np.zeros(n)
    # Points whose jump already happened at about this time on one of the previous days.
    recurring = np.zeros(n, dtype=bool)
    point_kind = np.full(n, _SPIKE)
    point = spike
    if seasonal:
        assert period is not None  # for mypy: implied by `seasonal`
        # Seasonal deviation: the spike residual against the same residual on previous days.
        past = np.zeros(n)
        count = np.zeros(n)
        for d in range(1, p.season_days + 1):
            v = carry.lag(f"season.{d}", r_spike, d * period)
            ok = np.isfinite(v)
            past += np.where(ok, v, 0.0)
            count += ok
        r_season = np.where(count > 0, r_spike - past / np.maximum(count, 1), np.nan)
        season = _surprise(carry, "season", r_season, p.scale_alpha, p.scale_power, floor)
        if p.season_band > 0:
            # Tolerant to jitter: only the part of the residual outside the range of the
            # residuals within +-season_band points of the same time on previous days counts.
            k = p.season_band
            r_fill = np.where(np.isfinite(r_spike), r_spike, np.nan)
            band_hi = np.full(n, -np.inf)
            band_lo = np.full(n, np.inf)
            for d in range(1, p.season_days + 1):
                lagged = carry.lag(f"band.{d}", r_fill, max(d * period - k - 1, 1))
                up = np.where(np.isfinite(lagged), lagged, -np.inf)
                down = np.where(np.isfinite(lagged), -lagged, -np.inf)
                band_hi = np.maximum(band_hi, carry.previous_max(f"band.{d}.hi", up, 2 * k + 1))
                band_lo = np.minimum(band_lo, -carry.previous_max(f"band.{d}.lo", down, 2 * k + 1))
            known = np.isfinite(band_hi) & np.isfinite(band_lo)
            excess = np.abs(r_spike - np.clip(r_spike, band_lo, np.maximum(band_lo, band_hi)))
            z_band = np.minimum(excess / (season[1] + floor), _Z_CAP)
            recurring = known & (excess <= p.recurrence_tol * np.abs(r_spike))
            season = (np.where(known & np.isfinite(season[1]), z_band, season[0]), season[1])
        if p.weekly:
            # Weekly view: the residual against the same residual a week earlier; the view
            # (daily or weekly) whose residuals have been smaller lately is used.
            r_week = r_spike - carry.lag("season.week", r_spike, 7 * period)
            week = _surprise(carry, "season.w", r_week, p.scale_alpha, p.scale_power, floor)
            # Only once a whole day of weekly residuals has set its scale.
            settled = (
                carry.count("season.w.seen", np.isfinite(r_week)) > _WEEKLY_SETTLE_DAYS * period
            )
            season = _better(season, (week[0], np.where(settled, week[1], np.inf)))
        z_season = season[0]
        point = _better(spike, season)
        point_kind = np.where(season[1] < spike[1], _SEASONAL, _SPIKE)
        if p.deseason_shift:
            # Shift and drift also on the series with yesterday's pattern taken out.
            base = carry.ewm("season.base", x, 1.0 / period)
            ys = x - carry.lag("season.x", x, period)
            ys = ys + carry.lag("season.base.lag", base, period)
            shift = _better(
                shift, _shift(carry, "shift.s", ys, p.shift_fast, p.shift_slow, 2.0, p, floor)
            )
            drift = _better(
                drift, _shift(carry, "drift.s", ys, p.drift_fast, p.drift_slow, 1.0, p, floor)
            )

    # Shape novelty: the recent window of values, at a few time scales, far from anything
    # seen lately (the weighted surprise of the most telling scale counts).
    shape_z = np.zeros(n)
    shape_raw = np.zeros(n)
    for i, scale in enumerate(p.shape_scales):
        z = _shape_novelty(
            carry, f"shape.{i}", x, scale, p.shape_windows[i], p.shape_points[i], p, floor
        )
        wins = p.shape_weights[i] * z > shape_z
        shape_z = np.where(wins, p.shape_weights[i] * z, shape_z)
        shape_raw = np.where(wins, z, shape_raw)

    zs = np.stack([spike[0], shift[0], z_season, drift[0], shape_raw], axis=1)
    zs = np.where(missing[:, None], 0.0, zs)
    point_z = point[0]
    shift_z = p.shift_weight * shift[0]
    inside = np.zeros(n, dtype=bool)
    if p.range_points > 0:
        # Novelty: a value inside the range of recent values has been seen before, so a
        # spike or shift to it is less telling (a slow drift into it still counts fully).
        hi = carry.previous_max("range.hi", x, p.range_points)
        lo = -carry.previous_max("range.lo", -x, p.range_points)
        inside = (x <= hi) & (x >= lo)
        point_z = np.where(inside, point_z * p.range_damp, point_z)
        shift_z = np.where(inside, shift_z * p.range_shift, shift_z)
    if p.range_points_long > 0:
        # A value outside the recent range but inside that of the longer past (a burst of
        # the size that comes every week or two) has been seen before too, less lately.
        hi = carry.previous_max("range.long.hi", x, p.range_points_long)
        lo = -carry.previous_max("range.long.lo", -x, p.range_points_long)
        seen_long = (x <= hi) & (x >= lo) & ~inside
        point_z = np.where(seen_long, point_z * p.range_damp_long, point_z)
        shift_z = np.where(seen_long, shift_z * p.range_shift_long, shift_z)
    # Recurrence: a jump the series made at about this time on a previous day (a daily
    # job) is less telling, even when the seasonal model is not the better one lately.
    point_z = np.where(recurring, point_z * p.recurrence_damp, point_z)
    candidates = np.stack([point_z, shift_z, p.drift_weight * drift[0], shape_z], axis=1)
    candidates = np.where(missing[:, None], 0.0, candidates)
    best = np.argmax(candidates, axis=1)
    total = candidates[np.arange(n), best]
    kinds = np.stack(
        [point_kind, np.full(n, _SHIFT), np.full(n, _DRIFT), np.full(n, _SHAPE)], axis=1
    )
    component = kinds[np.arange(n), best].astype(np.int8)

    # Statistics of the first points are unreliable: their surprise is damped, and so it
    # neither alerts nor raises the bar for later points.
    warm = np.clip((carry.pos - 1.0) / max(p.warmup_points, 1), 0.0, 1.0)
    total = total * warm
    # A short memory of surprise, then a report only when it beats the recent past: NAB,
    # like an operator, values the first alert of an episode and not the repeats. The bar
    # set by an earlier surprise fades (by e every suppress_decay points) rather than
    # dropping at once after a fixed window.
    smooth = carry.ewm("smooth", total, p.smooth_alpha)
    stat = np.maximum(p.single_weight * total, smooth)
    recent = carry.decayed_max("recent", stat, p.suppress_decay)
    beats = stat > p.suppress_ratio * recent
    # After an alert (a score of at least 0.5), the same episode must get much worse to
    # alert again within the suppression window: one alert per incident, not a burst.
    alert_stat = p.z_scale * np.log(1.0 / (1.0 - _ALERT_SCORE))
    alerted = np.where(stat >= alert_stat, stat, 0.0)
    beats &= stat > p.realert_ratio * carry.previous_max("alerted", alerted, p.suppress_points)
    stat = np.where(beats, stat, stat * p.damp)
    score = -np.expm1(-stat / p.z_scale)
    score = np.where(missing | ~np.isfinite(score), 0.0, np.clip(score, 0.0, 1.0))
    new_state = replace(
        state,
        n_seen=state.n_seen + n,
        filters=carry.filters,
        tails=carry.tails,
    )
    return score, component, zs, new_state


class StreamingAnomalyDetector:
    """Streaming anomaly detector for one series, scoring each point from past data only.

    Five components watch the series, each a residual divided by the (cubic) power mean of
    its own past sizes, so that one parameter set serves every series whatever its units
    and noise:

    - **spike**: the point against a fast exponential level of the points before it;
    - **seasonal_deviation**: the same residual against the residuals at the same time of
      day on previous days (tolerant to a few points of jitter), or at the same time a week
      earlier, whichever has been the better model lately; when it has been better than
      the spike model lately it replaces it;
    - **level_shift**: a fast mean against a slow mean that ends a few points back, on the
      series and on the series with yesterday's pattern taken out (the better view wins);
    - **drift**: the same at a much slower pace, on a 3-point running median;
    - **shape_novelty**: the distance from the last few points (quantised, around a fast
      baseline) to the nearest window of the recent past, at a few time scales (the series
      smoothed and thinned to one point in 16 or 64 for longer shapes): a change of shape
      or noise inside a range the series has already visited.

    The largest surprise drives the point. A point inside the range of the recent past
    counts less (it has been seen before; inside that of the longer past, a little less),
    so does a jump that happened at about the same time on a previous day (a daily job),
    a short memory turns runs of moderate surprise
    into evidence, and a point is reported only when its surprise beats the largest of the
    recent past, each earlier surprise fading by a factor e every 180 points (and, shortly
    after an alert, 1.5 times that alert's), so an episode gives one alert rather than many.
    The surprise ``s`` is mapped to a score ``1 - exp(-s / z_scale)`` in [0, 1]; 0.5 is the
    alerting level.

    The score at a point never changes when later points arrive, and feeding a series in
    batches with :meth:`update` gives exactly the scores of one call on the whole series.
    The default parameters were tuned once on the whole NAB corpus (see
    ``docs/detector.md``).

    Parameters
    ----------
    season_length : int or None, default None
        Points per day. When None it is inferred from the first 16 timestamps (and there is
        no seasonal component without timestamps).
    level_alpha : float
        Smoothing factor of the fast level the spike model compares against.
    scale_alpha : float
        Smoothing factor of every residual scale (the drift scale uses a quarter of it).
    shift_fast, shift_slow : float
        Smoothing factors of the level-shift means.
    drift_fast, drift_slow : float
        Smoothing factors of the drift means.
    season_days : int
        Previous days compared by the seasonal model (0 turns it off).
    smooth_alpha : float
        Smoothing factor of the short memory of surprise.
    z_scale : float
        Surprise that maps to a score of ``1 - 1/e``.
    suppress_points : int
        Points after an alert during which a new alert needs ``realert_ratio`` times its
        surprise.
    suppress_ratio : float
        How much larger than the faded maximum of earlier surprises a surprise must be to
        be reported.
    suppress_decay : float
        Points over which an earlier surprise's bar fades by a factor ``e``.
    warmup_points : int
        Surprise ramps up linearly over the first points while the statistics settle.
    single_weight : float
        Weight of a single point's surprise against the short memory.
    season_band : int
        Jitter, in points, tolerated by the seasonal model.
    range_damp : float
        Factor applied to the point surprise when the value is inside the recent range.
    range_shift : float
        Factor applied to the level-shift surprise when the value is inside the recent range.
    range_points : int
        Length of that recent range (0 turns it off).
    range_damp_long, range_shift_long : float
        Factors applied to the point and level-shift surprise when the value is outside the
        recent range but inside the range of the longer past.
    range_points_long : int
        Length of that longer past (0 turns it off).
    recurrence_damp : float
        Factor applied to the point surprise when the same jump happened within
        ``season_band`` points of this time on one of the previous ``season_days`` days.
    recurrence_tol : float
        How far outside the range of those jumps (as a fraction of this jump) still counts
        as the same jump.
    drift_median : int
        The drift means follow the running median of this many points (1: the points
        themselves), so a single spike does not look like a drift.
    deseason_shift : bool
        Whether level shift and drift also look at the series without yesterday's pattern.
    damp : float
        Factor applied to a surprise that does not beat the recent maximum.
    drift_weight, shift_weight : float
        Weights of the drift and level-shift surprise against the point surprise.
    scale_power : float
        Power of the mean used for residual scales (higher: a rare large residual raises
        the scale more, so repeats of it surprise less).
    shape_scales : tuple of int
        Time scales of the shape-novelty component: 1 uses the points themselves, ``k``
        a smoothed series thinned to one point in ``k``. Empty turns it off.
    shape_weights : tuple of float
        Weight of each scale's surprise against the point surprise.
    shape_windows : tuple of int
        Points (after thinning) in the window whose shape is compared, per scale.
    shape_points : tuple of int
        How many points (after thinning) back the nearest window is searched, per scale.
    shape_step : float
        Quantum of the shape windows, in typical point-to-point steps of the series.
    weekly : bool
        Whether the seasonal model also compares with the same time a week earlier.
    realert_ratio : float
        Within ``suppress_points`` after an alert (a score of at least 0.5), how many times
        more surprising than that alert a point must be to be reported.

    Attributes
    ----------
    state_ : DetectorState
        State after the last point seen (set by :meth:`fit` and :meth:`update`).
    season_length_ : int or None
        Points per day used by the seasonal component.
    n_seen_ : int
        Points consumed so far.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> hourly = np.sin(np.arange(24 * 14) * 2 * np.pi / 24) + rng.normal(0, 0.1, 24 * 14)
    >>> detector = StreamingAnomalyDetector(season_length=24).fit(hourly)
    >>> result = detector.update([0.0, 5.0, 0.5])
    >>> bool(result.score[1] > 0.5), result.component_names()[1]
    (True, 'seasonal_deviation')
    """

    def __init__(
        self,
        season_length: int | None = None,
        *,
        level_alpha: float = 1.0,
        scale_alpha: float = 0.001,
        shift_fast: float = 0.3,
        shift_slow: float = 0.0075,
        drift_fast: float = 0.025,
        drift_slow: float = 0.002,
        season_days: int = 3,
        smooth_alpha: float = 0.4,
        z_scale: float = 5.0,
        suppress_points: int = 120,
        suppress_ratio: float = 1.0,
        suppress_decay: float = 180.0,
        warmup_points: int = 400,
        single_weight: float = 0.9,
        range_shift: float = 0.6,
        season_band: int = 2,
        range_damp: float = 0.5,
        range_points: int = 1500,
        range_damp_long: float = 0.8,
        range_shift_long: float = 0.85,
        range_points_long: int = 5000,
        recurrence_damp: float = 0.5,
        recurrence_tol: float = 0.25,
        drift_median: int = 3,
        deseason_shift: bool = True,
        damp: float = 0.0,
        drift_weight: float = 1.0,
        shift_weight: float = 0.9,
        scale_power: float = 3.0,
        shape_scales: tuple[int, ...] = (1, 16, 64),
        shape_weights: tuple[float, ...] = (0.7, 2.0, 2.0),
        shape_windows: tuple[int, ...] = (8, 5, 5),
        shape_points: tuple[int, ...] = (600, 1200, 600),
        shape_step: float = 0.4,
        weekly: bool = True,
        realert_ratio: float = 1.5,
    ) -> None:
        self.season_length = season_length
        self.level_alpha = level_alpha
        self.scale_alpha = scale_alpha
        self.shift_fast = shift_fast
        self.shift_slow = shift_slow
        self.drift_fast = drift_fast
        self.drift_slow = drift_slow
        self.season_days = season_days
        self.smooth_alpha = smooth_alpha
        self.z_scale = z_scale
        self.suppress_points = suppress_points
        self.suppress_ratio = suppress_ratio
        self.suppress_decay = suppress_decay
        self.warmup_points = warmup_points
        self.single_weight = single_weight
        self.range_shift = range_shift
        self.season_band = season_band
        self.range_damp = range_damp
        self.range_points = range_points
        self.range_damp_long = range_damp_long
        self.range_shift_long = range_shift_long
        self.range_points_long = range_points_long
        self.recurrence_damp = recurrence_damp
        self.recurrence_tol = recurrence_tol
        self.drift_median = drift_median
        self.deseason_shift = deseason_shift
        self.damp = damp
        self.drift_weight = drift_weight
        self.shift_weight = shift_weight
        self.scale_power = scale_power
        self.shape_scales = shape_scales
        self.shape_weights = shape_weights
        self.shape_windows = shape_windows
        self.shape_points = shape_points
        self.shape_step = shape_step
        self.weekly = weekly
        self.realert_ratio = realert_ratio

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters (scikit-learn convention).

        Returns
        -------
        dict
            Parameter name -> value.
        """
        names = (
            "season_length",
            "level_alpha",
            "scale_alpha",
            "shift_fast",
            "shift_slow",
            "drift_fast",
            "drift_slow",
            "season_days",
            "smooth_alpha",
            "z_scale",
            "suppress_points",
            "suppress_ratio",
            "suppress_decay",
            "warmup_points",
            "single_weight",
            "range_shift",
            "season_band",
            "range_damp",
            "range_points",
            "range_damp_long",
            "range_shift_long",
            "range_points_long",
            "recurrence_damp",
            "recurrence_tol",
            "drift_median",
            "deseason_shift",
            "damp",
            "drift_weight",
            "shift_weight",
            "scale_power",
            "shape_scales",
            "shape_weights",
            "shape_windows",
            "shape_points",
            "shape_step",
            "weekly",
            "realert_ratio",
        )
        return {name: getattr(self, name) for name in names}

    def _params(self) -> _Params:
        values = self.get_params()
        del values["season_length"]
        sizes = {len(values[k]) for k in ("shape_weights", "shape_windows", "shape_points")}
        if sizes != {len(values["shape_scales"])}:
            msg = "shape_scales, shape_weights, shape_windows and shape_points differ in length"
            raise ValueError(msg)
        for k in ("shape_scales", "shape_weights", "shape_windows", "shape_points"):
            values[k] = tuple(values[k])
        for scale, window, points in zip(
            values["shape_scales"], values["shape_windows"], values["shape_points"], strict=True
        ):
            if scale < 1 or window < 1 or points < max(window, _SHAPE_GAP):
                msg = f"shape scale {scale}, window {window}, points {points} out of range"
                raise ValueError(msg)
        if values["drift_median"] < 1:
            msg = f"drift_median {values['drift_median']} must be at least 1"
            raise ValueError(msg)
        return _Params(**values)

    def fit(
        self, values: npt.ArrayLike, timestamps: npt.ArrayLike | None = None
    ) -> StreamingAnomalyDetector:
        """Start afresh and consume a history (for example before going live).

        Parameters
        ----------
        values : array_like of float
            Series values; NaN and infinities are treated as missing.
        timestamps : array_like of datetime64, optional
            Timestamps of the values.

        Returns
        -------
        StreamingAnomalyDetector
            ``self``.
        """
        self.state_ = DetectorState(season_length=self.season_length)
        if self.season_length is not None:
            self.state_ = replace(self.state_, period_decided=True)
        self.update(values, timestamps)
        return self

    def set_state(self, state: DetectorState) -> StreamingAnomalyDetector:
        """Resume from a saved state (for example ``state_`` of an earlier run, unpickled).

        States are never modified in place, so one saved state can be resumed many times.

        Parameters
        ----------
        state : DetectorState
            A state produced by a detector with the same parameters.

        Returns
        -------
        StreamingAnomalyDetector
            ``self``.
        """
        self.state_ = state
        return self

    @property
    def season_length_(self) -> int | None:
        """Points per day used by the seasonal component (None: no seasonal component)."""
        return self.state_.season_length

    @property
    def n_seen_(self) -> int:
        """Points consumed so far."""
        return self.state_.n_seen

    def update(
        self, values: npt.ArrayLike, timestamps: npt.ArrayLike | None = None
    ) -> AnomalyResult:
        """Score the next batch of points and carry the state forward.

        Parameters
        ----------
        values : array_like of float
            The next values of the series; NaN and infinities are treated as missing
            (score 0).
        timestamps : array_like of datetime64, optional
            Their timestamps (used to infer the season length, and returned with alerts).

        Returns
        -------
        AnomalyResult
            Scores and explanations of this batch.
        """
        if not hasattr(self, "state_"):
            self.fit(np.zeros(0), None if timestamps is None else np.zeros(0, "datetime64[s]"))
        x = np.asarray(values, dtype=np.float64).ravel()
        ts: npt.NDArray[np.datetime64] | None = None
        if timestamps is not None:
            ts = np.asarray(timestamps).astype("datetime64[ns]").ravel()
            if ts.size != x.size:
                msg = f"{x.size} values but {ts.size} timestamps"
                raise ValueError(msg)
        state = self.state_
        n = x.size
        score = np.zeros(n)
        component = np.zeros(n, dtype=np.int8)
        zs = np.zeros((n, len(COMPONENTS)))
        # The season length is decided at a fixed point of the series (once enough
        # timestamps are seen); the batch is split there so that any batching gives the
        # same result.
        split = n
        if not state.period_decided and ts is not None:
            have = state.timestamp_head.size
            take = min(_HEAD_FOR_PERIOD - have, n)
            head = np.concatenate(
                [state.timestamp_head, ts[:take].astype("datetime64[s]").astype(np.int64)]
            )
            state = replace(state, timestamp_head=head)
            if head.size >= _HEAD_FOR_PERIOD:
                split = take
        params = self._params()
        with np.errstate(all="ignore"):
            for lo, hi in ((0, split), (split, n)):
                if lo == split and split < n:
                    period = infer_season_length(state.timestamp_head.astype("datetime64[s]"))
                    state = replace(state, period_decided=True, season_length=period)
                if hi > lo:
                    state = _consume(x, lo, hi, state, params, score, component, zs)
        self.state_ = state
        return AnomalyResult(score=score, component=component, component_z=zs, timestamps=ts)


def _consume(
    x: FloatArray,
    lo: int,
    hi: int,
    state: DetectorState,
    params: _Params,
    score: FloatArray,
    component: npt.NDArray[np.int8],
    zs: FloatArray,
) -> DetectorState:
    """Run the pipeline on ``x[lo:hi]``, writing into the output arrays; return the state."""
    part = x[lo:hi]
    finite = np.isfinite(part)
    start = 0
    if np.isnan(state.last_value):
        # Points before the first finite value are skipped entirely; the first finite
        # value becomes the reference that all arithmetic is relative to.
        first = np.flatnonzero(finite)
        if not first.size:
            return state
        start = int(first[0])
        state = replace(state, reference=float(np.clip(part[start], -_VALUE_LIMIT, _VALUE_LIMIT)))
    xs = np.clip(part[start:], -_VALUE_LIMIT, _VALUE_LIMIT)
    ok = finite[start:]
    # Forward-fill missing values with the last finite one.
    idx = np.where(ok, np.arange(xs.size), -1)
    np.maximum.accumulate(idx, out=idx)
    filled = np.where(idx >= 0, xs[np.maximum(idx, 0)], state.last_value)
    s, c, z, state = _pipeline(filled - state.reference, ~ok, state, params)
    score[lo + start : hi], component[lo + start : hi], zs[lo + start : hi] = s, c, z
    return replace(state, last_value=float(filled[-1]))


def score_series(
    values: npt.ArrayLike,
    timestamps: npt.ArrayLike | None = None,
    **params: Any,
) -> AnomalyResult:
    """Score a whole series in one call (the same as feeding it to the streaming detector).

    Parameters
    ----------
    values : array_like of float
        Series values; NaN and infinities are missing.
    timestamps : array_like of datetime64, optional
        Timestamps, used to infer the daily season length.
    **params
        Parameters of :class:`StreamingAnomalyDetector` (the defaults are the tuned set).

    Returns
    -------
    AnomalyResult
        Scores in [0, 1] and explanations.
    """
    detector = StreamingAnomalyDetector(**params)
    return detector.fit(np.zeros(0), None).update(values, timestamps)
