"""Resident memory of `juncture import` on a large NDJSON file (default 2 GB).

Writes the file (not timed), then runs `juncture import` in a child process and samples, every
0.2 s, the memory of the import: the resident set (RSS) of the process and of the worker it
forks to read and validate (``signals.pipeline``), and the batches in flight between them
(files in ``/dev/shm``, which live in memory). The two processes share the pages the fork
left untouched, so their proportional set sizes (PSS, shared pages split between them) are
added rather than their RSS; the sum of RSS, which counts shared pages twice, is printed as
well. Reference in the same run: the RSS of a child that only imports juncture and opens the
database (the floor any import starts from).
Usage: python bench/import_memory.py [GIGABYTES]   (default 2)
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from bench._data import records, seed_catalog

from juncture.config import Settings
from juncture.store import migrate
from juncture.store.engine import Database

CLOCK_SHIM = (
    "import sys; from juncture.kit import clock; from datetime import datetime; "
    "clock.set_default_clock(clock.FixedClock(datetime.fromisoformat('2026-11-01T00:00:00+00:00'))); "
)


def _kib(path: str, field: str) -> int:
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(field):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0
    return 0


def tree(pid: int) -> list[int]:
    """The process and its descendants."""
    found = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            children = [int(c) for c in handle.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        children = []
    for child in children:
        found.extend(tree(child))
    return found


def spool_mb(pids: list[int]) -> float:
    """Bytes of batches in flight: the pipeline's files under /dev/shm."""
    total = 0
    base = "/dev/shm"
    if not os.path.isdir(base):
        return 0.0
    for name in os.listdir(base):
        if any(name.startswith(f"juncture-ingest-{pid}-") for pid in pids):
            for root, _dirs, files in os.walk(os.path.join(base, name)):
                for f in files:
                    with contextlib.suppress(FileNotFoundError):
                        total += os.path.getsize(os.path.join(root, f))
    return total / 1024**2


def watch(cmd: list[str], env: dict[str, str]) -> tuple[dict[str, float], float, int]:
    """Peaks (MB) of: RSS of the process alone; PSS of its tree + spool; RSS of its tree + spool."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    peak = {"rss": 0.0, "pss_total": 0.0, "rss_total": 0.0, "spool": 0.0, "pss": 0.0, "pss_w": 0.0}
    while proc.poll() is None:
        pids = tree(proc.pid)
        spool = spool_mb(pids)
        rss = [_kib(f"/proc/{p}/status", "VmRSS:") / 1024 for p in pids]
        pss = [_kib(f"/proc/{p}/smaps_rollup", "Pss:") / 1024 for p in pids]
        peak["rss"] = max(peak["rss"], rss[0])
        peak["pss_total"] = max(peak["pss_total"], sum(pss) + spool)
        peak["rss_total"] = max(peak["rss_total"], sum(rss) + spool)
        peak["spool"] = max(peak["spool"], spool)
        peak["pss"] = max(peak["pss"], pss[0])
        peak["pss_w"] = max(peak["pss_w"], sum(pss[1:]))
        time.sleep(0.2)
    assert proc.returncode == 0, proc.returncode
    out = proc.stdout.read() if proc.stdout else b""
    accepted = orjson.loads(out)["accepted"] if out.strip().startswith(b"{") else 0
    return peak, time.perf_counter() - started, accepted


def main(gigabytes: float) -> None:
    work = Path(tempfile.mkdtemp(prefix="juncture-mem-"))
    path = work / "big.ndjson"
    target = int(gigabytes * 1024**3)
    written = 0
    n = 0
    with path.open("wb") as handle:
        seed = 0
        while written < target:
            for record in records(200_000, seed=seed, days=60):
                line = orjson.dumps(record | {"id": f"{seed}-{n}"}) + b"\n"
                handle.write(line)
                written += len(line)
                n += 1
                if written >= target:
                    break
            seed += 1
    url = f"sqlite:///{work}/mem.db"
    db = Database(Settings(database_url=url))
    migrate.upgrade(db)
    seed_catalog(db)
    db.dispose()
    env = os.environ | {"JUNCTURE_DATABASE_URL": url}
    floor, _, _ = watch(
        [
            sys.executable,
            "-c",
            CLOCK_SHIM + "from juncture.cli import main; "
            "sys.argv = ['juncture', 'db', 'current']; main()",
        ],
        env,
    )
    peak, seconds, accepted = watch(
        [
            sys.executable,
            "-c",
            CLOCK_SHIM + "from juncture.cli import main; "
            f"sys.argv = ['juncture', 'import', '--json', '{path}']; main()",
        ],
        env,
    )
    print(
        f"import of a {written / 1024**3:.2f} GB NDJSON file ({n:,} records, {accepted:,} accepted, "
        f"{seconds:.0f} s): peak memory {peak['pss_total']:.0f} MB, the two processes' PSS and "
        f"the batches in flight (target < 500 MB; sum of RSS {peak['rss_total']:.0f} MB, the "
        f"writer's RSS alone {peak['rss']:.0f} MB; peak PSS of the writer {peak['pss']:.0f} MB, of the "
        f"worker {peak['pss_w']:.0f} MB, batches in flight {peak['spool']:.0f} MB); "
        f"juncture started with the database open: {floor['rss']:.0f} MB"
    )
    path.unlink()


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0)
