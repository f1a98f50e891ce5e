"""`juncture simulate`: generate the simulated company and write it to files or the database."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from juncture.cli.common import err, fail, handle_errors, settings


def _parse_start(value: str | None, days: int, into: bool) -> datetime:
    from juncture.simulate.world import DEFAULT_START

    if value is None:
        if not into:
            return DEFAULT_START
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return today - timedelta(days=days)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise fail(f"--start: not an ISO date or date-time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@handle_errors
def simulate_command(
    days: Annotated[int, typer.Option(min=1, max=3660, help="Days of history to simulate.")] = 90,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")] = 7,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Write NDJSON files (one per signal type), truth.json and manifest.json here."
        ),
    ] = None,
    scenario: Annotated[
        Path | None,
        typer.Option(help="Scenario TOML file [default: the shipped default_scenario.toml]."),
    ] = None,
    into: Annotated[
        bool,
        typer.Option(
            "--into", help="Load the signals into the configured database (JUNCTURE_DATABASE_URL)."
        ),
    ] = False,
    start: Annotated[
        str | None,
        typer.Option(
            help="First day (ISO date, UTC) [default: 2026-08-24 for files; "
            "DAYS before today with --into]."
        ),
    ] = None,
) -> None:
    """Simulate a company with causally linked Ops and CX signals, and its ground truth."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from juncture.simulate.load import load_into_database
    from juncture.simulate.output import write_files
    from juncture.simulate.scenario import load_scenario
    from juncture.simulate.world import generate

    if out is None and not into:
        raise fail("nothing to do: give --out DIR and/or --into")
    sc = load_scenario(scenario)
    first = _parse_start(start, days, into)
    timings: dict[str, float] = {}
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(f"simulating {days} days of {sc.company.name}", total=None)
        t0 = time.perf_counter()
        world = generate(sc, days=days, seed=seed, start=first)
        timings["generate"] = time.perf_counter() - t0
        manifest = None
        if out is not None:
            progress.update(task, description=f"writing files to {out}")
            t0 = time.perf_counter()
            manifest = write_files(world, out)
            timings["write"] = time.perf_counter() - t0
        if into:
            progress.update(task, description="loading into the database")
            t0 = time.perf_counter()
            progress.update(task, total=world.n_events, completed=0)
            loaded = load_into_database(
                world,
                settings(),
                on_progress=lambda done, total: progress.update(task, completed=done),
            )
            timings["load"] = time.perf_counter() - t0
            err.print(
                f"loaded: received {loaded['received']:,}, accepted {loaded['accepted']:,}, "
                f"duplicates {loaded['duplicates']:,}, quarantined {loaded['quarantined']:,}"
            )
    table = Table(title=f"{sc.company.name}: {days} days from {first:%Y-%m-%d}, seed {seed}")
    table.add_column("signal")
    table.add_column("records", justify="right")
    for kind, count in world.counts().items():
        table.add_row(kind, f"{count:,}")
    table.add_row("total", f"{world.n_events:,}", style="bold")
    err.print(table)
    impacting = sum(1 for i in world.truth.incidents if i.impact.customer_impacting)
    err.print(
        f"incidents: {len(world.truth.incidents)} ({impacting} customer-impacting), "
        f"interventions: {len(world.truth.interventions)}, "
        f"promotions: {len(world.truth.promotions)}"
    )
    err.print("  ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    if manifest is not None:
        err.print(f"wrote {out} (content sha256 {manifest['content_sha256'][:16]}…)")
