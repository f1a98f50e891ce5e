"""KPI mathematics checked against hand arithmetic, published tables, scipy and brute force."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from juncture.analytics import kpimath as km

REFERENCE = Path(__file__).parent / "reference" / "kpimath_newcombe1998.json"
Z95 = 1.959963984540054
HOUR = 3600.0


def _wilson_textbook(x: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson (1927) score interval, written out from the textbook definition."""
    p = x / n
    centre = (2 * n * p + z**2) / (2 * (n + z**2))
    half = z * math.sqrt(z**2 + 4 * n * p * (1 - p)) / (2 * (n + z**2))
    return centre - half, centre + half


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- proportions ---------------------------------------------------------------------------


def test_wilson_matches_newcombe_table() -> None:
    ref = json.loads(REFERENCE.read_text())
    for row in ref["wilson"]:
        p = km.proportion(row["x"], row["n"])
        assert p.low == pytest.approx(row["low"], abs=5e-5)
        assert p.high == pytest.approx(row["high"], abs=5e-5)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_contains_estimate_and_matches_textbook(xn: tuple[int, int]) -> None:
    x, n = xn
    p = km.proportion(x, n)
    assert 0.0 <= p.low <= p.value <= p.high <= 1.0
    low, high = _wilson_textbook(x, n)
    assert p.low == pytest.approx(max(low, 0.0), abs=1e-12)
    assert p.high == pytest.approx(min(high, 1.0), abs=1e-12)


def test_wilson_vectorised_and_empty() -> None:
    low, high = km.wilson_interval([0, 5, 0], [10, 10, 0])
    assert np.isnan(low[2])
    assert np.isnan(high[2])
    assert low[1] == pytest.approx(_wilson_textbook(5, 10)[0])
    assert math.isnan(km.proportion(0, 0).value)
    with pytest.raises(ValueError, match="successes"):
        km.wilson_interval([3], [2])


def test_funnel_by_hand() -> None:
    # 100 -> 60 -> 30: conversion 60/100 = 0.6 and 30/60 = 0.5; drop-off 0.4 and 0.5.
    f = km.funnel([100, 60, 30])
    np.testing.assert_allclose(f.conversion, [1.0, 0.6, 0.5])
    np.testing.assert_allclose(f.dropoff, [0.0, 0.4, 0.5])
    assert f.dropoff_low[1] == pytest.approx(1 - _wilson_textbook(60, 100)[1])
    assert f.overall.value == pytest.approx(0.3)
    with pytest.raises(ValueError, match="non-increasing"):
        km.funnel([10, 20])


# --- survey KPIs ---------------------------------------------------------------------------


def test_csat_by_hand_and_against_scipy() -> None:
    counts = [1, 1, 2, 3, 3]  # scores 1..5
    r = km.csat(counts)
    # Satisfied = 3 + 3 = 6 of 10; mean = (1 + 2 + 2*3 + 3*4 + 3*5) / 10 = 36 / 10.
    assert (r.n, r.value, r.mean) == (10, pytest.approx(0.6), pytest.approx(3.6))
    assert (r.low, r.high) == pytest.approx(_wilson_textbook(6, 10))
    raw = np.repeat(np.arange(1, 6), counts)
    ci = stats.ttest_1samp(raw, 0.0).confidence_interval(0.95)
    assert (r.mean_low, r.mean_high) == pytest.approx((ci.low, ci.high))
    assert km.csat({5: 3, 4: 3, 3: 2, 2: 1, 1: 1}) == r
    assert km.csat(km.histogram(raw, 1, 5)) == r


def test_ces_convention() -> None:
    # Scores 1..7; easy = 5, 6, 7 -> 2 + 3 + 3 = 8 of 10; mean = (3 + 4 + 10 + 18 + 21) / 10.
    r = km.ces([0, 0, 1, 1, 2, 3, 3])
    assert (r.n, r.value, r.mean, r.easy_from) == (10, pytest.approx(0.8), pytest.approx(5.6), 5)
    assert km.ces([0, 0, 1, 1, 2, 3, 3], easy_from=6).value == pytest.approx(0.6)


NPS_COUNTS = [1, 0, 0, 0, 0, 1, 1, 2, 2, 3, 5]  # scores 0..10


