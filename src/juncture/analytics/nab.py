"""juncture's own scorer for the Numenta Anomaly Benchmark (NAB v1.1), written from its rules."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = [
    "PROFILES",
    "CostProfile",
    "NabFile",
    "NabScore",
    "load_windows",
    "normalised_score",
    "optimise_threshold",
    "probationary_rows",
    "row_weights",
    "scaled_sigmoid",
    "score_at_threshold",
    "window_rows",
]

logger = logging.getLogger(__name__)

#: Threshold NAB uses to mean "no detections at all".
NO_DETECTION_THRESHOLD = 1.1


@dataclass(frozen=True)
class CostProfile:
    """Weights of one NAB application profile.

    Attributes
    ----------
    name : str
        Profile name as in NAB's ``config/profiles.json``.
    tp_weight, fn_weight, fp_weight : float
        ``A_TP``, ``A_FN`` and ``A_FP``; ``A_TN`` is never used by the scoring rule.
    """

    name: str
    tp_weight: float
    fn_weight: float
    fp_weight: float


#: The three NAB profiles (``config/profiles.json``).
PROFILES: Mapping[str, CostProfile] = {
    "standard": CostProfile("standard", 1.0, 1.0, 0.11),
    "reward_low_FP_rate": CostProfile("reward_low_FP_rate", 1.0, 1.0, 0.22),
    "reward_low_FN_rate": CostProfile("reward_low_FN_rate", 1.0, 2.0, 0.11),
}


@dataclass(frozen=True)
class NabFile:
    """One scored file: a detector's scores and the file's anomaly windows.

    Attributes
    ----------
    name : str
        File name, ``category/name.csv``.
    scores : ndarray of float64
        One anomaly score per row.
    windows : tuple of (int, int)
        Anomaly windows as inclusive row positions ``(left, right)``, in time order.
    """

    name: str
    scores: npt.NDArray[np.float64]
    windows: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class NabScore:
    """Corpus score of one detector for one profile at one threshold.

    Attributes
    ----------
    profile : str
        Profile name.
    threshold : float
        Detection threshold (a row is a detection when its score is >= threshold).
    raw_score : float
        Sum of the file scores.
    normalised_score : float
        ``100 * (raw - raw_null) / (raw_perfect - raw_null)``.
    true_positives : int
        Windows with at least one detection.
    false_negatives : int
        Windows without a detection.
    false_positives : int
        Detections outside every window (after the probationary period).
    """

    profile: str
    threshold: float
    raw_score: float
    normalised_score: float
    true_positives: int
    false_negatives: int
    false_positives: int


def probationary_rows(n_rows: int) -> int:
    """Return the length of NAB's probationary period for a file of ``n_rows`` rows.

    Parameters
    ----------
    n_rows : int
        Rows in the file.

    Returns
    -------
    int
        ``min(floor(0.15 * n_rows), 750)``; rows before it are not scored.
    """
    return int(min(np.floor(0.15 * n_rows), 0.15 * 5000))


def scaled_sigmoid(y: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """NAB's scaled sigmoid ``2 / (1 + exp(5 y)) - 1``, equal to -1 for ``y > 3``.

    Parameters
    ----------
    y : array_like
        Relative positions.

    Returns
    -------
    ndarray of float64
        Values in [-1, 1].
    """
    arr = np.asarray(y, dtype=np.float64)
    with np.errstate(over="ignore"):
        out = 2.0 / (1.0 + np.exp(5.0 * arr)) - 1.0
    return np.where(arr > 3.0, -1.0, out)


def row_weights(
    n_rows: int, windows: Sequence[tuple[int, int]], profile: CostProfile
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Score each row would earn if it were a detection, and the window it belongs to.

    Parameters
    ----------
    n_rows : int
        Rows in the file.
    windows : sequence of (int, int)
        Inclusive row positions of the windows, in time order, not overlapping.
    profile : CostProfile
        Cost weights.

    Returns
    -------
    weights : ndarray of float64
        Positive in windows (``A_TP * sigma(y) / sigma(-1)``), negative outside
        (``A_FP * sigma(y)`` after a window, ``-A_FP`` before any), 0 in the probationary period.
    window_index : ndarray of int64
        Index of the row's window in ``windows``, or -1 outside windows and in the
        probationary period.
    """
    rows = np.arange(n_rows)
    weights = np.full(n_rows, -profile.fp_weight)
    window_index = np.full(n_rows, -1, dtype=np.int64)
    sigma_left = float(scaled_sigmoid(-1.0))
    for k, (left, right) in enumerate(windows):
        width = right - left + 1
        inside = rows[left : right + 1]
        y = -(right - inside + 1) / width
        weights[left : right + 1] = profile.tp_weight * scaled_sigmoid(y) / sigma_left
        window_index[left : right + 1] = k
        next_left = windows[k + 1][0] if k + 1 < len(windows) else n_rows
        after = rows[right + 1 : next_left]
        if after.size:
            # NAB divides by (width - 1) here, not width.
            y_after = (after - right) / max(width - 1, 1)
            weights[right + 1 : next_left] = profile.fp_weight * scaled_sigmoid(y_after)
    probation = probationary_rows(n_rows)
    weights[:probation] = 0.0
    window_index[:probation] = -1
    return weights, window_index


