"""`juncture detect`: score a `timestamp,value` CSV file with the anomaly detector, and
replay the alert rules over stored history (`catch-up`)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import numpy.typing as npt
import typer

from juncture.cli.common import database, handle_errors, out, settings
from juncture.kit.errors import Invalid

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

app = typer.Typer(
    help="Score time series with the anomaly detector; replay alert rules over history.",
    no_args_is_help=True,
)


@app.callback()
def detect() -> None:
    """Score time series with the anomaly detector; replay alert rules over history."""


class SeriesError(Invalid):
    """The input file is not a usable `timestamp,value` series."""

    code = "invalid_series"


def read_series(
    path: Path,
) -> tuple[pd.Series[str], npt.NDArray[np.datetime64], npt.NDArray[np.float64]]:
    """Read and check a `timestamp,value` CSV file.

    Parameters
    ----------
    path : Path
        The CSV file; other columns are ignored, empty values are missing.

    Returns
    -------
    raw_timestamps : pandas.Series
        Timestamps as written in the file (echoed in the output).
    timestamps : ndarray of datetime64[ns]
        Parsed timestamps, converted to UTC when they carry an offset.
    values : ndarray of float64
        Values, NaN where empty.

    Raises
    ------
    SeriesError
        If the file cannot be read, a column is missing, or a value or timestamp cannot
        be parsed.
    """
    # pandas and the detector (scipy) load here, not with the CLI: every other command, and
    # `juncture import`'s two processes, would carry them in memory for nothing.
    import pandas as pd

    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError as exc:
        msg = f"{path}: no such file"
        raise SeriesError(msg) from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        msg = f"{path}: not a readable CSV file ({str(exc).splitlines()[0]})"
        raise SeriesError(msg) from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in ("timestamp", "value") if c not in frame.columns]
    if missing:
        found = ", ".join(frame.columns) or "none"
        msg = f"{path}: missing column(s) {', '.join(missing)} (found: {found})"
        raise SeriesError(msg)
    text = frame["value"].str.strip()
    values = pd.to_numeric(text.where(text != ""), errors="coerce")
    bad = values.isna() & (text != "") & ~text.str.lower().isin(["nan", "na", "null"])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        msg = f"{path}: row {row + 2}: value {text.iloc[row]!r} is not a number"
        raise SeriesError(msg)
    raw_ts = frame["timestamp"].str.strip()
    parsed = pd.to_datetime(raw_ts, errors="coerce", utc=True, format="mixed")
    if parsed.isna().any():
        row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        msg = f"{path}: row {row + 2}: timestamp {raw_ts.iloc[row]!r} cannot be parsed"
        raise SeriesError(msg)
    ts = parsed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    if ts.size > 1 and np.any(np.diff(ts) < np.timedelta64(0, "ns")):
        row = int(np.flatnonzero(np.diff(ts) < np.timedelta64(0, "ns"))[0]) + 1
        msg = f"{path}: row {row + 2}: timestamps must be in increasing order"
        raise SeriesError(msg)
    return raw_ts, ts, values.to_numpy(dtype=np.float64)


@app.command()
@handle_errors
def score(
    series: Annotated[Path, typer.Argument(help="CSV file with `timestamp` and `value` columns.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write `timestamp,value,anomaly_score` here."),
    ] = None,
) -> None:
    """Score every point of SERIES.csv from past data only; writes to stdout without --out."""
    import pandas as pd

    from juncture.analytics.anomaly import score_series

    raw_ts, ts, values = read_series(series)
    result = score_series(values, ts)
    table = pd.DataFrame(
        {"timestamp": raw_ts, "value": values, "anomaly_score": np.round(result.score, 6)}
    )
    if out is None:
        table.to_csv(sys.stdout, index=False, lineterminator="\n")
    else:
        table.to_csv(out, index=False, lineterminator="\n")
        n_alerts = int((result.score >= 0.5).sum())
        logger.info("scored %d points of %s into %s (%d >= 0.5)", len(table), series, out, n_alerts)


def _moment(value: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(
            f"--{name}: not an ISO date or time: {value!r}", code="bad_timestamp"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command("catch-up")
@handle_errors
def catch_up(
    start: Annotated[str, typer.Option("--from", help="Start, ISO date or time (UTC if naive).")],
    end: Annotated[str, typer.Option("--to", help="End (exclusive), ISO date or time.")],
    step_minutes: Annotated[
        int, typer.Option("--step", min=1, max=24 * 60, help="Minutes between evaluations.")
    ] = 5,
) -> None:
    """Evaluate the enabled alert rules over stored history, as if the engine had run then.

    Alerts open, join and resolve at the times they would have, with their history; nobody
    is notified. Each day commits on its own, so an interrupted run keeps the days done.
    """
    from juncture.detect.evaluate import catch_up as run_catch_up
    from juncture.store.uow import unit_of_work

    first, last = _moment(start, "from"), _moment(end, "to")
    if last <= first:
        raise Invalid("--to must be after --from", code="bad_window")
    cfg = settings()
    db = database()
    step = timedelta(minutes=step_minutes)
    totals: dict[str, int] = {"ticks": 0, "opened": 0, "reopened": 0, "resolved": 0}
    errors: list[str] = []
    at = first
    while at < last:
        chunk_end = min(at + timedelta(days=1), last)
        with unit_of_work(db) as session:
            result = run_catch_up(session, start=at, end=chunk_end, step=step, settings=cfg)
        for key in totals:
            totals[key] += int(result[key])
        errors.extend(e for e in result["errors"] if e not in errors)
        logger.info("caught up to %s: %s", chunk_end.isoformat(), totals)
        # Keep the step grid across chunks.
        at += ((chunk_end - at + step - timedelta(microseconds=1)) // step) * step
    out.print_json(json.dumps({**totals, "errors": errors[:20]}))
