"""Run juncture's anomaly detector over the NAB corpus and score it with juncture's NAB scorer.

Usage (from the repository root): ``python bench/nab.py [--nab PATH]``. Writes
``bench/out/nab_juncture.csv.gz`` (``file,timestamp,anomaly_score``) and prints juncture's
three profile scores beside the best published detectors, read from NAB's
``final_results.json`` in the same run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from juncture.analytics import nab
from juncture.analytics.anomaly import score_series

REPO = Path(__file__).resolve().parents[1]
DEFAULT_NAB = REPO / ".." / "shared" / "data" / "nab"
OUT = REPO / "bench" / "out" / "nab_juncture.csv.gz"
PUBLISHED = ["ARTime", "contextOSE", "numenta"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nab", type=Path, default=DEFAULT_NAB, help="NAB corpus directory")
    parser.add_argument("--out", type=Path, default=OUT, help="per-row scores (.csv.gz)")
    args = parser.parse_args()
    root: Path = args.nab
    if not (root / "labels" / "combined_windows.json").is_file():
        raise SystemExit(f"NAB corpus not found at {root.resolve()}")

    windows = nab.load_windows(root / "labels" / "combined_windows.json")
    files: list[nab.NabFile] = []
    frames = []
    detect_seconds = 0.0
    n_points = 0
    for name in sorted(windows):
        data = pd.read_csv(root / "data" / name)
        ts = pd.to_datetime(data["timestamp"]).to_numpy()
        values = data["value"].to_numpy(np.float64)
        start = time.perf_counter()
        result = score_series(values, ts)
        detect_seconds += time.perf_counter() - start
        n_points += values.size
        files.append(nab.NabFile(name, result.score, nab.window_rows(ts, windows[name])))
        frames.append(
            pd.DataFrame(
                {"file": name, "timestamp": data["timestamp"], "anomaly_score": result.score}
            )
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(frames, ignore_index=True).to_csv(args.out, index=False, compression="gzip")

    final = json.loads((root / "results" / "final_results.json").read_text(encoding="utf-8"))
    print(
        f"juncture detector: {len(files)} files, {n_points:,} points, "
        f"{n_points / detect_seconds:,.0f} points/s (detector only, one process)"
    )
    print(f"per-row scores: {args.out}")
    print()
    header = f"{'profile':<20} {'juncture':>9} {'threshold':>10} {'TP':>4} {'FN':>4} {'FP':>5}"
    header += "".join(f" {d:>10}" for d in PUBLISHED)
    print(header)
    for profile_name, profile in nab.PROFILES.items():
        best = nab.optimise_threshold(files, profile)
        row = (
            f"{profile_name:<20} {best.normalised_score:>9.2f} {best.threshold:>10.4f} "
            f"{best.true_positives:>4} {best.false_negatives:>4} {best.false_positives:>5}"
        )
        row += "".join(f" {final[d][profile_name]:>10.2f}" for d in PUBLISHED)
        print(row)
    print()
    print("juncture: exhaustive corpus-wide optimal threshold per profile (NAB's rule);")
    print("published: final_results.json (scored at NAB's published thresholds).")
    print("NAB has no train/test split: juncture's one parameter set was tuned on this corpus.")


if __name__ == "__main__":
    main()