def test_nps_wald_by_hand() -> None:
    # Promoters 3 + 5 = 8, passives 2 + 2 = 4, detractors 1 + 1 + 1 = 3, n = 15.
    # NPS = (8 - 3) / 15 = 33.33 points.
    # var = (8/15 + 3/15 - (5/15)^2) / 15 = (0.733333 - 0.111111) / 15 = 0.0414815
    # se = 0.203670; 95% interval 0.333333 -+ 1.959964 * 0.203670 = [-0.065853, 0.732519].
    r = km.nps(NPS_COUNTS)
    assert (r.promoters, r.passives, r.detractors, r.n) == (8, 4, 3, 15)
    assert r.value == pytest.approx(100 / 3)
    assert r.se == pytest.approx(20.3670, abs=1e-4)
    assert (r.low, r.high) == pytest.approx((-6.5853, 73.2519), abs=1e-4)


def test_nps_variance_equals_trinomial_mean_variance() -> None:
    # Independent route: NPS is the mean of +1 / 0 / -1 scores; the multinomial variance
    # of p_P - p_D is the population variance of those scores divided by n.
    rng = np.random.default_rng(7)
    answers = rng.integers(0, 11, 357)
    r = km.nps(km.histogram(answers, 0, 10))
    scores = np.where(answers >= 9, 1.0, np.where(answers <= 6, -1.0, 0.0))
    assert r.value == pytest.approx(100 * scores.mean())
    assert r.se == pytest.approx(100 * math.sqrt(scores.var() / scores.size))


def test_nps_adjusted_wald_by_hand() -> None:
    # Rocks (2016): P' = 8.75, D' = 3.75, n' = 18; centre = 5/18 = 0.277778;
    # var = (8.75/18 + 3.75/18 - 0.277778^2) / 18 = (0.694444 - 0.077160) / 18 = 0.0342936
    # se = 0.185185; interval 0.277778 -+ 0.362957 = [-0.085179, 0.640735].
    r = km.nps(NPS_COUNTS, method="adjusted_wald")
    assert r.value == pytest.approx(100 / 3)
    assert r.se == pytest.approx(18.5185, abs=1e-4)
    assert (r.low, r.high) == pytest.approx((-8.5179, 64.0735), abs=1e-4)
    # All promoters: Wald collapses to a point, the adjusted interval does not.
    assert km.nps([0] * 10 + [12]).low == 100.0
    assert km.nps([0] * 10 + [12], method="adjusted_wald").low < 80.0


def test_empty_survey_is_nan() -> None:
    assert math.isnan(km.nps([0] * 11).value)
    assert math.isnan(km.csat([0] * 5).mean)
    assert km.ces([0] * 7).n == 0
    with pytest.raises(ValueError, match="counts"):
        km.csat([1, 2, 3])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=11, max_size=11))
def test_survey_invariants(counts: list[int]) -> None:
    r = km.nps(counts)
    c = km.csat(counts[:5])
    e = km.ces(counts[:7])
    if r.n:
        assert -100.0 <= r.low <= r.value <= r.high <= 100.0
    for share in (c, e):
        if share.n:
            assert 0.0 <= share.low <= share.value <= share.high <= 1.0
    if c.n >= 2:
        assert 1.0 <= c.mean_low <= c.mean <= c.mean_high <= 5.0
    if e.n >= 2:
        assert 1.0 <= e.mean_low <= e.mean <= e.mean_high <= 7.0


# --- business hours ------------------------------------------------------------------------

BERLIN = km.BusinessCalendar.from_hours(
    "Europe/Berlin", {"mon-fri": "08:00-18:00"}, holidays=[date(2026, 12, 25)]
)
BERLIN_WEEKEND = km.BusinessCalendar.from_hours(
    "Europe/Berlin",
    {"mon-fri": "08:00-18:00", "sat": "10:00-14:00", "sun": ["00:00-06:00", "20:00-24:00"]},
)


def _bh(start: str, end: str, cal: km.BusinessCalendar = BERLIN) -> float:
    return float(km.business_seconds([_utc(start)], [_utc(end)], cal)[0])


