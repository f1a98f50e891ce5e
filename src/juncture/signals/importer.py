"""Streaming, resumable file import (NDJSON, CSV, Parquet) through the same ingest pipeline.

Constant memory: files are read in batches, never whole. Resumable and exact: each batch's rows
and the file's progress (byte offset or row count, running totals) commit in one transaction,
so a process killed at any point resumes after the last committed batch with nothing lost and
nothing doubled.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from juncture.config import Settings
from juncture.kit.errors import Invalid
from juncture.signals.ingest import IngestResult
from juncture.signals.models import ImportProgress
from juncture.signals.parse import parse_line
from juncture.signals.service import load_batches
from juncture.store.engine import Database
from juncture.store.uow import Actor, unit_of_work

# Records per transaction. Idempotency keys are hashes, so a batch touches pages all over the
# raw tables' key indexes and each commit (and WAL checkpoint) writes them again: fewer, larger
# batches write far less (1M events: 20,000 -> 50,000 took ~23k to ~31k events/s). Measured
# with bench/import_memory.py (both processes and the batches in flight): 377 MB at 2 GB.
BATCH = 50_000
FORMATS = ("ndjson", "csv", "parquet")

Progress = Callable[[int], None]


@dataclass
class FileSummary:
    path: str
    format: str
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    resumed_from: int = 0
    already_done: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "received": self.received,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "reasons": dict(sorted(self.reasons.items())),
            "resumed_from": self.resumed_from,
            "already_done": self.already_done,
        }


def detect_format(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".ndjson", ".jsonl", ".json")):
        return "ndjson"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".parquet"):
        return "parquet"
    raise Invalid(f"{path}: unknown format (use .ndjson/.jsonl, .csv or .parquet, optionally .gz)")


def fingerprint(path: Path) -> str:
    """Identity of a file's content: size, and hashes of its first and last 64 KiB."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(65_536))
        if size > 131_072:
            handle.seek(size - 65_536)
            digest.update(handle.read(65_536))
    return digest.hexdigest()


def _open(path: Path) -> BinaryIO:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


# ---------------------------------------------------------------- readers: (records, position)


def _ndjson_batches(handle: BinaryIO, start: int) -> Iterator[tuple[list[Any], int]]:
    if start:
        handle.seek(start)
    position = start
    batch: list[Any] = []
    for line in handle:
        position += len(line)
        record = parse_line(line)
        if record is not None:
            batch.append(record)
        if len(batch) >= BATCH:
            yield batch, position
            batch = []
    yield batch, position


