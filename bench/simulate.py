"""Events per second of juncture's simulator (90 days of the default company), beside a reference.

Usage (from the repository root): ``python bench/simulate.py [--days N] [--seed S] [--records]``.
The reference runs in the same process: the time numpy takes to draw as many uniform random
variates as the simulator emitted events (a floor for anything that touches every event once).
``--records`` also times building the v1 dicts (``World.iter_records``), which an ingest that
uses the columnar ``World.frames()`` does not need.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from juncture.simulate.scenario import load_scenario
from juncture.simulate.world import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--records", action="store_true", help="also time iter_records()")
    args = parser.parse_args()

    scenario = load_scenario()
    start = time.perf_counter()
    world = generate(scenario, days=args.days, seed=args.seed)
    gen_seconds = time.perf_counter() - start
    n = world.n_events

    start = time.perf_counter()
    np.random.default_rng(0).random(n)
    ref_seconds = time.perf_counter() - start

    print(f"{scenario.company.name}: {args.days} days, seed {args.seed}")
    for kind, count in world.counts().items():
        print(f"  {kind:<8} {count:>12,}")
    print(f"  {'total':<8} {n:>12,}")
    print(
        f"{'juncture generate (columnar frames)':<42} {gen_seconds:8.2f} s "
        f"{n / gen_seconds:>14,.0f} events/s"
    )
    if args.records:
        start = time.perf_counter()
        built = sum(len(batch) for batch in world.iter_records(batch_size=50_000))
        rec_seconds = time.perf_counter() - start
        assert built == n
        print(
            f"{'juncture iter_records (v1 dicts)':<42} {rec_seconds:8.2f} s "
            f"{n / rec_seconds:>14,.0f} events/s"
        )
    print(
        f"{'numpy: as many uniform draws (reference)':<42} {ref_seconds:8.2f} s "
        f"{n / ref_seconds:>14,.0f} events/s"
    )


if __name__ == "__main__":
    main()
