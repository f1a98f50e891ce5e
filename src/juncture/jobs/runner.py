"""Runs due periodic jobs in-process; one leader across replicas, each period at most once.

Two guards work together. On PostgreSQL the runner that holds a session-level advisory lock is
the leader and the others stay idle (if the leader dies its connection closes and another takes
over). Underneath, every run first claims its (job, period) row under a unique key, so even two
leaders, or two processes on one SQLite file, can never run the same period twice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from juncture.jobs.models import JobRun
from juncture.jobs.registry import PeriodicJob, registered_jobs
from juncture.jobs.service import period_start
from juncture.kit import clock
from juncture.store.engine import Database
from juncture.store.uow import SYSTEM, unit_of_work

logger = logging.getLogger(__name__)

# Arbitrary, fixed 64-bit key for pg_try_advisory_lock: "juncture jobs leader".
LEADER_LOCK_KEY = 0x6A756E63_6A6F6273 & 0x7FFFFFFFFFFFFFFF

RunObserver = Callable[[str, str, float], None]


class JobRunner:
    """Checks for due jobs every ``tick`` seconds in a background thread."""

    def __init__(
        self,
        db: Database,
        *,
        tick_seconds: float = 5.0,
        observer: RunObserver | None = None,
        jobs: list[PeriodicJob] | None = None,
        periods: dict[str, float] | None = None,
    ) -> None:
        self.db = db
        self.tick_seconds = tick_seconds
        self.observer = observer
        self.jobs = [
            replace(job, every=timedelta(seconds=periods[job.name]))
            if periods and job.name in periods
            else job
            for job in (jobs if jobs is not None else registered_jobs())
        ]
        self.instance = f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._leader_conn: Connection | None = None
        self._local_lock = threading.Lock()

    # ------------------------------------------------------------ leadership

    @property
    def is_leader(self) -> bool:
        return self._leader_conn is not None or self.db.dialect != "postgresql"

    def _try_lead(self) -> bool:
        if self.db.dialect != "postgresql":
            return True
        if self._leader_conn is not None:
            try:
                self._leader_conn.execute(text("SELECT 1"))
                return True
            except OperationalError:
                logger.warning("lost the job-leader connection; standing for election again")
                self._release()
        conn = self.db.engine.connect()
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK_KEY}).scalar()
        conn.commit()
        if got:
            self._leader_conn = conn
            logger.info("became job leader", extra={"instance": self.instance})
            return True
        conn.close()
        return False

    def _release(self) -> None:
        if self._leader_conn is not None:
            try:
                self._leader_conn.execute(
                    text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_LOCK_KEY}
                )
                self._leader_conn.commit()
                self._leader_conn.close()
            except Exception:  # the connection may already be gone; nothing to release then
                logger.debug("leader connection already closed", exc_info=True)
            self._leader_conn = None

    # ------------------------------------------------------------ running

    def _claim(self, job: PeriodicJob, start: datetime) -> int | None:
        """Insert the run row for this period; None when another runner already has it."""
        try:
            with unit_of_work(self.db, actor=SYSTEM) as session:
                exists = session.scalar(
                    select(JobRun.id).where(JobRun.job == job.name, JobRun.period_start == start)
                )
                if exists is not None:
                    return None
                run = JobRun(
                    job=job.name,
                    period_start=start,
                    started_at=clock.now(),
                    instance=self.instance,
                )
                session.add(run)
                session.flush()
                return run.id
        except IntegrityError:
            return None

    def run_job(self, job: PeriodicJob, *, now: datetime | None = None) -> str | None:
        """Run ``job`` for the period containing ``now`` unless that period already ran."""
        start = period_start(now or clock.now(), job.every)
        run_id = self._claim(job, start)
        if run_id is None:
            return None
        began = time.perf_counter()
        outcome, error, result = "ok", None, None
        try:
            with unit_of_work(self.db, actor=SYSTEM) as session:
                result = job.func(session)
        except Exception as exc:  # a failing job is recorded, never allowed to kill the runner
            outcome = "error"
            error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            logger.exception("job failed", extra={"job": job.name})
        duration_ms = (time.perf_counter() - began) * 1000
        with unit_of_work(self.db, actor=SYSTEM) as session:
            session.execute(
                update(JobRun)
                .where(JobRun.id == run_id)
                .values(
                    finished_at=clock.now(),
                    duration_ms=duration_ms,
                    outcome=outcome,
                    error=error,
                    result=_jsonable(result),
                )
            )
        if self.observer is not None:
            self.observer(job.name, outcome, duration_ms / 1000)
        logger.info(
            "job run",
            extra={"job": job.name, "outcome": outcome, "duration_ms": round(duration_ms, 1)},
        )
        return outcome

    def run_due(self, *, now: datetime | None = None) -> dict[str, str]:
        """One tick: if leader, run every job whose current period has not run yet."""
        ran: dict[str, str] = {}
        with self._local_lock:
            if not self._try_lead():
                return ran
            for job in self.jobs:
                outcome = self.run_job(job, now=now)
                if outcome is not None:
                    ran[job.name] = outcome
        return ran

    # ------------------------------------------------------------ thread

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_due()
            except Exception:  # database briefly unreachable etc.; try again next tick
                logger.exception("job runner tick failed")
            self._stop.wait(self.tick_seconds)
        self._release()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="juncture-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        else:
            self._release()


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, dict):
        return value
    return {"result": str(value)}