def test_business_hours_across_spring_forward() -> None:
    # Fri 27 Mar 2026 16:00Z = 17:00 CET: 1 h open on Friday. Mon 30 Mar 07:00Z = 09:00 CEST
    # (clocks went forward on Sun 29 Mar): 1 h on Monday. Total 2 h. A fixed +01:00 offset
    # would put Monday 07:00Z at 08:00 and give 1 h.
    assert _bh("2026-03-27T16:00", "2026-03-30T07:00") == 2 * HOUR


def test_business_hours_across_fall_back() -> None:
    # Fri 23 Oct 2026 15:00Z = 17:00 CEST: 1 h. Mon 26 Oct 08:00Z = 09:00 CET: 1 h.
    assert _bh("2026-10-23T15:00", "2026-10-26T08:00") == 2 * HOUR


def test_window_containing_the_transition() -> None:
    # Sunday 00:00-06:00 local: 29 Mar opens 00:00 CET = Sat 23:00Z and closes 06:00 CEST =
    # 04:00Z, 5 h of real time; 25 Oct opens 00:00 CEST = Sat 22:00Z, closes 06:00 CET =
    # 05:00Z, 7 h. The Saturday 20:00-24:00 window is not in this calendar (Sunday's is).
    assert _bh("2026-03-28T20:00", "2026-03-29T12:00", BERLIN_WEEKEND) == 5 * HOUR
    assert _bh("2026-10-24T20:00", "2026-10-25T12:00", BERLIN_WEEKEND) == 7 * HOUR


def test_window_starting_in_the_spring_gap() -> None:
    # 02:30 does not exist on 29 Mar 2026: the window opens when clocks jump to 03:00 CEST
    # (01:00Z) and closes at 04:00 CEST (02:00Z): 1 h.
    cal = km.BusinessCalendar.from_hours("Europe/Berlin", {"sun": "02:30-04:00"})
    assert _bh("2026-03-28T00:00", "2026-03-30T00:00", cal) == 1 * HOUR


def test_holiday_and_weekend() -> None:
    # Thu 24 Dec 17:00Z = 18:00 CET (closed); Fri 25 Dec is a holiday; Mon 28 Dec 08:00Z =
    # 09:00 CET: 1 h. Without the holiday Friday adds 10 h.
    assert _bh("2026-12-24T17:00", "2026-12-28T08:00") == 1 * HOUR
    no_holiday = km.BusinessCalendar.from_hours("Europe/Berlin", {"mon-fri": "08:00-18:00"})
    assert _bh("2026-12-24T17:00", "2026-12-28T08:00", no_holiday) == 11 * HOUR


def test_business_seconds_vectorised_missing_and_signed() -> None:
    starts = pd.Series(pd.to_datetime(["2026-03-27T16:00Z", "2026-03-30T07:00Z", None]))
    ends = pd.Series(pd.to_datetime(["2026-03-30T07:00Z", "2026-03-27T16:00Z", None]))
    out = km.business_seconds(starts, ends, BERLIN)
    assert out[0] == 2 * HOUR
    assert out[1] == -2 * HOUR
    assert np.isnan(out[2])
    naive = np.array(["2026-03-27T16:00", "2026-03-30T07:00"], dtype="datetime64[s]")
    assert km.business_seconds(naive[:1], naive[1:], BERLIN)[0] == 2 * HOUR


def test_calendar_validation() -> None:
    with pytest.raises(ValueError, match="disjoint"):
        km.BusinessCalendar.from_hours("UTC", {"mon": ["08:00-12:00", "11:00-13:00"]})
    with pytest.raises(ValueError, match="clock"):
        km.BusinessCalendar.from_hours("UTC", {"mon": "08:00-25:00"})
    with pytest.raises(Exception, match="Nowhere"):
        km.BusinessCalendar.from_hours("Nowhere/Atlantis", {"mon": "08:00-12:00"})


def _brute_force_minutes(a: int, b: int, cal: km.BusinessCalendar) -> float:
    """Count open minutes one by one from the local wall clock (independent of the code)."""
    tz = ZoneInfo(cal.tz)
    open_minutes = 0
    for t in range(a, b, 60):
        local = datetime.fromtimestamp(t, tz)
        if local.date() in cal.holidays:
            continue
        sod = local.hour * 3600 + local.minute * 60
        if any(s <= sod < e for s, e in cal.windows[local.weekday()]):
            open_minutes += 1
    return 60.0 * open_minutes