def normalised_score(raw: float, profile: CostProfile, n_windows: int) -> float:
    """Normalise a raw corpus score so that the null detector is 0 and a perfect one 100.

    Parameters
    ----------
    raw : float
        Raw corpus score.
    profile : CostProfile
        Cost weights.
    n_windows : int
        Windows in the corpus (116 in NAB v1.1).

    Returns
    -------
    float
        The normalised score (NaN when there are no windows to normalise by).
    """
    perfect = profile.tp_weight * n_windows
    null = -profile.fn_weight * n_windows
    if perfect == null:
        return float("nan")
    return 100.0 * (raw - null) / (perfect - null)


@dataclass(frozen=True)
class _Prepared:
    scores: npt.NDArray[np.float64]
    weights: npt.NDArray[np.float64]
    window_index: npt.NDArray[np.int64]
    n_windows: int


def _prepare(files: Sequence[NabFile], profile: CostProfile) -> _Prepared:
    scores, weights, indices = [], [], []
    offset = 0
    for f in files:
        s = np.asarray(f.scores, dtype=np.float64)
        w, idx = row_weights(s.size, f.windows, profile)
        idx = np.where(idx >= 0, idx + offset, -1)
        offset += len(f.windows)
        scores.append(s)
        weights.append(w)
        indices.append(idx)
    if not files:
        return _Prepared(np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64), 0)
    return _Prepared(
        np.concatenate(scores), np.concatenate(weights), np.concatenate(indices), offset
    )


def _score_prepared(prep: _Prepared, threshold: float, profile: CostProfile) -> NabScore:
    detected = prep.scores >= threshold
    outside = prep.window_index < 0
    fp_mask = detected & outside & (prep.weights != 0.0)
    fp_total = float(prep.weights[detected & outside].sum())
    best = np.full(prep.n_windows, -np.inf)
    hit = detected & ~outside
    np.maximum.at(best, prep.window_index[hit], prep.weights[hit])
    found = np.isfinite(best)
    tp_total = float(best[found].sum())
    n_fn = int((~found).sum())
    raw = tp_total + fp_total - profile.fn_weight * n_fn
    return NabScore(
        profile=profile.name,
        threshold=float(threshold),
        raw_score=raw,
        normalised_score=normalised_score(raw, profile, prep.n_windows),
        true_positives=int(found.sum()),
        false_negatives=n_fn,
        false_positives=int(fp_mask.sum()),
    )


def score_at_threshold(
    files: Sequence[NabFile], threshold: float, profile: CostProfile
) -> NabScore:
    """Score a corpus at one common threshold.

    Parameters
    ----------
    files : sequence of NabFile
        The detector's scores and the windows of every file.
    threshold : float
        A row is a detection when its score is >= ``threshold``.
    profile : CostProfile
        Cost weights.

    Returns
    -------
    NabScore
        Raw and normalised corpus score with TP/FN/FP counts.
    """
    return _score_prepared(_prepare(files, profile), threshold, profile)


