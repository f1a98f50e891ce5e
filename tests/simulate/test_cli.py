"""`juncture simulate` as a command: files, summary, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from juncture.cli.simulate import simulate_command


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("simulate")(simulate_command)

    @app.command("noop")
    def noop() -> None:
        """Keeps Typer in sub-command mode."""

    return app


def test_simulate_writes_files(tmp_path: Path) -> None:
    out = tmp_path / "world"
    result = CliRunner().invoke(
        _app(), ["simulate", "--days", "1", "--seed", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["days"] == 1 and manifest["seed"] == 3
    assert (out / "truth.json").exists()
    assert (out / "funnel.ndjson.gz").stat().st_size > 0


def test_bad_scenario_is_one_line_and_non_zero(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[traffic]\nsessions_per_day = 0\n")
    result = CliRunner().invoke(
        _app(), ["simulate", "--days", "1", "--out", str(tmp_path / "o"), "--scenario", str(bad)]
    )
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "traffic.sessions_per_day" in lines[0]


def test_into_loads_every_record_through_ingest(
    db_url: str, db: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--into goes through the real ingest path: every generated record is accepted."""
    import json

    from sqlalchemy import func, select

    from juncture.signals.ingest import TABLES
    from juncture.store.uow import unit_of_work

    monkeypatch.setenv("JUNCTURE_DATABASE_URL", db_url)
    monkeypatch.setenv("JUNCTURE_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(_app(), ["simulate", "--days", "1", "--into"])
    assert result.exit_code == 0, result.output
    assert "quarantined 0" in result.stderr
    with unit_of_work(db, write=False) as session:  # type: ignore[arg-type]
        stored = sum(
            session.scalar(select(func.count()).select_from(t)) or 0 for t in TABLES.values()
        )
    import re

    match = re.search(r"accepted ([\d,]+)", result.stderr)
    assert match is not None
    accepted = int(match.group(1).replace(",", ""))
    assert stored == accepted > 10_000
    truth = json.loads((tmp_path / "simulation-truth.json").read_text())
    assert truth["days"] == 1
