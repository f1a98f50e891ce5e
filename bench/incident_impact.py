"""Incident customer impact against the simulator's truth (issue #8): errors, linking, speed.

For each seed (not the test's, 2026) a 9-day world is generated with the three scripted faults
of tests/incidents/test_impact.py (errors at checkout, payments and notifications, 5 hours,
90% errors, 80,000 sessions a day) plus random faults (``--random-per-week``, the simulator's
own mix: 15-180 minutes, 5-40% errors or 2-5x latency, often small). The signals the impact
reads are loaded into a fresh SQLite file; one incident is created per truth incident with its
services, regions and window, and :func:`juncture.incidents.impact.refresh_impact` measures it
(and links tickets). Printed per incident: truth and measured customers affected, lost
conversions and extra tickets with relative errors (target: within 10%), linking precision
and recall against the truth's ``ticket_ids``, and the seconds ``measure`` took. Summaries are
given separately for the scripted (large) incidents and for the random ones that the truth
calls customer-impacting.

Usage: python bench/incident_impact.py [--seeds 1 2 3] [--days 9] [--sessions 80000]
       [--random-per-week 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.incidents.test_impact import FAULTS, load
from tests.simulate.scenarios import START, small

from juncture.config import Settings
from juncture.incidents import linking
from juncture.incidents.impact import measure, refresh_impact
from juncture.incidents.models import Incident
from juncture.simulate.world import generate
from juncture.store import migrate
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work

TARGET = 0.10


def _rel(measured: float, true: float) -> float | None:
    return None if true == 0 else (measured - true) / true


def _fmt(x: float | None) -> str:
    return "   n/a" if x is None else f"{x:+6.1%}"


def run_seed(seed: int, args: argparse.Namespace, out: list[dict[str, Any]]) -> None:
    scenario = small(
        traffic={"sessions_per_day": args.sessions},
        incidents={"random_per_week": args.random_per_week, "scripted": FAULTS},
    )
    world = generate(scenario, days=args.days, seed=seed, start=START)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{tmp}/bench.db",
            run_jobs=False,
            log_json=False,
            log_level="WARNING",
        )
        db = Database(settings)
        migrate.upgrade(db)
        t0 = time.perf_counter()
        load(world, db, settings)
        print(f"seed {seed}: loaded in {time.perf_counter() - t0:.0f}s", flush=True)
        scripted = {f["title"] for f in FAULTS}
        ids = []
        with unit_of_work(db) as session:
            for t in world.truth.incidents:
                inc = Incident(
                    title=t.title,
                    severity="sev3",
                    services=list(t.services),
                    regions=list(t.regions),
                    started_at=t.start,
                    impact_ended_at=t.end,
                    declared_at=t.start,
                )
                session.add(inc)
                session.flush()
                ids.append(inc.id)
        for incident_id, t in zip(ids, world.truth.incidents, strict=True):
            with unit_of_work(db) as session:
                t1 = time.perf_counter()
                measure(
                    session,
                    services=t.services,
                    journeys=[],
                    regions=t.regions,
                    start=t.start,
                    end=t.end,
                    now=world.end,
                )
                seconds = time.perf_counter() - t1
                m = refresh_impact(session, incident_id=incident_id, now=world.end)
                linked = {
                    r.ticket_id for r in linking.linked_tickets(session, incident_id=incident_id)
                }
            truth_ids = set(t.impact.ticket_ids)
            hit = len(linked & truth_ids)
            row = {
                "seed": seed,
                "id": t.id,
                "kind": "scripted" if t.title in scripted else "random",
                "impacting": t.impact.customer_impacting,
                "what": f"{t.service} {t.kind} {','.join(t.regions)} "
                f"{(t.end - t.start).total_seconds() / 60:.0f}min",
                "customers": (m["customers_affected"], t.impact.customers_affected),
                "lost": (m["lost_conversions"], t.impact.lost_conversions),
                "tickets": (m["tickets"]["extra"], t.impact.extra_tickets),
                "precision": hit / len(linked) if linked else None,
                "recall": hit / len(truth_ids) if truth_ids else None,
                "seconds": seconds,
            }
            out.append(row)
            print(
                f"  {t.id} {row['kind']:8} {row['what']:38} "
                f"cust {m['customers_affected']:5d}/{t.impact.customers_affected:5d} "
                f"{_fmt(_rel(*row['customers']))}  "
                f"lost {m['lost_conversions']:6.1f}/{t.impact.lost_conversions:4d} "
                f"{_fmt(_rel(*row['lost']))}  "
                f"tix {m['tickets']['extra']:6.1f}/{t.impact.extra_tickets:4d} "
                f"{_fmt(_rel(*row['tickets']))}  "
                f"P {_fmt(row['precision'])} R {_fmt(row['recall'])}  {seconds:.2f}s",
                flush=True,
            )
        db.dispose()


def summary(rows: list[dict[str, Any]], label: str) -> None:
    if not rows:
        return
    print(f"\n{label}: {len(rows)} incidents (target: every figure within {TARGET:.0%})")
    for key in ("customers", "lost", "tickets"):
        errs = [abs(e) for r in rows if (e := _rel(*r[key])) is not None]
        if not errs:
            continue
        within = sum(e <= TARGET for e in errs)
        absolute = [abs(r[key][0] - r[key][1]) for r in rows]
        print(
            f"  {key:9} median |error| {statistics.median(errs):6.1%}  max {max(errs):6.1%}  "
            f"within 10%: {within}/{len(errs)}  absolute: median {statistics.median(absolute):.1f}"
            f" max {max(absolute):.1f}"
        )
    for key in ("precision", "recall"):
        vals = [r[key] for r in rows if r[key] is not None]
        if vals:
            print(f"  linking {key:9} median {statistics.median(vals):6.1%}  min {min(vals):6.1%}")
    secs = [r["seconds"] for r in rows]
    print(f"  measure seconds: median {statistics.median(secs):.2f}  max {max(secs):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--days", type=int, default=9)
    parser.add_argument("--sessions", type=int, default=80_000)
    parser.add_argument("--random-per-week", type=float, default=3.0)
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for seed in args.seeds:
        run_seed(seed, args, rows)
    summary([r for r in rows if r["kind"] == "scripted"], "scripted (large) incidents")
    summary(
        [r for r in rows if r["kind"] == "random" and r["impacting"]],
        "random customer-impacting incidents",
    )


if __name__ == "__main__":
    main()
