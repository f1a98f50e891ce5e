"""Turning request bodies and file lines into records, with bad lines kept as refusals."""

from __future__ import annotations

from typing import Any

import orjson

from juncture.kit.errors import Invalid


class BadLine:
    """A line that could not be decoded or parsed; ingest quarantines it with its raw text."""

    def __init__(self, reason: str, detail: str, raw: bytes) -> None:
        self.reason = reason
        self.detail = detail
        self.raw = raw

    def as_record(self) -> dict[str, Any]:
        return {
            "_unparsed": self.raw.decode("utf-8", errors="replace")[:10_000],
            "_reason": self.reason,
        }


def parse_line(line: bytes) -> Any:
    """One NDJSON line to a record (or a BadLine); blank lines give None."""
    stripped = line.strip()
    if not stripped:
        return None
    try:
        stripped.decode("utf-8")
    except UnicodeDecodeError:
        return BadLine("invalid_encoding", "the line is not valid UTF-8", stripped).as_record()
    try:
        return orjson.loads(stripped)
    except orjson.JSONDecodeError as exc:
        return BadLine("invalid_json", f"not valid JSON: {exc}", stripped).as_record()


def parse_body(body: bytes, content_type: str) -> list[Any]:
    """A JSON array (or object) body, or an NDJSON stream, to a list of records."""
    if "ndjson" in content_type or "jsonl" in content_type or "json-seq" in content_type:
        return [r for r in (parse_line(line) for line in body.split(b"\n")) if r is not None]
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Invalid(f"the body is not valid JSON: {exc}", code="invalid_json") from exc
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        return [data]
    raise Invalid("send a JSON array of records, one record object, or NDJSON", code="invalid_body")
