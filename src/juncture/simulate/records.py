"""Turning the columnar frames into v1 signal records (dicts) and NDJSON lines."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

SIGNAL_TYPES = ("metric", "funnel", "ticket", "survey", "review", "deploy")
_TICKET_OPTIONAL = (
    "team",
    "agent_id",
    "channel",
    "priority",
    "category",
    "status",
    "text",
    "customer_id",
    "region",
    "segment",
    "service",
)

Record = dict[str, Any]


def _col(frame: pd.DataFrame, name: str) -> list[Any]:
    values = frame[name]
    if isinstance(values.dtype, pd.CategoricalDtype):
        return list(np.asarray(values.cat.categories, dtype=object)[values.cat.codes.to_numpy()])
    items: list[Any] = values.to_numpy(dtype=object).tolist()
    if values.hasnans:
        return [None if isinstance(v, float) and math.isnan(v) else v for v in items]
    return items


def _ts(frame: pd.DataFrame) -> list[str]:
    raw = frame["ts"].to_numpy(dtype="datetime64[ns]").astype("datetime64[s]")
    return [s + "Z" for s in np.datetime_as_string(raw, unit="s").tolist()]


def _metric(f: pd.DataFrame) -> list[Record]:
    return [
        {
            "type": "metric",
            "id": i,
            "ts": ts,
            "service": s,
            "metric": m,
            "value": v,
            "unit": u,
            "labels": {"region": r},
        }
        for i, ts, s, m, v, u, r in zip(
            _col(f, "id"),
            _ts(f),
            _col(f, "service"),
            _col(f, "metric"),
            f["value"].to_numpy().tolist(),
            _col(f, "unit"),
            _col(f, "region"),
            strict=True,
        )
    ]


def _funnel(f: pd.DataFrame) -> list[Record]:
    out: list[Record] = []
    for i, ts, j, st, sid, cid, r, ch, dv, sg, v in zip(
        _col(f, "id"),
        _ts(f),
        _col(f, "journey"),
        _col(f, "step"),
        _col(f, "session_id"),
        _col(f, "customer_id"),
        _col(f, "region"),
        _col(f, "channel"),
        _col(f, "device"),
        _col(f, "segment"),
        f["value"].to_numpy().tolist(),
        strict=True,
    ):
        rec: Record = {
            "type": "funnel",
            "id": i,
            "ts": ts,
            "journey": j,
            "step": st,
            "session_id": sid,
            "customer_id": cid,
            "region": r,
            "channel": ch,
            "device": dv,
            "segment": sg,
        }
        if not math.isnan(v):
            rec["value"] = v
        out.append(rec)
    return out


def _ticket(f: pd.DataFrame) -> list[Record]:
    opt = [_col(f, c) for c in _TICKET_OPTIONAL]
    out: list[Record] = []
    for n, (i, ts, tid, kind, actor) in enumerate(
        zip(
            _col(f, "id"),
            _ts(f),
            _col(f, "ticket_id"),
            _col(f, "kind"),
            _col(f, "actor_kind"),
            strict=True,
        )
    ):
        rec: Record = {
            "type": "ticket",
            "id": i,
            "ts": ts,
            "ticket_id": tid,
            "kind": kind,
            "actor_kind": actor,
        }
        for name, values in zip(_TICKET_OPTIONAL, opt, strict=True):
            v = values[n]
            if v is not None:
                rec[name] = v
        out.append(rec)
    return out


def _survey(f: pd.DataFrame) -> list[Record]:
    out: list[Record] = []
    for i, ts, kind, score, comment, cid, tk, tr, r, ch, sg in zip(
        _col(f, "id"),
        _ts(f),
        _col(f, "kind"),
        f["score"].to_numpy().tolist(),
        _col(f, "comment"),
        _col(f, "customer_id"),
        _col(f, "touchpoint_kind"),
        _col(f, "touchpoint_ref"),
        _col(f, "region"),
        _col(f, "channel"),
        _col(f, "segment"),
        strict=True,
    ):
        rec: Record = {
            "type": "survey",
            "id": i,
            "ts": ts,
            "kind": kind,
            "score": int(score),
            "customer_id": cid,
            "touchpoint": {"kind": tk, "ref": tr},
            "region": r,
            "channel": ch,
            "segment": sg,
        }
        if comment is not None:
            rec["comment"] = comment
        out.append(rec)
    return out


def _review(f: pd.DataFrame) -> list[Record]:
    out: list[Record] = []
    ratings = f["rating"].astype("float64").to_numpy().tolist()
    for i, ts, src, txt, rating, r, author in zip(
        _col(f, "id"),
        _ts(f),
        _col(f, "source"),
        _col(f, "text"),
        ratings,
        _col(f, "region"),
        _col(f, "author_id"),
        strict=True,
    ):
        rec: Record = {
            "type": "review",
            "id": i,
            "ts": ts,
            "source": src,
            "text": txt,
            "region": r,
            "author_id": author,
        }
        if not math.isnan(rating):
            rec["rating"] = int(rating)
        out.append(rec)
    return out


def _deploy(f: pd.DataFrame) -> list[Record]:
    cols = ("id", "service", "version", "actor", "change_id", "region", "status")
    values = [_col(f, c) for c in cols]
    return [
        {"type": "deploy", "ts": ts, **dict(zip(cols, row, strict=True))}
        for ts, row in zip(_ts(f), zip(*values, strict=True), strict=True)
    ]


BUILDERS: dict[str, Callable[[pd.DataFrame], list[Record]]] = {
    "metric": _metric,
    "funnel": _funnel,
    "ticket": _ticket,
    "survey": _survey,
    "review": _review,
    "deploy": _deploy,
}


def records(kind: str, frame: pd.DataFrame) -> list[Record]:
    """Build the v1 records of one signal type from (a slice of) its frame.

    Parameters
    ----------
    kind : str
        Signal type.
    frame : pandas.DataFrame
        Rows of :meth:`World.frames` for that type.

    Returns
    -------
    list of dict
        Records in frame order.
    """
    return BUILDERS[kind](frame)


def iter_batches(
    frames: dict[str, pd.DataFrame], start: datetime, days: int, batch_size: int
) -> Iterator[list[Record]]:
    """Yield records day by day, and within a day type by type, in batches.

    Parameters
    ----------
    frames : dict of str to pandas.DataFrame
        The world's frames (sorted by ``ts``).
    start : datetime
        Start of the period.
    days : int
        Number of days.
    batch_size : int
        Maximum records per batch.

    Yields
    ------
    list of dict
        One type per batch, sorted by time.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    edges = pd.date_range(start, periods=days + 1, freq="D").to_numpy(dtype="datetime64[ns]")
    bounds = {
        kind: np.searchsorted(frames[kind]["ts"].to_numpy(dtype="datetime64[ns]"), edges)
        for kind in SIGNAL_TYPES
    }
    for d in range(days):
        for kind in SIGNAL_TYPES:
            lo, hi = int(bounds[kind][d]), int(bounds[kind][d + 1])
            if d == days - 1:
                hi = len(frames[kind])
            for a in range(lo, hi, batch_size):
                yield BUILDERS[kind](frames[kind].iloc[a : min(hi, a + batch_size)])


