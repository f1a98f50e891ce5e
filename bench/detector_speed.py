"""Points per second of juncture's anomaly detector on one core, beside numpy references.

Usage (from the repository root): ``python bench/detector_speed.py [--points N]``. The
references run in the same process over the same array: ``np.cumsum`` (a floor: one pass,
no work per point) and a trailing 288-point rolling mean via cumulative sums. Points per
second are given by wall clock and by the process's CPU time; on a shared machine the
wall-clock figure drops with the load, the CPU figure much less.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from juncture.analytics.anomaly import StreamingAnomalyDetector, score_series


def _best_of(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds of ``repeat`` runs."""
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu)


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

    def rolling_mean() -> npt.NDArray[np.float64]:
        c = np.cumsum(np.concatenate([[0.0], values]))
        out: npt.NDArray[np.float64] = (c[288:] - c[:-288]) / 288
        return out

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
    print(f"{'':<40} {'points/s':>14}  {'wall ms':>9}  {'CPU points/s':>14}")
    for label, (seconds, cpu) in rows:
        print(
            f"{label:<40} {n / seconds:>14,.0f}  {seconds * 1000:9.1f}  "
            f"{n / max(cpu, 1e-9):>14,.0f}"
        )


if __name__ == "__main__":
    main()