def optimise_threshold(files: Sequence[NabFile], profile: CostProfile) -> NabScore:
    """Find the corpus-wide threshold that maximises the raw score, sweeping every score value.

    The candidates are all distinct score values plus "no detections" (1.1). The sweep is
    vectorised: rows are sorted by score, false-positive weights accumulate, and each window
    keeps the best (earliest) detection seen so far.

    Parameters
    ----------
    files : sequence of NabFile
        The detector's scores and the windows of every file.
    profile : CostProfile
        Cost weights.

    Returns
    -------
    NabScore
        The score at the best threshold (the highest such threshold on ties).
    """
    prep = _prepare(files, profile)
    n_win = prep.n_windows
    base = -profile.fn_weight * n_win
    scored = (prep.weights != 0.0) | (prep.window_index >= 0)
    s = prep.scores[scored]
    w = prep.weights[scored]
    win = prep.window_index[scored]
    if s.size == 0:
        return _score_prepared(prep, NO_DETECTION_THRESHOLD, profile)
    order = np.argsort(-s, kind="stable")
    s, w, win = s[order], w[order], win[order]
    delta = np.where(win < 0, w, 0.0)
    in_win = np.flatnonzero(win >= 0)
    if in_win.size:
        # Group the in-window rows by window, keeping sweep order, and take a running max.
        grp = win[in_win]
        by_group = in_win[np.argsort(grp, kind="stable")]
        g = win[by_group]
        vals = w[by_group]
        shift = 10.0 * (profile.tp_weight + 1.0)
        running = np.maximum.accumulate(vals + g * shift) - g * shift
        first = np.ones(g.size, dtype=bool)
        first[1:] = g[1:] != g[:-1]
        prev = np.empty_like(running)
        prev[1:] = running[:-1]
        prev[first] = -profile.fn_weight
        delta[by_group] = running - prev
    totals = base + np.cumsum(delta)
    last_of_tie = np.ones(s.size, dtype=bool)
    last_of_tie[:-1] = s[:-1] != s[1:]
    cand_scores = s[last_of_tie]
    cand_totals = totals[last_of_tie]
    best = int(np.argmax(cand_totals))
    found = cand_totals[best] > base
    threshold = float(cand_scores[best]) if found else NO_DETECTION_THRESHOLD
    result = _score_prepared(prep, threshold, profile)
    logger.debug("optimal %s threshold %.6f -> %.3f", profile.name, threshold, result.raw_score)
    return result


def window_rows(
    timestamps: npt.NDArray[np.datetime64], windows: Sequence[tuple[str, str]]
) -> tuple[tuple[int, int], ...]:
    """Convert NAB windows given as timestamp strings to inclusive row positions.

    Parameters
    ----------
    timestamps : ndarray of datetime64
        Row timestamps of the file, increasing.
    windows : sequence of (str, str)
        Window edges as in ``combined_windows.json``.

    Returns
    -------
    tuple of (int, int)
        ``(left, right)`` row positions.

    Raises
    ------
    ValueError
        If an edge does not match a row timestamp.
    """
    ts = np.asarray(timestamps).astype("datetime64[ns]")
    out = []
    for start, end in windows:
        edges = np.array([start, end], dtype="datetime64[ns]")
        pos = np.searchsorted(ts, edges)
        if np.any(pos >= ts.size) or np.any(ts[np.minimum(pos, ts.size - 1)] != edges):
            msg = f"window edge {start!r}..{end!r} does not match a row timestamp"
            raise ValueError(msg)
        out.append((int(pos[0]), int(pos[1])))
    return tuple(out)


def load_windows(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Read NAB's ``combined_windows.json``.

    Parameters
    ----------
    path : Path
        Path to the JSON file.

    Returns
    -------
    dict
        ``{"category/name.csv": [(start, end), ...]}``.
    """
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {name: [(str(a), str(b)) for a, b in wins] for name, wins in raw.items()}