def _nest(row: dict[str, Any]) -> dict[str, Any]:
    """CSV columns `labels.region` / `touchpoint.kind` become nested objects; '' means absent."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key is None or value is None or value == "":
            continue
        if "." in key:
            outer, inner = key.split(".", 1)
            out.setdefault(outer, {})[inner] = value
        else:
            out[key] = value
    return out


class _CountingLines:
    """Feeds decoded lines to csv.reader while tracking the byte offset consumed."""

    def __init__(self, handle: BinaryIO, start: int) -> None:
        self.handle = handle
        self.position = start
        self.bad = False

    def __iter__(self) -> _CountingLines:
        return self

    def __next__(self) -> str:
        line = self.handle.readline()
        if not line:
            raise StopIteration
        self.position += len(line)
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            self.bad = True
            return line.decode("utf-8", errors="replace")


def _csv_batches(handle: BinaryIO, start: int) -> Iterator[tuple[list[Any], int]]:
    header_line = handle.readline()
    header = next(csv.reader([header_line.decode("utf-8-sig")]))
    lines = _CountingLines(handle, max(start, len(header_line)))
    if start > len(header_line):
        handle.seek(start)
    reader = csv.reader(lines)
    batch: list[Any] = []
    for values in reader:
        if lines.bad:
            batch.append({"_unparsed": ",".join(values)[:10_000], "_reason": "invalid_encoding"})
            lines.bad = False
        elif len(values) != len(header):
            batch.append({"_unparsed": ",".join(values)[:10_000], "_reason": "bad_csv_row"})
        else:
            batch.append(_nest(dict(zip(header, values, strict=True))))
        if len(batch) >= BATCH:
            yield batch, lines.position
            batch = []
    yield batch, lines.position


def _parquet_batches(path: Path, start: int) -> Iterator[tuple[list[Any], int]]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    position = 0
    for record_batch in parquet.iter_batches(batch_size=BATCH):
        rows = record_batch.num_rows
        if position + rows <= start:
            position += rows
            continue
        records = record_batch.to_pylist()
        skip = max(0, start - position)
        position += rows
        yield (
            [
                _nest(r)
                if any("." in k for k in r)
                else {k: v for k, v in r.items() if v is not None}
                for r in records[skip:]
            ],
            position,
        )
    yield [], position


# ---------------------------------------------------------------- import


def import_file(
    db: Database,
    settings: Settings,
    path: Path,
    *,
    actor: Actor | None = None,
    restart: bool = False,
    on_progress: Progress | None = None,
    parallel: bool | None = None,
) -> FileSummary:
    """Import one file; resumes after the last committed batch of an earlier, interrupted run.

    The file is read and validated in a worker process while this one stores the batches
    (``signals.pipeline``; ``parallel=False`` does both here).
    """
    if not path.is_file():
        raise Invalid(f"{path}: no such file")
    fmt = detect_format(path)
    fp = fingerprint(path)
    summary = FileSummary(path=str(path), format=fmt)
    with unit_of_work(db, actor=actor) as session:
        progress = session.scalars(
            select(ImportProgress).where(ImportProgress.fingerprint == fp)
        ).one_or_none()
        if progress is not None and restart:
            progress.offset = progress.received = progress.accepted = 0
            progress.duplicates = progress.quarantined = 0
            progress.reasons = {}
            progress.done = False
        if progress is None:
            progress = ImportProgress(fingerprint=fp, path=str(path.resolve()), reasons={})
            session.add(progress)
            session.flush()
        progress_id = progress.id
        start = progress.offset
        summary.received, summary.accepted = progress.received, progress.accepted
        summary.duplicates, summary.quarantined = progress.duplicates, progress.quarantined
        summary.reasons = dict(progress.reasons or {})
        summary.resumed_from = start
        if progress.done:
            summary.already_done = True
            return summary
    if on_progress is not None:
        on_progress(start)

    def batches() -> Iterator[tuple[list[Any], int]]:
        # Runs in the pipeline's worker process: it opens the file itself.
        if fmt == "parquet":
            yield from _parquet_batches(path, start)
            return
        with _open(path) as handle:
            yield from (_ndjson_batches if fmt == "ndjson" else _csv_batches)(handle, start)

    def record_progress(session: Session, result: IngestResult, position: int) -> None:
        _merge(summary, result)
        row = session.get(ImportProgress, progress_id)
        assert row is not None
        row.offset = position
        row.received, row.accepted = summary.received, summary.accepted
        row.duplicates, row.quarantined = summary.duplicates, summary.quarantined
        row.reasons = dict(summary.reasons)

    def report(_result: IngestResult, position: int) -> None:
        if on_progress is not None:
            on_progress(position)

    # The file is read and validated in a worker process while this one writes; the batch and
    # the file's progress commit together.
    load_batches(
        db,
        batches,
        settings=settings,
        source=f"import:{path.name}"[:200],
        actor=actor,
        parallel=parallel,
        within=record_progress,
        after=report,
    )
    with unit_of_work(db, actor=actor) as session:
        row = session.get(ImportProgress, progress_id)
        assert row is not None
        row.done = True
    return summary


def _merge(summary: FileSummary, result: IngestResult) -> None:
    summary.received += result.received
    summary.accepted += result.accepted
    summary.duplicates += result.duplicates
    summary.quarantined += result.quarantined
    for reason, n in result.reasons.items():
        summary.reasons[reason] = summary.reasons.get(reason, 0) + n


def file_size(path: Path) -> int:
    """Total for the progress bar: bytes of NDJSON/CSV files, rows of Parquet files."""
    if detect_format(path) == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    return os.path.getsize(path) if not path.name.endswith(".gz") else 0
