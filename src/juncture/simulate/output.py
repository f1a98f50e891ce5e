"""Writing a world to disk: one NDJSON file per signal type, ``truth.json`` and a manifest."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from juncture import __version__
from juncture.simulate.records import SIGNAL_TYPES, ndjson_lines

if TYPE_CHECKING:
    from juncture.simulate.world import World

logger = logging.getLogger(__name__)


def write_files(world: World, out_dir: Path, *, compress: bool = True) -> dict[str, Any]:
    """Write the world's signals, truth and manifest into ``out_dir``.

    Parameters
    ----------
    world : World
        A generated world.
    out_dir : Path
        Directory (created when missing); existing files of the same names are replaced.
    compress : bool
        Write ``<type>.ndjson.gz`` (gzip, reproducible: no timestamp in the header) instead of
        ``<type>.ndjson``.

    Returns
    -------
    dict
        The manifest, also written to ``manifest.json``: generator, seed, days, start, end,
        per-type ``files`` (path, records, sha256 of the uncompressed NDJSON), ``counts``,
        ``total`` and ``content_sha256`` (over the per-type hashes and truth.json).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = world.frames()
    files: dict[str, Any] = {}
    overall = hashlib.sha256()
    for kind in SIGNAL_TYPES:
        name = f"{kind}.ndjson.gz" if compress else f"{kind}.ndjson"
        path = out_dir / name
        digest = hashlib.sha256()
        with path.open("wb") as raw:
            sink: Any = (
                gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) if compress else raw
            )
            try:
                for chunk in ndjson_lines(kind, frames[kind]):
                    data = chunk.encode("utf-8")
                    digest.update(data)
                    sink.write(data)
            finally:
                if compress:
                    sink.close()
        files[kind] = {
            "path": name,
            "records": len(frames[kind]),
            "sha256": digest.hexdigest(),
        }
        overall.update(f"{kind}:{digest.hexdigest()}\n".encode())
        logger.info("wrote %s (%d records)", path, len(frames[kind]))
    truth_text = world.truth.to_json() + "\n"
    (out_dir / "truth.json").write_text(truth_text, encoding="utf-8")
    truth_hash = hashlib.sha256(truth_text.encode()).hexdigest()
    overall.update(f"truth:{truth_hash}\n".encode())
    counts = {k: v["records"] for k, v in files.items()}
    manifest: dict[str, Any] = {
        "generator": f"juncture.simulate {__version__}",
        "signal_schema": 1,
        "company": world.scenario.company.name,
        "seed": world.seed,
        "days": world.days,
        "start": world.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": world.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "files": files,
        "truth": {"path": "truth.json", "sha256": truth_hash},
        "counts": counts,
        "total": sum(counts.values()),
        "content_sha256": overall.hexdigest(),
    }
    (out_dir / "manifest.json").write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return manifest
