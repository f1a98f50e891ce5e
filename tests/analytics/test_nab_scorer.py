"""juncture's NAB scorer against NAB's published scoreboard and the rule's closed forms."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from juncture.analytics import nab

# The NAB corpus lives next to the repository (../shared/data/nab); it is never copied in.
NAB_ROOT = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "nab"
DETECTORS = ["null", "numenta", "random", "windowedGaussian", "ARTime", "relativeEntropy"]


def _require_nab() -> Path:
    if not (NAB_ROOT / "results" / "per_row").is_dir():
        pytest.skip(f"NAB corpus not found at {NAB_ROOT.resolve()} (see docs/benchmarks.md)")
    return NAB_ROOT


@cache
def _windows() -> dict[str, list[tuple[str, str]]]:
    return nab.load_windows(_require_nab() / "labels" / "combined_windows.json")


@cache
def _detector_files(detector: str) -> tuple[nab.NabFile, ...]:
    path = _require_nab() / "results" / "per_row" / f"{detector}_per_row.csv.gz"
    frame = pd.read_csv(path, usecols=["file", "timestamp", "anomaly_score"])
    windows = _windows()
    files = []
    for name, group in frame.groupby("file", sort=False):
        ts = pd.to_datetime(group["timestamp"]).to_numpy()
        rows = nab.window_rows(ts, windows[str(name)])
        files.append(nab.NabFile(str(name), group["anomaly_score"].to_numpy(np.float64), rows))
    return tuple(files)


@cache
def _published() -> tuple[dict[str, dict[str, float]], dict[str, dict[str, dict[str, float]]]]:
    root = _require_nab()
    final = json.loads((root / "results" / "final_results.json").read_text(encoding="utf-8"))
    thresholds = json.loads((root / "config" / "thresholds.json").read_text(encoding="utf-8"))
    return final, thresholds


@pytest.mark.parametrize("detector", DETECTORS)
@pytest.mark.parametrize("profile", list(nab.PROFILES))
def test_reproduces_published_scores(detector: str, profile: str) -> None:
    files = _detector_files(detector)
    final, thresholds = _published()
    threshold = thresholds[detector][profile]["threshold"]
    result = nab.score_at_threshold(files, threshold, nab.PROFILES[profile])
    assert result.normalised_score == pytest.approx(final[detector][profile], abs=0.005)
    assert result.true_positives + result.false_negatives == 116


@pytest.mark.parametrize("detector", ["numenta", "ARTime", "windowedGaussian"])
def test_exhaustive_sweep_is_at_least_the_published_threshold(detector: str) -> None:
    files = _detector_files(detector)
    final, _ = _published()
    for name, profile in nab.PROFILES.items():
        best = nab.optimise_threshold(files, profile)
        assert best.normalised_score >= final[detector][name] - 1e-9
        # The optimum is a real threshold: scoring there gives the same number.
        again = nab.score_at_threshold(files, best.threshold, profile)
        assert again.raw_score == pytest.approx(best.raw_score, abs=1e-9)


def test_exhaustive_sweep_beats_an_old_published_threshold() -> None:
    # SOURCE.md: numenta / reward_low_FP_rate is published at raw 30.431 (63.12); the
    # exhaustive optimum is raw 30.645 (63.21).
    best = nab.optimise_threshold(_detector_files("numenta"), nab.PROFILES["reward_low_FP_rate"])
    assert best.raw_score == pytest.approx(30.645, abs=0.001)
    assert best.normalised_score == pytest.approx(63.21, abs=0.005)


def test_scaled_sigmoid_closed_form() -> None:
    s = nab.scaled_sigmoid([-1.0, 0.0, 1.0, 3.0, 3.5])
    expected = 2.0 / (1.0 + np.exp(5.0 * np.array([-1.0, 0.0, 1.0, 3.0]))) - 1.0
    np.testing.assert_allclose(s[:4], expected)
    assert s[0] == pytest.approx(0.98661, abs=1e-5)
    assert s[4] == -1.0


def test_probationary_period() -> None:
    assert nab.probationary_rows(1000) == 150
    assert nab.probationary_rows(4032) == 604
    assert nab.probationary_rows(22695) == 750


def _toy() -> list[nab.NabFile]:
    # 1000 rows, probation 150, one window of 11 rows [500, 510].
    scores = np.zeros(1000)
    return [nab.NabFile("toy.csv", scores, ((500, 510),))]


def test_row_weights_follow_the_rule() -> None:
    profile = nab.PROFILES["standard"]
    w, idx = nab.row_weights(1000, ((500, 510),), profile)
    assert np.all(w[:150] == 0.0)
    assert np.all(idx[:150] == -1)
    assert np.all(w[150:500] == -0.11)
    assert w[500] == pytest.approx(1.0)
    # Right edge: y = -1 / width.
    expected_edge = nab.scaled_sigmoid(-1 / 11) / nab.scaled_sigmoid(-1.0)
    assert w[510] == pytest.approx(float(expected_edge), rel=1e-12)
    assert np.all(np.diff(w[500:511]) < 0)
    assert np.all(idx[500:511] == 0)
    # Just after the window: y = 1 / (width - 1), so sigma(0.1) * A_FP.
    assert w[511] == pytest.approx(0.11 * nab.scaled_sigmoid(0.1), rel=1e-12)
    assert w[999] == pytest.approx(-0.11)


def test_toy_file_scores() -> None:
    profile = nab.PROFILES["standard"]
    files = _toy()
    none = nab.score_at_threshold(files, 0.5, profile)
    assert none.raw_score == -1.0
    assert none.normalised_score == pytest.approx(100 * (-1 + 1) / 2)
    scores = files[0].scores.copy()
    scores[[100, 300, 502, 505, 700]] = 1.0
    hit = nab.score_at_threshold([nab.NabFile("toy.csv", scores, ((500, 510),))], 0.5, profile)
    y = -(510 - 502 + 1) / 11
    tp = float(nab.scaled_sigmoid(y) / nab.scaled_sigmoid(-1.0))
    fp_after = 0.11 * float(nab.scaled_sigmoid((700 - 510) / 10))
    assert hit.raw_score == pytest.approx(tp - 0.11 + fp_after)
    assert (hit.true_positives, hit.false_negatives, hit.false_positives) == (1, 0, 2)
    best = nab.optimise_threshold([nab.NabFile("toy.csv", scores, ((500, 510),))], profile)
    assert best.raw_score == pytest.approx(hit.raw_score)


def test_optimiser_prefers_no_detection_when_everything_is_false() -> None:
    scores = np.linspace(0, 1, 1000)
    scores[500:511] = 0.0
    best = nab.optimise_threshold(
        [nab.NabFile("toy.csv", scores, ((500, 510),))], nab.PROFILES["standard"]
    )
    assert best.threshold == nab.NO_DETECTION_THRESHOLD
    assert best.raw_score == -1.0