# Minutes from 2026-03-20 to 2026-11-10: spans both DST transitions.
_T0 = int(datetime(2026, 3, 20, tzinfo=UTC).timestamp())
_MINUTES = st.integers(0, (235 * 24 * 60))


@settings(max_examples=40, deadline=None)
@given(_MINUTES, st.integers(0, 4 * 24 * 60))
def test_business_hours_match_brute_force(start_min: int, length_min: int) -> None:
    a = _T0 + 60 * start_min
    b = a + 60 * length_min
    start = pd.Timestamp(a, unit="s", tz="UTC")
    end = pd.Timestamp(b, unit="s", tz="UTC")
    got = km.business_seconds([start], [end], BERLIN_WEEKEND)[0]
    assert got == pytest.approx(_brute_force_minutes(a, b, BERLIN_WEEKEND), abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 600 * 24 * 3600), min_size=3, max_size=3))
def test_business_hours_bounded_and_additive(offsets: list[int]) -> None:
    a, b, c = sorted(_T0 + o + 0.25 for o in offsets)
    starts = pd.to_datetime([a, b, a], unit="s", utc=True)
    ends = pd.to_datetime([b, c, c], unit="s", utc=True)
    ab, bc, ac = km.business_seconds(starts, ends, BERLIN_WEEKEND)
    assert 0.0 <= ac <= (c - a) + 1e-6
    assert ab + bc == pytest.approx(ac, abs=1e-4)


def test_many_tickets_at_once() -> None:
    rng = np.random.default_rng(3)
    start = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(
        rng.uniform(0, 300 * 86400, 100_000), unit="s"
    )
    end = start + pd.to_timedelta(rng.exponential(8 * 3600, 100_000), unit="s")
    out = km.business_seconds(start, end, BERLIN)
    wall = (end - start).total_seconds().to_numpy()
    assert out.shape == (100_000,)
    # Instants are read to the microsecond, so allow that much against the wall clock.
    assert np.all((out >= 0) & (out <= wall + 1e-5))
    summary = km.duration_summary(out)
    assert summary.n == 100_000
    assert summary.median <= summary.p90


def test_duration_summary_by_hand() -> None:
    # 1..10 plus an open item: median 5.5; p90 by linear rule = 9 + 0.1 * (10 - 9) = 9.1.
    s = km.duration_summary([*range(1, 11), np.nan])
    assert (s.n, s.median, s.p90, s.mean) == (10, 5.5, pytest.approx(9.1), 5.5)
    assert km.duration_summary([np.nan]).n == 0


# --- seasonal baseline ---------------------------------------------------------------------


def _hourly_world(
    seed: int, weeks: int = 12, sigma: float = 3.0
) -> tuple[pd.Series, npt.NDArray[np.float64]]:
    """Local-time daily × weekly pattern with a trend and Gaussian noise, across DST."""
    idx = pd.date_range("2026-01-05", periods=24 * 7 * weeks, freq="h", tz="UTC")
    local = idx.tz_convert("Europe/Berlin")
    hour = local.hour.to_numpy()
    weekday = local.day_of_week.to_numpy()
    truth = (
        50.0
        + 20.0 * np.sin(2 * np.pi * (hour - 6) / 24) * np.where(weekday < 5, 1.0, 0.4)
        + 0.02 * np.arange(idx.size)
    )
    rng = np.random.default_rng(seed)
    return pd.Series(truth + rng.normal(0.0, sigma, idx.size), index=idx), truth


def test_baseline_band_covers_95_percent_of_normal_points() -> None:
    inside, errors = [], []
    for seed in range(3):
        series, truth = _hourly_world(seed)
        b = km.seasonal_baseline(series, "Europe/Berlin")
        ready = b.lower.notna().to_numpy()
        assert ready[-24 * 7 * 8 :].all()  # ready after about three weeks
        y = series.to_numpy()
        inside.append(((y >= b.lower) & (y <= b.upper)).to_numpy()[ready])
        errors.append(np.abs(b.expected.to_numpy() - truth)[ready])
    coverage = float(np.concatenate(inside).mean())
    assert 0.93 <= coverage <= 0.97
    # The expected value tracks the noise-free truth (trend and DST included).
    assert float(np.median(np.concatenate(errors))) < 3.0 * 0.6