def _metric_lines(f: pd.DataFrame) -> str:
    # Slugs and ids never need escaping; floats print as json.dumps prints them (repr).
    template = (
        '{"type":"metric","id":"%s","ts":"%s","service":"%s","metric":"%s","value":%r,'
        '"unit":"%s","labels":{"region":"%s"}}\n'
    )
    return "".join(
        template % row
        for row in zip(
            _col(f, "id"),
            _ts(f),
            _col(f, "service"),
            _col(f, "metric"),
            f["value"].to_numpy().tolist(),
            _col(f, "unit"),
            _col(f, "region"),
            strict=True,
        )
    )


def _funnel_lines(f: pd.DataFrame) -> str:
    head = '{"type":"funnel","id":"%s","ts":"%s","journey":"%s","step":"%s","session_id":"%s",'
    tail = '"customer_id":"%s","region":"%s","channel":"%s","device":"%s","segment":"%s"'
    plain = head + tail + "}\n"
    valued = head + tail + ',"value":%r}\n'
    parts: list[str] = []
    for *row, v in zip(
        _col(f, "id"),
        _ts(f),
        _col(f, "journey"),
        _col(f, "step"),
        _col(f, "session_id"),
        _col(f, "customer_id"),
        _col(f, "region"),
        _col(f, "channel"),
        _col(f, "device"),
        _col(f, "segment"),
        f["value"].to_numpy().tolist(),
        strict=True,
    ):
        parts.append(plain % tuple(row) if math.isnan(v) else valued % (*row, v))
    return "".join(parts)


_FAST_LINES: dict[str, Callable[[pd.DataFrame], str]] = {
    "metric": _metric_lines,
    "funnel": _funnel_lines,
}


def ndjson_lines(kind: str, frame: pd.DataFrame, batch_size: int = 50_000) -> Iterator[str]:
    """Yield NDJSON chunks (several lines, each ending in a newline) for one type.

    Parameters
    ----------
    kind : str
        Signal type.
    frame : pandas.DataFrame
        Its frame.
    batch_size : int
        Rows per chunk.

    Yields
    ------
    str
        Text of up to ``batch_size`` lines.
    """
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    fast = _FAST_LINES.get(kind)
    for a in range(0, len(frame), batch_size):
        chunk = frame.iloc[a : a + batch_size]
        if fast is not None:
            yield fast(chunk)
        else:
            yield "".join(dumps(r) + "\n" for r in BUILDERS[kind](chunk))
