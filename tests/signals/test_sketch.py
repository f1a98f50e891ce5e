"""The stored sketch form: base64 int32 (bin, count) pairs, bulk decoding, merging, migration."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import orjson
import pytest

from juncture.signals import sketch
from juncture.signals.service import _bucket_quantiles

QS = (0.5, 0.95, 0.99)
MIGRATION = (
    Path(__file__).resolve().parents[2]
    / "src/juncture/migrations/versions/2026-12-01-2215_sketch_pairs.py"
)


def _values(rng: np.random.Generator) -> np.ndarray:
    return np.concatenate(
        [
            rng.gamma(2.0, 50.0, size=int(rng.integers(0, 40))),
            -rng.gamma(1.0, 5.0, size=int(rng.integers(0, 4))),
            np.zeros(int(rng.integers(0, 3))),
        ]
    )


def _bins(values: np.ndarray) -> dict[str, Any]:
    uniq, cnt = np.unique(sketch.bin_indices(values), return_counts=True)
    return sketch.from_indices(uniq.tolist(), cnt.tolist())


def _old_json(bins: dict[str, Any]) -> str:
    """The JSON form stored before the pairs form (as Python wrote it)."""
    return orjson.dumps(bins).decode()


def _migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sketch_pairs_migration", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_text_round_trips_through_the_dict_view() -> None:
    rng = np.random.default_rng(5)
    for _ in range(200):
        bins = _bins(_values(rng))
        text = sketch.dumps(bins)
        assert sketch.loads(text) == bins
        assert sketch.loads(_old_json(bins)) == bins  # the JSON form still reads
        assert sketch.dumps(sketch.loads(text)) == text
        assert sketch.loads(sketch.merge_text(text, text)) == sketch.merge(bins, bins)
        assert sketch.loads(sketch.merge_text(_old_json(bins), text)) == sketch.merge(bins, bins)
    assert sketch.loads("") == {"z": 0, "p": {}, "n": {}}
    assert sketch.loads(sketch.single(-7)) == {"z": 0, "p": {}, "n": {"7": 1}}
    assert sketch.loads(sketch.single(0)) == {"z": 1, "p": {}, "n": {}}


def test_counts_beyond_int32_split_into_pairs_of_one_bin() -> None:
    big = 2**31 + 12
    text = sketch.encode([3, 9], [big, 1])
    assert sketch.loads(text) == {"z": 0, "p": {"3": big, "9": 1}, "n": {}}
    _, keys, counts = sketch.decode_many([text])
    assert keys.tolist() == [3, 3, 9] and int(counts.sum()) == big + 1
    doubled = sketch.loads(sketch.merge_text(text, text))
    assert doubled["p"] == {"3": 2 * big, "9": 2}
    merged = sketch.merge_many([text, text], np.array([0, 0]), 1)
    assert sketch.loads(merged[0])["p"] == {"3": 2 * big, "9": 2}


def test_decode_many_reads_both_forms_in_text_order() -> None:
    rng = np.random.default_rng(8)
    groups = [_bins(_values(rng)) for _ in range(30)]
    for texts in (
        [sketch.dumps(b) for b in groups],
        [_old_json(b) if i % 3 == 0 else sketch.dumps(b) for i, b in enumerate(groups)],
    ):
        index, keys, counts = sketch.decode_many(texts)
        for i, bins in enumerate(groups):
            mine = index == i
            assert sketch.from_indices(keys[mine].tolist(), counts[mine].tolist()) == bins


def test_merge_many_adds_bins_like_merge() -> None:
    rng = np.random.default_rng(9)
    parts = [_bins(_values(rng)) for _ in range(24)]
    group = np.arange(24) % 5
    merged = sketch.merge_many([sketch.dumps(b) for b in parts], group, 6)
    for g in range(5):
        expected: dict[str, Any] = {"z": 0, "p": {}, "n": {}}
        for b, owner in zip(parts, group.tolist(), strict=True):
            if owner == g:
                expected = sketch.merge(expected, b)
        got = sketch.loads(merged[g])
        assert got["z"] == expected["z"]
        assert got["p"] == {k: v for k, v in expected["p"].items() if v}
        assert got["n"] == {k: v for k, v in expected["n"].items() if v}
    assert merged[5] == ""  # no text went into the last group


def test_bulk_and_single_encoders_agree_on_every_form() -> None:
    """Sparse bins take the pairs form, dense ones a dense form (uint8 or uint16 counts);
    the numpy encoder (ingest) and the per-sketch one (merges, dumps) write the same text."""
    rng = np.random.default_rng(12)
    seen = set()
    groups = []
    for i in range(300):
        n = int(rng.integers(1, 30))
        spread = int(rng.choice([n, 3 * n, 40 * n]))
        keys = np.unique(rng.integers(-spread // 4, spread, size=n))
        scale = int(rng.choice([1, 200, 60_000, 3_000_000_000]))
        counts = rng.integers(1, scale + 1, size=len(keys))
        groups.append((keys, counts))
        text = sketch.encode(keys, counts)
        seen.add(text[:1] if text[:1] in ".:" else "pairs")
        bins = sketch.from_indices(keys.tolist(), counts.tolist())
        assert sketch.loads(text) == bins, i
        assert sketch.dumps(bins) == text, i
    assert seen == {".", ":", "pairs"}
    starts = np.cumsum([0] + [len(k) for k, _ in groups[:-1]])
    texts = sketch.encode_groups(
        starts, np.concatenate([k for k, _ in groups]), np.concatenate([c for _, c in groups])
    )
    assert texts == [sketch.encode(k, c) for k, c in groups]
    index, keys, counts = sketch.decode_many(texts)
    for i, (k, c) in enumerate(groups):
        mine = index == i
        assert sketch.from_indices(keys[mine].tolist(), counts[mine].tolist()) == (
            sketch.from_indices(k.tolist(), c.tolist())
        )


@pytest.mark.parametrize("form", ["pairs", "json", "mixed"])
def test_bucket_quantiles_equal_the_sketch_walk(form: str) -> None:
    rng = np.random.default_rng(3)
    buckets: list[list[str]] = []
    expected: list[list[float | None]] = []
    for i in range(40):
        parts = []
        merged: dict[str, Any] = {"z": 0, "p": {}, "n": {}}
        for j in range(1 + i % 3):
            values = _values(rng)
            if not len(values):
                values = np.array([1.0])
            bins = _bins(values)
            use_json = form == "json" or (form == "mixed" and (i + j) % 2 == 0)
            parts.append(_old_json(bins) if use_json else sketch.dumps(bins))
            merged = sketch.merge(merged, bins)
        buckets.append(parts)
        expected.append(sketch.quantiles(merged, QS))
    assert _bucket_quantiles(buckets, QS) == expected


def test_migration_converts_json_to_pairs_and_back() -> None:
    migration = _migration()
    rng = np.random.default_rng(11)
    for _ in range(100):
        bins = _bins(_values(rng))
        old = _old_json(bins)
        new = migration.json_to_pairs(old)  # always the pairs form; readers take every form
        assert sketch.loads(new) == bins
        assert sketch.loads(sketch.merge_text(new, sketch.dumps(bins))) == sketch.merge(bins, bins)
        assert orjson.loads(migration.pairs_to_json(new)) == bins
        assert orjson.loads(migration.pairs_to_json(sketch.dumps(bins))) == bins  # any form
    # PostgreSQL's json_build_object spacing, and counts beyond int32
    spaced = '{"z" : 2, "p" : {"1040" : 3}, "n" : {"5" : 1}}'
    assert sketch.loads(migration.json_to_pairs(spaced)) == {
        "z": 2,
        "p": {"1040": 3},
        "n": {"5": 1},
    }
    big = migration.json_to_pairs('{"z":0,"p":{"7":5000000000},"n":{}}')
    assert sketch.loads(big)["p"] == {"7": 5_000_000_000}


@pytest.mark.parametrize("density", ["dense8", "dense16", "mixed"])
def test_text_quantiles_equal_the_sketch_walk(density: str) -> None:
    """One text per bucket (the read of one series): the dense fast path and the general
    path give the quantiles of the plain walk over each sketch."""
    rng = np.random.default_rng({"dense8": 1, "dense16": 2, "mixed": 3}[density])
    texts: list[str] = []
    for i in range(60):
        size = {"dense8": 400, "dense16": 20_000, "mixed": [3, 400, 20_000][i % 3]}[density]
        values = np.round(rng.gamma(4.0, 30.0, size=size))
        uniq, cnt = np.unique(sketch.bin_indices(values), return_counts=True)
        texts.append(sketch.encode(uniq, cnt))
    forms = {t[:1] if t[:1] in ".:" else "pairs" for t in texts}
    assert forms == {"dense8": {"."}, "dense16": {":"}, "mixed": {".", ":", "pairs"}}[density]
    expected = [sketch.quantiles(sketch.loads(t), QS) for t in texts]
    assert sketch.text_quantiles(texts, QS).tolist() == expected
    assert _bucket_quantiles([[t] for t in texts], QS) == expected
