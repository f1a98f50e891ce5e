"""Points per second of juncture's anomaly detector on one core, beside numpy references.

Usage (from the repository root): ``python bench/detector_speed.py [--points N]``. The
references run in the same process over the same array: ``np.cumsum`` (a floor: one pass,
no work per point) and a trailing 288-point rolling mean via cumulative sums.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np

from juncture.analytics.anomaly import StreamingAnomalyDetector, score_series


def _best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n = args.points
    rng = np.random.default_rng(0)
    t = np.arange(n)
    values = 100 + 10 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 1, n)
    ts = np.datetime64("2026-01-01") + t * np.timedelta64(5, "m")

    def rolling_mean() -> np.ndarray:
        c = np.cumsum(np.concatenate([[0.0], values]))
        return (c[288:] - c[:-288]) / 288

    def streaming(batch: int) -> Callable[[], object]:
        def run() -> None:
            detector = StreamingAnomalyDetector()
            for lo in range(0, n, batch):
                detector.update(values[lo : lo + batch], ts[lo : lo + batch])

        return run

    rows = [
        ("numpy cumsum (reference)", _best_of(lambda: np.cumsum(values), args.repeat)),
        ("numpy rolling mean, 288 (reference)", _best_of(rolling_mean, args.repeat)),
        (
            "juncture score_series (one call)",
            _best_of(lambda: score_series(values, ts), args.repeat),
        ),
        ("juncture streaming, batches of 10,000", _best_of(streaming(10_000), args.repeat)),
        ("juncture streaming, batches of 288", _best_of(streaming(288), 1)),
    ]
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"{n:,} points, best of {args.repeat} (OMP_NUM_THREADS={threads})")
    for label, seconds in rows:
        print(f"{label:<40} {n / seconds:>14,.0f} points/s  ({seconds * 1000:8.1f} ms)")


if __name__ == "__main__":
    main()
