"""`juncture detect score`: CSV in, scores out, and one clear line for bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from juncture.analytics.anomaly import score_series
from juncture.cli.detect import app

runner = CliRunner()


def _write_series(path: Path, n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    ts = pd.date_range("2026-03-01", periods=n, freq="5min")
    values = 50 + 10 * np.sin(np.arange(n) * 2 * np.pi / 288) + rng.normal(0, 1, n)
    if n > 450:
        values[450] += 40
    frame = pd.DataFrame({"timestamp": ts.strftime("%Y-%m-%d %H:%M:%S"), "value": values})
    frame.to_csv(path, index=False)
    return frame


def test_scores_to_stdout_match_the_library(tmp_path: Path) -> None:
    frame = _write_series(tmp_path / "series.csv")
    result = runner.invoke(app, ["score", str(tmp_path / "series.csv")])
    assert result.exit_code == 0, result.output
    out = pd.read_csv(io.StringIO(result.stdout))
    assert list(out.columns) == ["timestamp", "value", "anomaly_score"]
    assert list(out["timestamp"]) == list(frame["timestamp"])
    expected = score_series(
        frame["value"].to_numpy(), pd.to_datetime(frame["timestamp"]).to_numpy()
    ).score
    np.testing.assert_allclose(out["anomaly_score"], expected, atol=1e-6)
    assert int(out["anomaly_score"].idxmax()) == 450


def test_writes_out_file(tmp_path: Path) -> None:
    _write_series(tmp_path / "series.csv", n=50)
    target = tmp_path / "scores.csv"
    result = runner.invoke(app, ["score", str(tmp_path / "series.csv"), "--out", str(target)])
    assert result.exit_code == 0, result.output
    out = pd.read_csv(target)
    assert len(out) == 50
    assert out["anomaly_score"].between(0, 1).all()


def test_empty_values_are_missing(tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("timestamp,value\n2026-01-01 00:00,1\n2026-01-01 00:05,\n2026-01-01 00:10,2\n")
    result = runner.invoke(app, ["score", str(path)])
    assert result.exit_code == 0, result.output
    out = pd.read_csv(io.StringIO(result.stdout))
    assert out["anomaly_score"].tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("time,value\n2026-01-01,1\n", "missing column(s) timestamp"),
        ("timestamp,v\n2026-01-01,1\n", "missing column(s) value"),
        ("timestamp,value\n2026-01-01,1\n2026-01-02,abc\n", "row 3: value 'abc' is not a number"),
        ("timestamp,value\nyesterday,1\n", "row 2: timestamp 'yesterday' cannot be parsed"),
        ("timestamp,value\n2026-01-02,1\n2026-01-01,2\n", "increasing order"),
    ],
)
def test_bad_input_gives_one_line_and_non_zero_exit(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    result = runner.invoke(app, ["score", str(path)])
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["score", str(tmp_path / "nope.csv")])
    assert result.exit_code == 1
    assert "no such file" in result.stderr
