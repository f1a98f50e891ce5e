"""Properties of the streaming anomaly detector: range, causality, batching and detection."""

from __future__ import annotations

import pickle

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from juncture.analytics.anomaly import (
    COMPONENTS,
    AnomalyResult,
    StreamingAnomalyDetector,
    infer_season_length,
    score_series,
)
from juncture.analytics.anomaly_shape import nearest_window_distance

ANY_FLOATS = hnp.arrays(
    np.float64,
    st.integers(0, 400),
    elements=st.floats(allow_nan=True, allow_infinity=True, width=64),
)
FINITE_FLOATS = hnp.arrays(
    np.float64,
    st.integers(1, 400),
    elements=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=64),
)


def _hourly(n: int) -> npt.NDArray[np.datetime64]:
    return np.datetime64("2026-01-05T00:00") + np.arange(n).astype("timedelta64[h]")


def _seasonal_series(seed: int, n: int = 24 * 70) -> npt.NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 10.0 + 3.0 * np.sin(2 * np.pi * t / 24) + rng.normal(0.0, 0.5, n)


def _assert_valid(result: AnomalyResult, n: int) -> None:
    assert result.score.shape == (n,)
    assert result.component.shape == (n,)
    assert result.component_z.shape == (n, len(COMPONENTS))
    assert np.all(np.isfinite(result.score))
    assert np.all((result.score >= 0.0) & (result.score <= 1.0))
    assert np.all(np.isfinite(result.component_z))
    assert np.all((result.component >= 0) & (result.component < len(COMPONENTS)))


@settings(max_examples=200, deadline=None)
@given(ANY_FLOATS)
def test_scores_in_unit_interval_for_any_input(values: npt.NDArray[np.float64]) -> None:
    _assert_valid(score_series(values), values.size)


@settings(max_examples=50, deadline=None)
@given(
    st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False),
    st.integers(1, 500),
)
def test_constant_series_is_never_anomalous(level: float, n: int) -> None:
    result = score_series(np.full(n, level), _hourly(n))
    _assert_valid(result, n)
    # Rounding in the running means leaves at most a negligible residue.
    assert result.score.max() < 1e-6


def test_missing_values_score_zero_and_do_not_break_the_series() -> None:
    x = _seasonal_series(3, 24 * 20)
    x[[0, 1, 100, 101, 102, 300]] = np.nan
    x[200] = np.inf
    result = score_series(x, _hourly(x.size))
    _assert_valid(result, x.size)
    assert np.all(result.score[[0, 1, 100, 101, 102, 200, 300]] == 0.0)
    assert result.score[400:].max() < 0.5


def test_extreme_values_stay_finite() -> None:
    x = _seasonal_series(4, 24 * 20)
    x[250] = 1e308
    x[260] = -1e308
    x[270] = 5e-324
    result = score_series(x, _hourly(x.size))
    _assert_valid(result, x.size)
    assert result.score[250] > 0.9


