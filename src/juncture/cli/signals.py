"""CLI commands of the signals room: import files, manage the quarantine, rebuild rollups."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from juncture.cli.common import database, err, handle_errors, out, settings
from juncture.kit.errors import Invalid

quarantine_app = typer.Typer(
    help="Records refused at ingest: list, inspect, replay, drop.", no_args_is_help=True
)
rollups_app = typer.Typer(help="Per-bucket aggregates of every series.", no_args_is_help=True)


def _advance(progress: Progress, task: TaskID, position: int) -> None:
    progress.update(task, completed=position)


@handle_errors
def import_command(
    files: Annotated[
        list[Path], typer.Argument(help="NDJSON (.ndjson/.jsonl), CSV or Parquet files; .gz ok")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON summary object on stdout")
    ] = False,
    restart: Annotated[
        bool, typer.Option(help="Ignore earlier progress and read the files again")
    ] = False,
) -> None:
    """Import signal files: streaming, resumable after interruption, every record accounted for."""
    from juncture.signals.importer import file_size, import_file

    for path in files:
        if not path.is_file():
            raise Invalid(f"{path}: no such file")
    cfg = settings()
    db = database(defer_checkpoints=True)
    summaries = []
    totals = {"received": 0, "accepted": 0, "duplicates": 0, "quarantined": 0}
    reasons: dict[str, int] = {}
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=as_json,
        disable=not err.is_terminal and as_json,
    ) as progress:
        for path in files:
            task = progress.add_task(path.name, total=file_size(path) or None)
            summary = import_file(
                db,
                cfg,
                path,
                restart=restart,
                on_progress=functools.partial(_advance, progress, task),
            )
            summaries.append(summary)
            for key in totals:
                totals[key] += getattr(summary, key)
            for reason, n in summary.reasons.items():
                reasons[reason] = reasons.get(reason, 0) + n
            if not as_json:
                note = (
                    " (already imported)"
                    if summary.already_done
                    else (
                        f" (resumed at byte/row {summary.resumed_from})"
                        if summary.resumed_from
                        else ""
                    )
                )
                err.print(
                    f"{path}: received {summary.received}, accepted {summary.accepted}, "
                    f"duplicates {summary.duplicates}, quarantined {summary.quarantined}{note}"
                )
                for reason, n in sorted(summary.reasons.items()):
                    err.print(f"    {reason}: {n}")
    db.checkpoint()
    if as_json:
        out.print(
            json.dumps(
                {
                    **totals,
                    "reasons": dict(sorted(reasons.items())),
                    "files": [s.as_dict() for s in summaries],
                }
            ),
            soft_wrap=True,
        )


@quarantine_app.command("list")
@handle_errors
def quarantine_list(
    reason: Annotated[str | None, typer.Option(help="Only this reason code")] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Include replayed and dropped records")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
) -> None:
    """List quarantined records, newest first, with counts per reason."""
    from juncture.signals import service
    from juncture.store.uow import unit_of_work

    db = database()
    with unit_of_work(db, write=False) as session:
        rows, total = service.list_quarantine(
            session, reason=reason, include_resolved=all_, limit=limit
        )
        by_reason = service.quarantine_reasons(session)
        table = Table("id", "first seen", "seen", "source", "type", "reason", "detail", "state")
        for r in rows:
            table.add_row(
                str(r.id),
                r.first_seen.strftime("%Y-%m-%d %H:%M"),
                str(r.seen_count),
                r.source,
                r.signal_type or "",
                r.reason,
                r.detail[:60],
                r.resolved or "open",
            )
    out.print(table)
    err.print(
        f"{total} record(s); open by reason: "
        + ", ".join(f"{k} {v}" for k, v in sorted(by_reason.items()))
    )


@quarantine_app.command("show")
@handle_errors
def quarantine_show(item_id: Annotated[int, typer.Argument(help="Quarantine id")]) -> None:
    """Show one quarantined record with its original payload."""
    from juncture.signals import service
    from juncture.store.uow import unit_of_work

    db = database()
    with unit_of_work(db, write=False) as session:
        r = service.get_quarantined_or_raise(session, item_id=item_id)
        out.print(
            json.dumps(
                {
                    "id": r.id,
                    "reason": r.reason,
                    "detail": r.detail,
                    "source": r.source,
                    "first_seen": r.first_seen.isoformat(),
                    "seen_count": r.seen_count,
                    "state": r.resolved or "open",
                    "payload": json.loads(r.payload)
                    if r.payload.startswith(("{", "["))
                    else r.payload,
                },
                indent=2,
            ),
            soft_wrap=True,
        )


@quarantine_app.command("replay")
@handle_errors
def quarantine_replay(
    ids: Annotated[list[int] | None, typer.Argument(help="Quarantine ids")] = None,
    reason: Annotated[str | None, typer.Option(help="Every open record with this reason")] = None,
) -> None:
    """Ingest quarantined records again, e.g. after registering the missing service."""
    from juncture.signals import service
    from juncture.store.uow import unit_of_work

    db = database()
    with unit_of_work(db) as session:
        result = service.replay(session, settings=settings(), ids=ids, reason=reason)
    err.print(
        f"replayed {result.replayed}: accepted {result.accepted}, duplicates {result.duplicates}, "
        f"still quarantined {result.still_quarantined}"
    )


@quarantine_app.command("drop")
@handle_errors
def quarantine_drop(
    ids: Annotated[list[int] | None, typer.Argument(help="Quarantine ids")] = None,
    reason: Annotated[str | None, typer.Option(help="Every open record with this reason")] = None,
) -> None:
    """Close quarantined records without ingesting them."""
    from juncture.signals import service
    from juncture.store.uow import unit_of_work

    db = database()
    with unit_of_work(db) as session:
        dropped = service.drop(session, ids=ids, reason=reason)
    err.print(f"dropped {dropped} record(s)")


@rollups_app.command("rebuild")
@handle_errors
def rollups_rebuild() -> None:
    """Recompute every rollup (and ticket state) from the raw rows still stored."""
    from juncture.signals import service
    from juncture.store.uow import unit_of_work

    db = database()
    with unit_of_work(db) as session:
        counts = service.rebuild_rollups(session)
        tickets = service.rebuild_tickets(session)
    err.print(
        "rebuilt rollups from "
        + ", ".join(f"{n} {t}" for t, n in counts.items())
        + f"; {tickets} tickets"
    )
