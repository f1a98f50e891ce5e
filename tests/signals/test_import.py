"""File import: NDJSON, CSV, Parquet (and .gz); resumable after an interruption or kill -9;
concurrent writers on one database."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from juncture.cli import app as cli_app
from juncture.config import Settings
from juncture.kit import clock
from juncture.signals import importer
from juncture.signals.ingest import TABLES
from juncture.signals.models import ImportProgress
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work
from tests.signals.fixtures import BASE, metric, mixed, seed_catalog

NOW = clock.FixedClock(BASE + timedelta(days=1))


@pytest.fixture(autouse=True)
def _frozen_clock() -> Any:
    with clock.use_clock(NOW):
        yield


def write_ndjson(path: Path, records: list[Any], *, bad_lines: int = 0) -> Path:
    with path.open("wb") as handle:
        for record in records:
            handle.write(orjson.dumps(record) + b"\n")
        for i in range(bad_lines):
            handle.write(b'{"type": "metric", broken %d\n' % i)
    return path


def raw_count(db: Database) -> int:
    with unit_of_work(db, write=False) as session:
        return sum(
            session.scalar(select(func.count()).select_from(t)) or 0 for t in TABLES.values()
        )


def test_ndjson_import_accounts_for_every_line(db: Database, tmp_path: Path) -> None:
    seed_catalog(db)
    records = mixed(300, seed=4)
    path = write_ndjson(tmp_path / "events.ndjson", [*records, records[0]], bad_lines=2)
    summary = importer.import_file(db, db.settings, path)
    assert (summary.received, summary.accepted, summary.duplicates, summary.quarantined) == (
        303,
        300,
        1,
        2,
    )
    assert summary.reasons == {"invalid_json": 2}
    assert raw_count(db) == 300
    again = importer.import_file(db, db.settings, path)
    assert again.already_done and again.accepted == 300  # the stored summary, nothing read twice
    fresh = importer.import_file(db, db.settings, path, restart=True)
    assert (fresh.accepted, fresh.duplicates) == (0, 301)


def test_gzip_csv_and_parquet(db: Database, tmp_path: Path) -> None:
    seed_catalog(db)
    gz = tmp_path / "m.ndjson.gz"
    with gzip.open(gz, "wb") as handle:
        for i in range(50):
            handle.write(orjson.dumps(metric(i, 10 + i)) + b"\n")
    assert importer.import_file(db, db.settings, gz).accepted == 50

    csv_path = tmp_path / "m.csv"
    csv_path.write_text(
        "type,ts,service,metric,value,unit,labels.region\n"
        + "".join(
            f"metric,{metric(100 + i, 1)['ts']},web,latency_p95_ms,{i}.5,ms,us\n" for i in range(20)
        )
        + "metric,2026-11-20T09:00:00+00:00,web,latency_p95_ms,-4,ms,us\n"
        + "metric,only,three\n"
    )
    summary = importer.import_file(db, db.settings, csv_path)
    assert (summary.accepted, summary.quarantined) == (20, 2)
    assert summary.reasons == {"bad_csv_row": 1, "out_of_range": 1}

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {"type": "survey", "ts": metric(200 + i, 0)["ts"], "kind": "csat", "score": 1 + i % 5}
        for i in range(40)
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "s.parquet")
    assert importer.import_file(db, db.settings, tmp_path / "s.parquet").accepted == 40
    assert raw_count(db) == 110


def test_an_interrupted_import_resumes_exactly(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_catalog(db)
    monkeypatch.setattr(importer, "BATCH", 37)
    records = mixed(400, seed=5)
    path = write_ndjson(tmp_path / "big.ndjson", records, bad_lines=3)
    calls = {"n": 0}

    def crash_after_three_batches(position: int) -> None:
        calls["n"] += 1
        if calls["n"] == 4:  # 1 call at start, then one per committed batch
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        importer.import_file(db, db.settings, path, on_progress=crash_after_three_batches)
    partial = raw_count(db)
    assert 0 < partial < 400
    summary = importer.import_file(db, db.settings, path)
    assert summary.resumed_from > 0
    assert (summary.received, summary.accepted, summary.duplicates, summary.quarantined) == (
        403,
        400,
        0,
        3,
    )
    assert raw_count(db) == 400


def test_import_cli_json_summary(
    db: Database, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_catalog(db)
    monkeypatch.setenv("JUNCTURE_DATABASE_URL", db_url)
    a = write_ndjson(tmp_path / "a.ndjson", mixed(30, seed=6))
    b = write_ndjson(tmp_path / "b.ndjson", [metric(1, -1)])
    result = CliRunner().invoke(cli_app, ["import", str(a), str(b), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert {k: summary[k] for k in ("received", "accepted", "duplicates", "quarantined")} == {
        "received": 31,
        "accepted": 30,
        "duplicates": 0,
        "quarantined": 1,
    }
    assert summary["reasons"] == {"out_of_range": 1}
    assert [f["accepted"] for f in summary["files"]] == [30, 0]
    missing = CliRunner().invoke(cli_app, ["import", str(tmp_path / "nope.ndjson")])
    assert missing.exit_code == 1
    assert "no such file" in missing.stderr


def _env(db_url: str) -> dict[str, str]:
    return os.environ | {"JUNCTURE_DATABASE_URL": db_url, "JUNCTURE_LOG_JSON": "false"}


def _import_cmd(*paths: Path) -> list[str]:
    # The CLI runs with a fixed clock through this small shim so the fixture dates stay fresh.
    shim = (
        "import sys; from juncture.kit import clock; from datetime import datetime; "
        f"clock.set_default_clock(clock.FixedClock(datetime.fromisoformat('{NOW.now().isoformat()}'))); "
        "from juncture.cli import main; sys.argv = ['juncture', *sys.argv[1:]]; main()"
    )
    return [sys.executable, "-c", shim, "import", "--json", *map(str, paths)]


@pytest.mark.slow
def test_kill_dash_nine_then_rerun_gives_exact_totals(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    seed_catalog(db)
    records = [metric(i / 50, float(i % 997), region=("eu", "us")[i % 2]) for i in range(60_000)]
    path = write_ndjson(tmp_path / "large.ndjson", records)
    proc = subprocess.Popen(
        _import_cmd(path), env=_env(db_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with unit_of_work(db, write=False) as session:
            offset = session.scalar(select(ImportProgress.offset)) or 0
        if offset > 0:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    proc.stderr.close()
    interrupted_at = raw_count(db)
    assert 0 < interrupted_at < 60_000, "the kill should land mid-file"
    # Its worker process notices and removes the batches it had prepared for nobody.
    spools = [Path("/dev/shm"), Path(tempfile.gettempdir())]
    pattern = f"juncture-ingest-{proc.pid}-*"
    deadline = time.monotonic() + 30
    while [p for d in spools for p in d.glob(pattern)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for d in spools for p in d.glob(pattern)], "the orphaned worker left its batches"
    done = subprocess.run(
        _import_cmd(path), env=_env(db_url), capture_output=True, text=True, timeout=600, check=True
    )
    summary = json.loads(done.stdout)
    assert (
        summary["received"],
        summary["accepted"],
        summary["duplicates"],
        summary["quarantined"],
    ) == (60_000, 60_000, 0, 0)
    assert raw_count(db) == 60_000


@pytest.mark.slow
def test_two_imports_and_the_api_write_at_once(
    db: Database, db_url: str, tmp_path: Path, client: Any
) -> None:
    from juncture.access.enums import Role
    from tests.factories import make_token, make_user

    seed_catalog(db)
    token = make_token(db, user_id=make_user(db, role=Role.ops), scopes=["ingest"])
    files = [
        write_ndjson(
            tmp_path / f"part{i}.ndjson",
            [metric(j / 100 + i * 200, float(j), region=("eu", "us")[i]) for j in range(15_000)],
        )
        for i in range(2)
    ]
    procs = [
        subprocess.Popen(
            _import_cmd(f),
            env=_env(db_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f in files
    ]
    api_results: list[dict[str, Any]] = []
    errors: list[str] = []

    def post_batches() -> None:
        for b in range(20):
            body = [metric(400 + b + k / 1000, 1.0, service="web") for k in range(100)]
            r = client.post(
                "/api/v1/signals", json=body, headers={"Authorization": f"Bearer {token}"}
            )
            if r.status_code != 200:
                errors.append(r.text)
            else:
                api_results.append(r.json())

    with clock.use_clock(NOW):
        writer = threading.Thread(target=post_batches)
        writer.start()
        writer.join(300)
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "database is locked" not in err and "deadlock" not in err.lower()
        assert json.loads(out)["accepted"] == 15_000
    assert errors == []
    assert sum(r["accepted"] for r in api_results) == 2000
    assert raw_count(db) == 32_000


_ = Settings