def test_baseline_follows_local_time_across_dst() -> None:
    # Pattern fixed in Berlin wall-clock time; clocks go forward on 29 Mar 2026. Slots in
    # local time keep the profile aligned; slots in UTC are an hour off afterwards.
    idx = pd.date_range("2026-02-02", periods=24 * 7 * 10, freq="h", tz="UTC")
    local = idx.tz_convert("Europe/Berlin")
    hour = local.hour.to_numpy()
    truth = 50.0 + 20.0 * np.sin(2 * np.pi * (hour - 6) / 24)
    y = truth + np.random.default_rng(8).normal(0.0, 1.0, idx.size)
    after = (idx >= pd.Timestamp("2026-03-29T01:00Z")) & (idx < pd.Timestamp("2026-04-12T00:00Z"))
    err = {}
    for tz in ("Europe/Berlin", "UTC"):
        b = km.seasonal_baseline(pd.Series(y, index=idx), tz)
        err[tz] = float(np.median(np.abs(b.expected.to_numpy() - truth)[after]))
    assert err["Europe/Berlin"] < 1.0
    assert err["UTC"] > 2 * err["Europe/Berlin"]


def test_trailing_trimmed_mean_matches_scipy() -> None:
    # Private helper, checked against scipy's trim_mean on every window (two chunks here).
    rng = np.random.default_rng(12)
    y = rng.standard_t(2, 3000)
    y[rng.random(3000) < 0.1] = np.nan
    window = 1000
    got = km._trailing_trimmed_mean(y, window)
    for i in range(0, 3000, 7):
        w = y[max(0, i - window) : i]
        w = w[np.isfinite(w)]
        if w.size >= window // 2:
            assert got[i] == pytest.approx(stats.trim_mean(w, 0.2), rel=1e-9, abs=1e-12)
        else:
            assert np.isnan(got[i])


def test_baseline_daily_buckets_and_spike_robustness() -> None:
    idx = pd.date_range("2025-01-06", periods=7 * 30, freq="D", tz="UTC")
    weekday = idx.tz_convert("America/New_York").day_of_week.to_numpy()
    rng = np.random.default_rng(11)
    y = 100.0 + 30.0 * (weekday >= 5) + rng.normal(0, 5, idx.size)
    clean = km.seasonal_baseline(pd.Series(y, index=idx), "America/New_York")
    ready = clean.lower.notna().to_numpy()
    coverage = ((y >= clean.lower) & (y <= clean.upper)).to_numpy()[ready].mean()
    assert 0.88 <= coverage <= 0.99
    spiked = y.copy()
    spiked[100] += 500.0  # one outage-sized outlier
    b = km.seasonal_baseline(pd.Series(spiked, index=idx), "America/New_York")
    assert not (b.lower.iloc[100] <= spiked[100] <= b.upper.iloc[100])
    after = slice(101, 150)
    diff = np.abs(b.expected.to_numpy()[after] - clean.expected.to_numpy()[after])
    # A plain weekly mean would move the level by 500 / 7 = 71 for a week; the trimmed
    # level drops the spike and only shifts by which ordinary day is trimmed instead.
    assert float(diff.max()) < 10.0
    assert float(np.median(diff)) < 2.0


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(40, 90),
    st.data(),
)
def test_baseline_uses_only_the_past(seed: int, n: int, data: st.DataObject) -> None:
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2026-02-02", periods=n, freq="D", tz="UTC")
    y = rng.normal(10, 3, n) + 5 * (idx.day_of_week.to_numpy() >= 5)
    y[rng.random(n) < 0.05] = np.nan
    q = data.draw(st.integers(0, n - 1))
    changed = y.copy()
    changed[q] = data.draw(st.sampled_from([np.nan, -1e6, 1e6, 0.0]))
    a = km.seasonal_baseline(pd.Series(y, index=idx), "Europe/Paris")
    b = km.seasonal_baseline(pd.Series(changed, index=idx), "Europe/Paris")
    for field in ("expected", "lower", "upper"):
        np.testing.assert_array_equal(
            getattr(a, field).to_numpy()[: q + 1], getattr(b, field).to_numpy()[: q + 1]
        )


