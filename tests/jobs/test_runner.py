"""The job runner: each period runs once, failures are recorded, overrides and observers work."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from juncture.jobs.models import JobRun
from juncture.jobs.registry import PeriodicJob, registered_jobs
from juncture.jobs.runner import JobRunner
from juncture.jobs.service import period_start
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work

T0 = datetime(2026, 5, 4, 10, 0, 7, tzinfo=UTC)


def _counting_job(
    name: str, calls: list[str], every: timedelta = timedelta(minutes=5)
) -> PeriodicJob:
    def run(session: Session) -> dict[str, Any]:
        calls.append(name)
        return {"calls": len(calls)}

    return PeriodicJob(name=name, every=every, func=run, description="test job")


def _runs(db: Database) -> list[JobRun]:
    with unit_of_work(db, write=False) as session:
        return list(session.scalars(select(JobRun).order_by(JobRun.id)))


def test_room_jobs_are_discovered() -> None:
    names = {job.name for job in registered_jobs()}
    assert "access.purge_expired" in names


def test_period_start_is_aligned() -> None:
    assert period_start(T0, timedelta(minutes=5)) == datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    assert period_start(T0, timedelta(hours=1)) == datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def test_each_period_runs_once_even_with_two_runners(db: Database) -> None:
    calls: list[str] = []
    job = _counting_job("test.count", calls)
    a = JobRunner(db, jobs=[job])
    b = JobRunner(db, jobs=[job])
    assert a.run_due(now=T0) == {"test.count": "ok"}
    assert b.run_due(now=T0 + timedelta(minutes=1)) == {}  # same period (and, on PG, not leader)
    a.stop()  # releases leadership (PostgreSQL advisory lock)
    assert b.run_due(now=T0 + timedelta(minutes=5)) == {"test.count": "ok"}
    assert b.is_leader
    assert a.run_due(now=T0 + timedelta(minutes=6)) == {}
    a.stop()
    b.stop()
    assert calls == ["test.count", "test.count"]
    runs = _runs(db)
    assert [r.outcome for r in runs] == ["ok", "ok"]
    assert runs[0].result == {"calls": 1}
    assert runs[0].duration_ms is not None
    assert runs[0].finished_at is not None


def test_racing_runners_in_threads_claim_a_period_once(db: Database) -> None:
    calls: list[str] = []
    job = _counting_job("test.race", calls)
    runners = [JobRunner(db, jobs=[job]) for _ in range(4)]
    barrier = threading.Barrier(len(runners))

    def go(runner: JobRunner) -> None:
        barrier.wait()
        runner.run_due(now=T0)

    threads = [threading.Thread(target=go, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for runner in runners:
        runner.stop()
    assert calls == ["test.race"]
    with unit_of_work(db, write=False) as session:
        assert session.scalar(select(func.count()).select_from(JobRun)) == 1


def test_a_failing_job_is_recorded_and_observed(db: Database) -> None:
    def broken(session: Session) -> None:
        raise ValueError("the disk is full")

    seen: list[tuple[str, str]] = []
    runner = JobRunner(
        db,
        jobs=[
            PeriodicJob(name="test.broken", every=timedelta(minutes=1), func=broken, description="")
        ],
        observer=lambda job, outcome, seconds: seen.append((job, outcome)),
    )
    assert runner.run_due(now=T0) == {"test.broken": "error"}
    runner.stop()
    (run,) = _runs(db)
    assert run.outcome == "error"
    assert run.error == "ValueError: the disk is full"
    assert seen == [("test.broken", "error")]


def test_job_work_commits_with_the_run(db: Database) -> None:
    from juncture.access.models import Team

    def create_team(session: Session) -> dict[str, Any]:
        session.add(Team(slug="made-by-job", name="Job"))
        return {}

    runner = JobRunner(db, jobs=[PeriodicJob("test.write", timedelta(minutes=1), create_team, "")])
    runner.run_due(now=T0)
    runner.stop()
    with unit_of_work(db, write=False) as session:
        assert session.scalar(select(Team.name).where(Team.slug == "made-by-job")) == "Job"


def test_period_overrides_apply() -> None:
    job = PeriodicJob("x", timedelta(hours=1), lambda s: None, "")
    runner = JobRunner.__new__(JobRunner)
    JobRunner.__init__(runner, db=_NoDb(), jobs=[job], periods={"x": 30})  # type: ignore[arg-type]
    assert runner.jobs[0].every == timedelta(seconds=30)


class _NoDb:
    dialect = "sqlite"
