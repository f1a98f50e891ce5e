"""Two real `juncture serve` replicas on one database run each job period exactly once.

On PostgreSQL one replica holds the leader advisory lock and does all runs; killing it hands
leadership to the other. On SQLite the (job, period) claim alone keeps runs unique.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import BinaryIO

import httpx2 as httpx
import pytest
from sqlalchemy import select

from juncture.jobs.models import JobRun
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_replica(db_url: str, port: int, log: BinaryIO) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "JUNCTURE_DATABASE_URL": db_url,
        "JUNCTURE_PORT": str(port),
        "JUNCTURE_JOB_TICK_SECONDS": "0.2",
        "JUNCTURE_JOB_PERIODS": '{"access.purge_expired": 1}',
    }
    return subprocess.Popen(
        [sys.executable, "-m", "juncture", "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"replica on {port} exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"replica on {port} not ready in {timeout}s")


def runs(db: Database) -> list[JobRun]:
    with unit_of_work(db, write=False) as session:
        return list(session.scalars(select(JobRun).where(JobRun.job == "access.purge_expired")))


@pytest.mark.slow
def test_two_replicas_run_each_period_once(db: Database, db_url: str, tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    logs = [(tmp_path / f"replica{i}.log").open("wb") for i in range(2)]
    procs = [start_replica(db_url, p, log) for p, log in zip(ports, logs, strict=True)]
    try:
        for port, proc in zip(ports, procs, strict=True):
            wait_ready(port, proc)
        time.sleep(4)
        first = runs(db)
        periods = Counter(r.period_start for r in first)
        assert len(periods) >= 3, periods
        assert max(periods.values()) == 1, f"a period ran twice: {periods}"
        assert all(r.outcome == "ok" for r in first if r.finished_at)
        instances = {r.instance for r in first}
        if db.dialect == "postgresql":
            assert len(instances) == 1, f"more than one leader: {instances}"
            leader = next(iter(instances))
            leader_pid = int(leader.rsplit(":", 1)[1])
            victim = next(p for p in procs if p.pid == leader_pid)
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            time.sleep(4)
            after = [r for r in runs(db) if r.id not in {f.id for f in first}]
            assert after, "nobody took over the jobs after the leader died"
            assert {
                r.instance for r in after if r.started_at > max(f.started_at for f in first)
            } - {leader}
        all_runs = runs(db)
        assert max(Counter(r.period_start for r in all_runs).values()) == 1
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()