def test_hourly_baseline_uses_only_the_past() -> None:
    series, _ = _hourly_world(5, weeks=5)
    q = 24 * 7 * 4 + 5
    changed = series.copy()
    changed.iloc[q] = 1e6
    a = km.seasonal_baseline(series, "Europe/Berlin")
    b = km.seasonal_baseline(changed, "Europe/Berlin")
    np.testing.assert_array_equal(a.upper.to_numpy()[: q + 1], b.upper.to_numpy()[: q + 1])
    assert not np.array_equal(a.upper.to_numpy()[q + 1 :], b.upper.to_numpy()[q + 1 :])


def test_forecast_continues_the_baseline() -> None:
    series, truth = _hourly_world(2, weeks=10, sigma=1.0)
    history = series.iloc[:-168]
    f = km.seasonal_baseline_forecast(history, 168, "Europe/Berlin")
    assert f.expected.index.equals(series.index[-168:])
    # The first future bucket gets what the in-sample baseline would give it.
    whole = km.seasonal_baseline(series.iloc[: len(history) + 1], "Europe/Berlin")
    assert f.expected.iloc[0] == pytest.approx(whole.expected.iloc[-1])
    # A week ahead it still follows the trend (0.02 per hour = 3.4 over the week).
    err = np.abs(f.expected.to_numpy() - truth[-168:])
    assert float(np.median(err)) < 1.5
    inside = (series.iloc[-168:] >= f.lower) & (series.iloc[-168:] <= f.upper)
    assert inside.mean() > 0.85
    width = (f.upper - f.lower).to_numpy()
    assert width[-1] >= width[23]  # same hour of day, six days later: wider


def test_baseline_input_validation() -> None:
    naive = pd.Series([1.0, 2.0], index=pd.date_range("2026-01-01", periods=2, freq="h"))
    with pytest.raises(ValueError, match="tz-aware"):
        km.seasonal_baseline(naive)
    odd = pd.Series(
        [1.0, 2.0, 3.0], index=pd.date_range("2026-01-01", periods=3, freq="7h", tz="UTC")
    )
    with pytest.raises(ValueError, match="divide a day"):
        km.seasonal_baseline(odd)


# --- period comparison ---------------------------------------------------------------------


def test_compare_rates_matches_newcombe_and_chi_square() -> None:
    ref = json.loads(REFERENCE.read_text())
    for row in ref["difference_hybrid_score"]:
        d = km.compare_rates(row["x1"], row["n1"], row["x2"], row["n2"])
        assert d.low == pytest.approx(row["low"], abs=5e-5)
        assert d.high == pytest.approx(row["high"], abs=5e-5)
        table = [
            [row["x1"], row["n1"] - row["x1"]],
            [row["x2"], row["n2"] - row["x2"]],
        ]
        chi2 = stats.chi2_contingency(table, correction=False)
        assert d.p_value == pytest.approx(chi2.pvalue, rel=1e-9)
        assert d.statistic**2 == pytest.approx(chi2.statistic, rel=1e-9)
    d = km.compare_rates(56, 70, 48, 80)
    # 0.8 vs 0.6: delta 0.2, relative 0.2 / 0.6.
    assert (d.delta, d.relative, d.significant) == (
        pytest.approx(0.2),
        pytest.approx(1 / 3),
        True,
    )


