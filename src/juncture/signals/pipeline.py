"""Bulk loads on two cores: a worker process reads and validates batches while this one writes.

Reading records (parsing a file, or turning the simulator's frames into records) and
validating them is about half of a bulk load's time and needs no database. ``prepared_batches``
runs that half in a forked worker process, which sends each batch's :class:`Prepared` form
over a bounded queue; the caller stores the batches in order, each in its own transaction,
exactly as it would have stored ``Ingestor.ingest``'s. The accounting is the same code on
both sides (``ingest.prepare`` in the worker, ``Ingestor.store`` here), so received =
accepted + duplicates + quarantined still holds per batch.

The worker only runs pure code (no database, no logging set-up of its own) and exits if its
parent dies; without ``fork`` (or on one core) the same batches are prepared in-process.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import queue as queue_module
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from juncture.kit import clock
from juncture.signals.ingest import IngestConfig, Prepared, _gc_paused, prepare, rules_for
from juncture.signals.redact import Redactor
from juncture.signals.validate import Catalog

# Yields (records, meta) per batch; meta (an offset, a count) is handed back with the batch.
BatchSource = Callable[[], Iterator[tuple[Sequence[Any], Any]]]

# Batches in flight. The writer is the slower half, so a short queue keeps it busy; every
# batch in flight is memory (a 50,000-record batch pickles to ~6 MB in /dev/shm).
_DEPTH = 3
_POLL_SECONDS = 1.0


class PipelineError(RuntimeError):
    """The worker process failed; the message carries its traceback."""


@dataclass(frozen=True)
class _Validation:
    config: IngestConfig
    catalog: Catalog
    clock_offset_ms: int  # the active clock minus the wall clock, when the pipeline started


def parallel_available() -> bool:
    """Whether a worker process can be forked and there is a second core for it."""
    return "fork" in multiprocessing.get_all_start_methods() and (os.cpu_count() or 1) > 1


def _prepare(records: Sequence[Any], validation: _Validation, redactor: Redactor) -> Prepared:
    now_ms = clock.to_ms(clock.SystemClock().now()) + validation.clock_offset_ms
    return prepare(
        records,
        rules=rules_for(validation.config, now_ms=now_ms),
        catalog=validation.catalog,
        redactor=redactor,
    )


_SPOOL_PREFIX = "juncture-ingest-"


def _spool_dir() -> str:
    """A private directory for batches in flight, in memory (``/dev/shm``) where there is one.

    Named after this process; directories left by processes that no longer exist (killed
    with their worker) are removed first.
    """
    shm = "/dev/shm"  # noqa: S108 - a private mkdtemp below it, removed afterwards
    base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else tempfile.gettempdir()
    for name in os.listdir(base):
        if name.startswith(_SPOOL_PREFIX):
            owner = name[len(_SPOOL_PREFIX) :].split("-", 1)[0]
            if owner.isdigit() and not _alive(int(owner)):
                shutil.rmtree(os.path.join(base, name), ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{_SPOOL_PREFIX}{os.getpid()}-", dir=base)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _orphaned(spool: str) -> None:
    """The writer is gone (killed): nobody will read what is left, so stop and clean up."""
    shutil.rmtree(spool, ignore_errors=True)
    os._exit(1)


def _put(out: Any, item: tuple[str, Any, Any], parent: int, spool: str) -> None:
    while True:
        try:
            out.put(item, timeout=_POLL_SECONDS)
            return
        except queue_module.Full:
            if os.getppid() != parent:
                _orphaned(spool)


def _work(source: BatchSource, validation: _Validation, out: Any, spool: str, parent: int) -> None:
    # Records, rows and their pickles form no reference cycles; the collector's passes over
    # hundreds of thousands of them would cost this short-lived process a fifth of its time.
    gc.disable()
    try:
        redactor = Redactor(validation.config.redact_patterns)
        for n, (records, meta) in enumerate(source()):
            if os.getppid() != parent:
                _orphaned(spool)
            # Through a file rather than the queue's pipe: the queue's feeder thread would
            # write the batch 64 KiB at a time, each write waiting for this thread to let go
            # of the interpreter lock, and the writer would wait for that.
            path = os.path.join(spool, f"{n}.pickle")
            with open(path, "wb") as handle:
                pickle.dump(
                    _prepare(records, validation, redactor), handle, pickle.HIGHEST_PROTOCOL
                )
            # Let go of this batch's records before the source reads the next one: otherwise
            # two batches of parsed records are alive at once.
            del records
            _put(out, ("batch", path, meta), parent, spool)
        _put(out, ("done", None, None), parent, spool)
        # Stay until the writer has taken every batch and removed the directory: if it dies
        # first, clean up after it.
        while os.path.isdir(spool):
            if os.getppid() != parent:
                _orphaned(spool)
            time.sleep(_POLL_SECONDS / 20)
    except BaseException:
        _put(out, ("error", traceback.format_exc(), None), parent, spool)


def prepared_batches(
    source: BatchSource,
    *,
    config: IngestConfig,
    catalog: Catalog,
    parallel: bool | None = None,
) -> Iterator[tuple[Prepared, Any]]:
    """Yield (prepared batch, meta) for each batch of ``source``, in order.

    Parameters
    ----------
    source : callable
        Returns an iterator of (records, meta). With ``parallel`` it runs in the worker
        process (forked, so it may be a closure), and must not use the caller's database
        connections or open files (open its own).
    config : IngestConfig
        Validation settings.
    catalog : Catalog
        The catalog to validate against (batches carry unknown ids as ``None`` when the
        configuration auto-registers; ``Ingestor.store`` resolves them).
    parallel : bool, optional
        Use a worker process [default: when :func:`parallel_available`].
    """
    offset = clock.to_ms(clock.now()) - clock.to_ms(clock.SystemClock().now())
    validation = _Validation(config=config, catalog=catalog, clock_offset_ms=offset)
    if parallel is None:
        parallel = parallel_available()
    if not parallel:
        redactor = Redactor(config.redact_patterns)
        for records, meta in source():
            with _gc_paused():
                prepared = _prepare(records, validation, redactor)
            yield prepared, meta
        return
    context = multiprocessing.get_context("fork")
    out = context.Queue(maxsize=_DEPTH)
    spool = _spool_dir()
    worker = context.Process(
        target=_work,
        args=(source, validation, out, spool, os.getpid()),
        name="juncture-ingest-worker",
        daemon=True,
    )
    worker.start()
    try:
        while True:
            try:
                kind, payload, meta = out.get(timeout=_POLL_SECONDS)
            except queue_module.Empty:
                if not worker.is_alive():
                    raise PipelineError(
                        f"the ingest worker stopped (exit code {worker.exitcode})"
                    ) from None
                continue
            if kind == "done":
                break
            if kind == "error":
                raise PipelineError(f"the ingest worker failed:\n{payload}")
            with open(payload, "rb") as handle, _gc_paused():  # as many containers as rows
                prepared = pickle.load(handle)  # noqa: S301 - our worker's, in a 0700 directory
            os.unlink(payload)
            yield prepared, meta
        shutil.rmtree(spool, ignore_errors=True)
        worker.join()
    finally:
        if worker.is_alive():
            worker.terminate()
            worker.join()
        out.close()
        shutil.rmtree(spool, ignore_errors=True)
