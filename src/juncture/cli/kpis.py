"""CLI commands of the kpis room: the catalogue, and one KPI over a window (table, JSON or CSV)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal

import typer
from rich.table import Table

from juncture.cli.common import database, handle_errors, out, settings
from juncture.kit.errors import Invalid
from juncture.store.uow import unit_of_work

app = typer.Typer(help="Shared KPIs: the catalogue, values, series, CSV.", no_args_is_help=True)


def _when(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"--{name}: not an ISO timestamp: {value!r}", code="bad_timestamp") from None
    if moment.tzinfo is None:
        raise Invalid(f"--{name} needs a time zone, e.g. 2026-11-01T00:00:00Z", code="naive_time")
    return moment


@app.command("list")
@handle_errors
def list_command() -> None:
    """Every KPI: key, name, unit, good direction, slices."""
    from juncture.kpis.catalogue import KPIS

    table = Table("key", "name", "unit", "good", "slices", "available")
    for k in KPIS:
        table.add_row(
            k.key,
            k.name,
            k.unit,
            "higher" if k.direction == "up" else "lower",
            ", ".join(k.slices),
            "yes" if k.available else f"no: {k.unavailable_reason}",
        )
    out.print(table)


@app.command("show")
@handle_errors
def show_command(
    kpi: Annotated[str, typer.Argument(help="KPI key, e.g. csat, nps, frt_median (see `list`)")],
    start: Annotated[str | None, typer.Option("--from", help="Start, ISO with zone")] = None,
    end: Annotated[str | None, typer.Option("--to", help="End (exclusive), ISO with zone")] = None,
    bucket: Annotated[str, typer.Option(help="hour, day or week")] = "day",
    group_by: Annotated[str | None, typer.Option(help="A slice: region, team, ...")] = None,
    where: Annotated[
        list[str] | None, typer.Option("--where", help="Slice filter NAME=VALUE (repeatable)")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv")] = "table",
) -> None:
    """One KPI over a window (default: the last 7 days): value, comparison and series."""
    from juncture.kpis import api as kpis_api

    if bucket not in ("hour", "day", "week"):
        raise Invalid("--bucket must be hour, day or week", code="bad_bucket")
    if fmt not in ("table", "json", "csv"):
        raise Invalid("--format must be table, json or csv", code="bad_format")
    filters = {}
    for item in where or []:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise Invalid(f"--where wants NAME=VALUE, got {item!r}", code="bad_filter")
        filters[name] = value
    cfg = settings()
    size: Literal["hour", "day", "week"] = bucket  # type: ignore[assignment]
    with unit_of_work(database(), write=False) as session:
        result = kpis_api.read_kpi(
            session,
            kpi=kpi,
            start=_when(start, "from"),
            end=_when(end, "to"),
            bucket=size,
            group_by=group_by,
            filters=filters,
            baseline=False,
            settings=cfg,
        )
    if fmt == "json":
        out.print_json(json.dumps(result.model_dump(mode="json")))
        return
    if fmt == "csv":
        out.print(kpis_api.kpi_csv(result), end="", markup=False)
        return
    v, c = result.value, result.comparison

    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:.4g}"

    out.print(
        f"[bold]{result.kpi.name}[/bold] ({result.kpi.unit}) {result.start:%Y-%m-%d %H:%M} .. "
        f"{result.end:%Y-%m-%d %H:%M} UTC: [bold]{num(v.value)}[/bold] "
        f"[{num(v.low)}, {num(v.high)}] n={v.n}; previous {num(c.previous.value)}, "
        f"delta {num(c.delta)}" + (f", p={c.p_value:.3g}" if c.p_value is not None else "")
    )
    table = Table("group", "bucket", "value", "low", "high", "n")
    for label, points in result.groups.items():
        for p in points:
            table.add_row(
                label, f"{p.bucket:%Y-%m-%d %H:%M}", num(p.value), num(p.low), num(p.high), str(p.n)
            )
    out.print(table)
