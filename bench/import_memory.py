"""Resident memory of `juncture import` on a large NDJSON file (default 2 GB).

Writes the file (not timed), then runs `juncture import` in a child process and samples its
resident set size (RSS) from /proc every 0.2 s. Reference in the same run: the RSS of a child
that only imports juncture and opens the database (the floor any import starts from).
Usage: python bench/import_memory.py [GIGABYTES]   (default 2)
"""

from __future__ import annotations

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


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        return 0.0
    return 0.0


def watch(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, rss_mb(proc.pid))
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
        f"{seconds:.0f} s): peak RSS {peak:.0f} MB (target < 500 MB); "
        f"juncture started with the database open: {floor:.0f} MB"
    )
    path.unlink()


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0)