def test_compare_means_matches_scipy_welch() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(4.1, 0.8, 37), rng.normal(3.7, 1.3, 52)
    d = km.compare_means(km.Moments.from_values(a), km.Moments.from_values(b))
    ref = stats.ttest_ind(a, b, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert d.statistic == pytest.approx(ref.statistic, rel=1e-9)
    assert d.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert (d.low, d.high) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert d.delta == pytest.approx(a.mean() - b.mean())


def test_compare_means_from_histograms() -> None:
    cur, prev = [1, 1, 2, 3, 3], [2, 2, 2, 2, 2]
    d = km.compare_means(
        km.Moments.from_histogram(cur, 1, 5), km.Moments.from_histogram(prev, 1, 5)
    )
    ref = stats.ttest_ind(
        np.repeat(np.arange(1, 6), cur), np.repeat(np.arange(1, 6), prev), equal_var=False
    )
    assert d.p_value == pytest.approx(ref.pvalue, rel=1e-9)


def test_compare_nps_by_hand() -> None:
    # Current: 30 promoters (10s), 10 detractors (6s), n = 40 -> NPS 50.
    # Previous: 20 and 20 -> NPS 0. var1 = (0.75 + 0.25 - 0.5^2) / 40 = 0.01875;
    # var0 = (0.5 + 0.5 - 0) / 40 = 0.025; se = sqrt(0.04375) = 0.2091650 -> 20.91650 pts.
    # z = 50 / 20.91650 = 2.390457; p = 2 * (1 - Phi(z)) = 0.016827;
    # interval 50 -+ 1.959964 * 20.91650 = [9.00441, 90.99559].
    cur = [0] * 6 + [10, 0, 0, 0, 30]
    prev = [0] * 6 + [20, 0, 0, 0, 20]
    d = km.compare_nps(cur, prev)
    assert d.delta == pytest.approx(50.0)
    assert d.statistic == pytest.approx(2.390457, abs=1e-6)
    assert d.p_value == pytest.approx(0.016827, abs=1e-6)
    assert (d.low, d.high) == pytest.approx((9.00441, 90.99559), abs=1e-5)
    assert math.isnan(d.relative)
    assert d.significant


def test_compare_with_empty_period() -> None:
    d = km.compare_rates(5, 10, 0, 0)
    assert math.isnan(d.p_value)
    assert not d.significant
    assert math.isnan(km.compare_nps([0] * 11, [1] * 11).delta)


# --- consistency ---------------------------------------------------------------------------


def test_rate_shrinkage_by_hand() -> None:
    # 50/100 and 70/100: overall 0.6, v = 0.24/100 = 0.0024 each, w = 1/v = 416.667.
    # Q = 416.667 * (0.1^2 + 0.1^2) = 8.3333; S1 = 833.33, S2/S1 = 416.667;
    # tau2 = (8.3333 - 1) / 416.667 = 0.0176; weight = 0.0176 / (0.0176 + 0.0024) = 0.88;
    # shrunk = 0.6 -+ 0.88 * 0.1 = 0.512 and 0.688.
    c = km.rate_consistency(["north", "south"], [50, 70], [100, 100])
    assert c.between_variance == pytest.approx(0.0176)
    assert [g.label for g in c.groups] == ["south", "north"]
    assert [g.shrunk for g in c.groups] == pytest.approx([0.688, 0.512])
    assert c.gap == pytest.approx(0.176)
    assert c.raw_gap == pytest.approx(0.2)
    assert (c.best, c.worst) == ("south", "north")


def test_tiny_location_does_not_top_the_ranking() -> None:
    labels = ["kiosk", "big", "mid", "small"]
    c = km.rate_consistency(labels, [3, 950, 400, 18], [3, 1000, 500, 20])
    assert (c.best, c.worst) == ("big", "mid")
    kiosk = next(g for g in c.groups if g.label == "kiosk")
    assert kiosk.raw == 1.0
    assert c.overall < kiosk.shrunk < 0.95
    shrunk = np.array([g.shrunk for g in c.groups])
    q1, q3 = np.percentile(shrunk, [25, 75])
    assert c.iqr == pytest.approx(q3 - q1)
    assert c.cv == pytest.approx(shrunk.std() / shrunk.mean())
    flipped = km.rate_consistency(
        labels, [3, 950, 400, 18], [3, 1000, 500, 20], higher_is_better=False
    )
    assert flipped.best == "mid"


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.integers(0, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
        min_size=1,
        max_size=8,
    )
)
def test_shrinkage_invariants(groups: list[tuple[int, int]]) -> None:
    x = [g[0] for g in groups]
    n = [g[1] for g in groups]
    if sum(n) == 0:
        return
    c = km.rate_consistency([f"g{i}" for i in range(len(groups))], x, n)
    assert sorted(g.rank for g in c.groups) == list(range(1, len(groups) + 1))
    for g in c.groups:
        if g.n:
            lo, hi = sorted((g.raw, c.overall))
            assert lo - 1e-12 <= g.shrunk <= hi + 1e-12
            assert 0.0 <= g.weight <= 1.0
    assert (
        c.gap <= max(g.raw for g in c.groups if g.n) - min(g.raw for g in c.groups if g.n) + 1e-12
    )


