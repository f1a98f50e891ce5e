"""`juncture detect`: run juncture's anomaly detector over a `timestamp,value` CSV file."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import numpy.typing as npt
import pandas as pd
import typer

from juncture.analytics.anomaly import score_series
from juncture.cli.common import handle_errors
from juncture.kit.errors import Invalid

logger = logging.getLogger(__name__)

app = typer.Typer(
    help="Score time series with juncture's streaming anomaly detector.",
    no_args_is_help=True,
)


@app.callback()
def detect() -> None:
    """Score time series with juncture's streaming anomaly detector."""


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
