"""Nearest-neighbour distance between quantised windows, exact whatever the batching."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

__all__ = ["nearest_window_distance"]

FloatArray = npt.NDArray[np.float64]

# Squared norm given to the padding before the first window: larger than any real squared
# distance of windows of small integers, and exactly representable in float32.
_FAR = 1.0e6
# Queries per matrix product: large enough to amortise the call, small enough that the
# product (queries x (queries + candidates)) stays in cache.
_BLOCK = 256


def nearest_window_distance(
    q: FloatArray, tail: FloatArray, window: int, points: int, gap: int
) -> FloatArray:
    """Squared distance from each window to its nearest earlier window.

    For every point ``t`` of ``q``, the window is the ``window`` values ending at ``t``;
    the candidates are the windows ending ``gap`` to ``points`` points before ``t`` (so a
    window is never compared with itself or its closest overlaps).

    The values must be small integers (``window * max|q|^2`` well under ``2**24``): then
    every product and sum is exact in float32, whatever the order in which the matrix
    product adds them, so the result does not depend on how the series is split into
    batches.

    Parameters
    ----------
    q : ndarray of float64
        The new quantised values.
    tail : ndarray of float64
        The quantised values before them (only the last ``points + window - 1`` matter).
    window : int
        Window length.
    points : int
        How far back candidates may end (>= ``gap``).
    gap : int
        How recent candidates may end (>= 1).

    Returns
    -------
    ndarray of float64
        One squared distance per value of ``q``; NaN while there is no full window or no
        candidate yet.
    """
    full = np.concatenate([tail[-(points + window - 1) :] if tail.size else tail, q])
    full = full.astype(np.float32)
    off = full.size - q.size
    out = np.full(q.size, np.nan)
    n_windows = full.size - window + 1
    first = max(off - window + 1, 0)
    if n_windows <= first:
        return out
    step = full.strides[0]
    windows = as_strided(full, shape=(n_windows, window), strides=(step, step), writeable=False)
    norms = np.einsum("ij,ij->i", windows, windows)
    # |a - b|^2 = |a|^2 + (|b|^2 - 2 a.b): the bracket comes from one product of augmented
    # rows. Candidates start `points` rows of padding early, so that candidate k - j of
    # query k sits on a fixed diagonal band of the product.
    queries = np.empty((n_windows, window + 1), np.float32)
    queries[:, :window] = -2.0 * windows
    queries[:, window] = 1.0
    cands = np.zeros((n_windows + points, window + 1), np.float32)
    cands[:points, window] = _FAR
    cands[points:, :window] = windows
    cands[points:, window] = norms
    width = points - gap + 1
    for lo in range(first, n_windows, _BLOCK):
        hi = min(n_windows, lo + _BLOCK)
        prod = queries[lo:hi] @ cands[lo : hi - gap + points].T
        s0, s1 = prod.strides
        band = as_strided(prod, shape=(hi - lo, width), strides=(s0 + s1, s1), writeable=False)
        best = band.min(axis=1).astype(np.float64) + norms[lo:hi]
        out[lo + window - 1 - off : hi + window - 1 - off] = np.where(best < _FAR / 2, best, np.nan)
    return out