def test_mean_consistency_shrinks_small_groups() -> None:
    groups = [
        km.Moments.from_values([5, 5]),
        km.Moments.from_values([4, 5, 3, 4, 4, 5, 4, 3] * 20),
        km.Moments.from_values([3, 2, 4, 3, 3] * 20),
        km.Moments(0, 0, 0),
    ]
    c = km.mean_consistency(["a", "b", "c", "empty"], groups)
    a = next(g for g in c.groups if g.label == "a")
    assert 4.0 < a.shrunk < 5.0
    assert a.weight < 0.9
    assert c.groups[-1].label == "empty"
    assert math.isnan(c.groups[-1].raw)


# --- OKR trend projection ------------------------------------------------------------------

DAYS = pd.date_range("2026-01-01", periods=30, freq="D", tz="UTC")


def test_exact_line_projects_exactly() -> None:
    # 0.5 + 0.01/day; deadline is day 50 -> 0.5 + 0.5 = 1.0 >= 0.9.
    values = 0.5 + 0.01 * np.arange(30)
    p = km.project_trend(
        DAYS, values, target=0.9, deadline=_utc("2026-02-20"), direction="increase", baseline=0.5
    )
    assert p.status == "on_track"
    assert p.slope_per_day == pytest.approx(0.01)
    assert (p.projected, p.low, p.high) == pytest.approx((1.0, 1.0, 1.0))
    assert p.current == pytest.approx(0.79)  # day 29
    assert p.required_per_day == pytest.approx((0.9 - 0.79) / 21)
    assert p.progress == pytest.approx((0.79 - 0.5) / (0.9 - 0.5))


def test_status_rules_follow_the_interval() -> None:
    rng = np.random.default_rng(9)
    hours = 30.0 - 0.2 * np.arange(30) + rng.normal(0, 1.5, 30)  # first response time, falling
    deadline = _utc("2026-03-31")
    base = km.project_trend(DAYS, hours, target=0.0, deadline=deadline, direction="decrease")
    assert base.low < base.projected < base.high

    def status(target: float) -> str:
        return km.project_trend(
            DAYS, hours, target=target, deadline=deadline, direction="decrease"
        ).status

    assert status(base.projected + 0.1) == "on_track"
    assert status((base.projected + base.low) / 2) == "at_risk"
    assert status(base.low - 0.1) == "off_track"


def test_theil_sen_ignores_an_outlier_week() -> None:
    values = 0.7 + 0.002 * np.arange(30)
    values[10:14] = 0.2  # an incident week
    p = km.project_trend(
        DAYS, values, target=0.8, deadline=_utc("2026-03-01"), direction="increase"
    )
    assert p.slope_per_day == pytest.approx(0.002, rel=0.05)
    assert np.polyfit(np.arange(30), values, 1)[0] > 0.003  # least squares is pulled


def test_insufficient_data() -> None:
    p = km.project_trend(
        DAYS[:2], [0.5, 0.6], target=0.9, deadline=_utc("2026-06-01"), direction="increase"
    )
    assert (p.status, p.current, p.n) == ("insufficient_data", 0.6, 2)


def test_public_names_exported() -> None:
    import juncture.analytics as analytics

    for name in km.__all__:
        assert getattr(analytics, name) is getattr(km, name)


def test_deadline_naive_is_utc() -> None:
    values = 0.5 + 0.01 * np.arange(30)
    naive = datetime(2026, 2, 20)  # noqa: DTZ001  # a naive deadline is read as UTC
    p = km.project_trend(DAYS, values, target=0.9, deadline=naive, direction="increase")
    assert p.deadline == _utc("2026-02-20")
    assert p.deadline - timedelta(days=20) == _utc("2026-01-31")