@settings(max_examples=100, deadline=None)
@given(FINITE_FLOATS, st.data())
def test_prefix_invariance(values: npt.NDArray[np.float64], data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, values.size))
    ts = _hourly(values.size)
    full = score_series(values, ts)
    prefix = score_series(values[:cut], ts[:cut])
    np.testing.assert_array_equal(prefix.score, full.score[:cut])
    np.testing.assert_array_equal(prefix.component, full.component[:cut])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prefix_invariance_on_long_seasonal_series(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = _seasonal_series(seed) + rng.standard_cauchy(24 * 70) * 0.1
    ts = _hourly(x.size)
    full = score_series(x, ts)
    for cut in rng.integers(1, x.size, size=5):
        np.testing.assert_array_equal(score_series(x[:cut], ts[:cut]).score, full.score[:cut])


@settings(max_examples=100, deadline=None)
@given(ANY_FLOATS, st.lists(st.integers(0, 60), max_size=12))
def test_streaming_equals_batch(values: npt.NDArray[np.float64], sizes: list[int]) -> None:
    ts = _hourly(values.size)
    batch = score_series(values, ts)
    detector = StreamingAnomalyDetector()
    parts, start = [], 0
    for size in [*sizes, values.size]:
        stop = min(start + size, values.size)
        parts.append(detector.update(values[start:stop], ts[start:stop]).score)
        start = stop
    np.testing.assert_array_equal(np.concatenate(parts), batch.score)
    assert detector.n_seen_ <= values.size


@pytest.mark.parametrize("seed", [0, 1])
def test_streaming_equals_batch_on_long_seasonal_series(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = _seasonal_series(seed)
    x[rng.integers(0, x.size, 20)] = np.nan
    ts = _hourly(x.size)
    batch = score_series(x, ts)
    detector = StreamingAnomalyDetector().fit(x[:500], ts[:500])
    cuts = np.sort(rng.integers(500, x.size, size=30))
    parts = [np.asarray(score_series(x[:500], ts[:500]).score)]
    for lo, hi in zip(np.r_[500, cuts], np.r_[cuts, x.size], strict=True):
        parts.append(detector.update(x[lo:hi], ts[lo:hi]).score)
    np.testing.assert_array_equal(np.concatenate(parts), batch.score)
    assert detector.season_length_ == 24
    assert detector.n_seen_ == x.size


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_detects_injected_spike_and_level_shift(seed: int) -> None:
    x = _seasonal_series(seed)
    spike_at, shift_at = 1000, 1300
    x[spike_at] += 8.0
    x[shift_at:] += 3.0
    result = score_series(x, _hourly(x.size))
    assert result.score[spike_at] >= 0.5
    assert result.component_names()[spike_at] in {"spike", "seasonal_deviation"}
    shift_zone = slice(shift_at, shift_at + 24)
    assert result.score[shift_zone].max() >= 0.5
    first = shift_at + int(np.argmax(result.score[shift_zone] >= 0.5))
    assert COMPONENTS[result.component[first]] in {"level_shift", "drift"}
    quiet = np.ones(x.size, dtype=bool)
    quiet[:400] = False
    quiet[spike_at : spike_at + 24] = False
    quiet[shift_at:] = False
    assert result.score[quiet].max() < 0.5
    alerts = result.alerts(0.5)
    assert alerts[0].index == spike_at
    assert alerts[0].timestamp == _hourly(x.size)[spike_at]
    assert alerts[0].z > 5.0


def _brute_nearest(q: npt.NDArray[np.float64], window: int, points: int, gap: int) -> list[float]:
    out = []
    for t in range(q.size):
        a = q[t - window + 1 : t + 1]
        best = np.inf
        for e in range(max(window - 1, t - points), t - gap + 1):
            best = min(best, float(np.sum((a - q[e - window + 1 : e + 1]) ** 2)))
        out.append(best if t >= window - 1 and np.isfinite(best) else np.nan)
    return out


@pytest.mark.parametrize(("window", "points", "gap"), [(8, 60, 8), (5, 30, 8), (1, 10, 1)])
def test_nearest_window_distance_is_exact_in_any_batches(
    window: int, points: int, gap: int
) -> None:
    rng = np.random.default_rng(window + points)
    q = np.clip(np.round(rng.normal(0.0, 6.0, 700)), -20, 20)
    whole = nearest_window_distance(q, np.zeros(0), window, points, gap)
    np.testing.assert_array_equal(whole, _brute_nearest(q, window, points, gap))
    parts, start = [], 0
    for stop in [*np.sort(rng.integers(0, q.size, 12)).tolist(), q.size]:
        parts.append(nearest_window_distance(q[start:stop], q[:start], window, points, gap))
        start = stop
    np.testing.assert_array_equal(np.concatenate(parts), whole)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shape_change_within_the_usual_range_is_novel(seed: int) -> None:
    # A wave whose frequency doubles for 100 points: every value is inside the usual range,
    # only the shape is new.
    rng = np.random.default_rng(seed)
    t = np.arange(4000)
    x = np.sin(2 * np.pi * t / 50) + rng.normal(0.0, 0.05, t.size)
    changed = slice(3000, 3100)
    x[changed] = np.sin(2 * np.pi * t[changed] / 25) + rng.normal(0.0, 0.05, 100)
    result = score_series(x)
    shape = result.component_z[:, COMPONENTS.index("shape_novelty")]
    assert shape[changed].max() > 2.0 * shape[600:3000].max()
    top = 3000 + int(np.argmax(result.score[changed]))
    assert result.component_names()[top] == "shape_novelty"
    assert result.score[changed].max() > result.score[600:3000].max()


def test_weekly_pattern_is_learned() -> None:
    # Hourly KPI with a daily cycle and quiet weekends, then one spike on a Wednesday.
    rng = np.random.default_rng(1)
    t = np.arange(24 * 7 * 10)
    weekend = (t // 24) % 7 >= 5
    x = 10 + 3 * np.sin(2 * np.pi * t / 24) - 6.0 * weekend + rng.normal(0.0, 0.3, t.size)
    spike_at = 24 * 7 * 8 + 24 * 2 + 12
    x[spike_at] += 4.0
    ts = _hourly(x.size)
    weekly = score_series(x, ts)
    later = (t >= 24 * 7 * 3) & (np.abs(t - spike_at) > 24)
    assert weekly.score[later].max() < 0.5
    assert weekly.score[spike_at] >= 0.5
    assert weekly.component_names()[spike_at] == "seasonal_deviation"
    # With the daily model only, the Monday and Saturday edges look as unusual as the spike.
    daily = score_series(x, ts, weekly=False)
    assert daily.score[spike_at] < weekly.score[spike_at]


def test_shape_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="length"):
        score_series(np.zeros(3), shape_scales=(1, 16), shape_weights=(1.0,))
    with pytest.raises(ValueError, match="out of range"):
        score_series(
            np.zeros(3),
            shape_scales=(1,),
            shape_weights=(1.0,),
            shape_windows=(8,),
            shape_points=(4,),
        )
    with pytest.raises(ValueError, match="drift_median"):
        score_series(np.zeros(3), drift_median=0)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_one_alert_per_episode_unless_it_gets_much_worse(seed: int) -> None:
    x = _seasonal_series(seed)
    x[1000] += 9.0  # an alert
    x[1030] += 15.0  # a little worse, soon after: the same episode, no new alert
    x[1060] += 40.0  # much worse: alerts again
    result = score_series(x, _hourly(x.size))
    assert result.score[1000] >= 0.5
    assert result.score[1030] < 0.5
    assert result.score[1060] >= 0.5
    again = score_series(x, _hourly(x.size), realert_ratio=1.0)
    assert again.score[1030] >= 0.5


def test_saved_state_resumes_identically() -> None:
    x = _seasonal_series(8)
    ts = _hourly(x.size)
    detector = StreamingAnomalyDetector().fit(x[:700], ts[:700])
    saved = pickle.loads(pickle.dumps(detector.state_))
    first = detector.update(x[700:], ts[700:]).score
    again = StreamingAnomalyDetector().set_state(saved).update(x[700:], ts[700:]).score
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, score_series(x, ts).score[700:])


def test_estimator_conventions() -> None:
    detector = StreamingAnomalyDetector(season_length=24, z_scale=3.0)
    params = detector.get_params()
    assert params["season_length"] == 24
    assert params["z_scale"] == 3.0
    assert not hasattr(detector, "state_")
    assert detector.fit(_seasonal_series(0, 100)) is detector
    assert detector.n_seen_ == 100
    assert detector.season_length_ == 24


def test_mismatched_timestamps_are_rejected() -> None:
    with pytest.raises(ValueError, match="timestamps"):
        score_series(np.zeros(3), _hourly(2))


def test_infer_season_length() -> None:
    five_min = np.datetime64("2026-01-01") + np.arange(20) * np.timedelta64(5, "m")
    assert infer_season_length(five_min) == 288
    assert infer_season_length(_hourly(20)) == 24
    daily = np.datetime64("2026-01-01") + np.arange(20) * np.timedelta64(1, "D")
    assert infer_season_length(daily) is None
    assert infer_season_length(five_min[:1]) is None


@pytest.mark.parametrize("seed", [11, 12])
def test_bar_of_an_earlier_surprise_fades(seed: int) -> None:
    x = _seasonal_series(seed)
    x[1000] += 20.0  # a large surprise
    x[1300] -= 14.0  # smaller, 300 points later: beats the faded bar, so it is reported
    result = score_series(x, _hourly(x.size))
    assert result.score[1000] >= 0.5
    assert result.score[1300] > 0.0
    # A bar that never fades keeps it unreported.
    held = score_series(x, _hourly(x.size), suppress_decay=1e9)
    assert held.score[1300] == 0.0


def _five_minutes(n: int) -> npt.NDArray[np.datetime64]:
    return np.datetime64("2026-01-05T00:00") + np.arange(n) * np.timedelta64(5, "m")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_daily_jump_at_the_same_time_counts_less(seed: int) -> None:
    # A job adds a one-point jump at 03:00 (+-5 minutes) every day on a series without a
    # daily cycle, so the seasonal model is not the better one; the jump recurs, and from
    # the second day its point surprise is damped. The point surprise is isolated here (no
    # level-shift, drift or shape components), because the level-shift component, which is
    # not damped, also sees a one-point jump.
    rng = np.random.default_rng(seed)
    n = 288 * 12
    x = 10.0 + rng.normal(0.0, 0.5, n)
    jobs = np.arange(36, n, 288) + rng.integers(-1, 2, n // 288)
    x[jobs] += 6.0
    point_only = {
        "shift_weight": 0.0,
        "drift_weight": 0.0,
        "shape_scales": (),
        "shape_weights": (),
        "shape_windows": (),
        "shape_points": (),
    }
    damped = score_series(x, _five_minutes(n), **point_only).score
    plain = score_series(x, _five_minutes(n), recurrence_damp=1.0, **point_only).score
    late = jobs[jobs > 288 * 4]
    assert damped[late].max() < 0.5
    assert damped[late].mean() < 0.7 * plain[late].mean()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_lone_spike_is_not_a_drift(seed: int) -> None:
    # The drift means follow a 3-point running median, so one large spike barely moves them.
    rng = np.random.default_rng(seed)
    x = 10.0 + rng.normal(0.0, 0.5, 3000)
    x[2000] += 30.0
    drift = COMPONENTS.index("drift")
    median = score_series(x).component_z[2000:2060, drift].max()
    raw = score_series(x, drift_median=1).component_z[2000:2060, drift].max()
    assert median < 0.35 * raw
    assert raw > 5.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_value_seen_in_the_longer_past_counts_less(seed: int) -> None:
    # Two bursts 2,500 points apart, the second a little smaller: it is outside the last
    # 1,500 points' range but inside the last 5,000 points', so it is damped a little.
    rng = np.random.default_rng(seed)
    x = 10.0 + rng.normal(0.0, 0.5, 6000)
    x[2000] += 9.0
    x[4500] += 7.0
    longer = score_series(x).score
    recent_only = score_series(x, range_points_long=0).score
    assert longer[2000] == recent_only[2000] >= 0.5
    assert longer[4500] < recent_only[4500]
