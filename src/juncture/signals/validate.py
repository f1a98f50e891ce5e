"""Validation of incoming signal records: every record becomes a clean row or a reason.

Hand-written rather than a Pydantic model per record because this is the hottest path in
juncture (hundreds of thousands of records per second): plain dict checks with stable reason
codes. The schemas are documented in docs/signals.md and mirrored by ``schemas.py`` for
OpenAPI; a test feeds both the same records.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from juncture.access.schemas import SLUG_PATTERN
from juncture.signals.redact import Redactor

SCHEMA_VERSION = 1
TYPES = ("metric", "funnel", "ticket", "survey", "review", "deploy")
TICKET_KINDS = frozenset(
    {
        "created",
        "assigned",
        "replied",
        "reassigned",
        "status_changed",
        "resolved",
        "reopened",
        "commented",
    }
)
ACTOR_KINDS = frozenset({"customer", "agent", "system"})
PRIORITIES = frozenset({"low", "normal", "high", "urgent"})
STATUSES = frozenset({"new", "open", "pending", "on_hold", "solved", "closed"})
DEVICES = frozenset({"desktop", "mobile", "tablet", "other"})
SEGMENTS = frozenset({"new", "returning", "vip"})
DEPLOY_STATUSES = frozenset({"succeeded", "failed", "rolled_back"})
TOUCHPOINTS = frozenset({"ticket", "incident", "journey_step", "periodic"})
SURVEY_RANGES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
# Known metrics and the unit each must be sent in (custom metrics may use any unit).
METRIC_UNITS = {
    "latency_p50_ms": "ms",
    "latency_p95_ms": "ms",
    "latency_p99_ms": "ms",
    "error_rate": "ratio",
    "availability": "ratio",
    "requests": "count",
}
RATIO_METRICS = frozenset({"error_rate", "availability"})

MAX_ID = 128
MAX_TEXT = 8_000
MAX_NAME = 64


# isinstance with a tuple: with a union type (str | int) it is several times slower.
_STR_INT = (str, int)
_NUMBER = (int, float)


class Refused(Exception):
    """A record is refused for ``reason`` (a stable code) with a human ``detail``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class Catalog:
    """What validation needs to know about the shared vocabulary (slugs to ids)."""

    services: dict[str, int] = field(default_factory=dict)
    journeys: dict[str, int] = field(default_factory=dict)
    steps: dict[tuple[str, str], int] = field(default_factory=dict)


@dataclass
class Rules:
    now_ms: int
    retention_days: Mapping[str, int]
    max_future_ms: int
    max_text: int = MAX_TEXT
    auto_register: bool = False


def _str(
    record: Mapping[str, Any], name: str, *, required: bool = False, limit: int = MAX_NAME
) -> str | None:
    value = record.get(name)
    if value.__class__ is str and value:  # the common case, checked first
        if len(value) > limit:
            raise Refused("too_long", f"'{name}' is longer than {limit} characters")
        return value
    if value is None or value == "":
        if required:
            raise Refused("missing_field", f"'{name}' is required")
        return None
    if isinstance(value, bool) or not isinstance(value, _STR_INT):
        raise Refused("bad_type", f"'{name}' must be a string")
    text = str(value)
    if len(text) > limit:
        raise Refused("too_long", f"'{name}' is longer than {limit} characters")
    return text


def _lower_str(record: Mapping[str, Any], name: str) -> str | None:
    """``_lower(_str(record, name))`` in one call for the common case."""
    value = record.get(name)
    if value.__class__ is str and value and len(value) <= MAX_NAME:
        return value.lower()
    return _lower(_str(record, name))


def _enum(
    record: Mapping[str, Any], name: str, allowed: frozenset[str], *, required: bool = False
) -> str | None:
    raw = record.get(name)
    if raw.__class__ is str and len(raw) <= MAX_NAME:  # the common case: a known value
        lowered = raw.lower()
        if lowered in allowed:
            return lowered
    value = _str(record, name, required=required)
    if value is None:
        return None
    value = value.lower()
    if value not in allowed:
        raise Refused(
            "unknown_enum", f"'{name}' must be one of {', '.join(sorted(allowed))}; got '{value}'"
        )
    return value


def _number(record: Mapping[str, Any], name: str, *, required: bool = False) -> float | None:
    value = record.get(name)
    if value.__class__ is float:  # the common case first
        if not math.isfinite(value):
            raise Refused("out_of_range", f"'{name}' must be a finite number")
        return value
    if value is None:
        if required:
            raise Refused("missing_field", f"'{name}' is required")
        return None
    if isinstance(value, bool) or not isinstance(value, _NUMBER):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise Refused("bad_type", f"'{name}' must be a number") from None
        else:
            raise Refused("bad_type", f"'{name}' must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise Refused("out_of_range", f"'{name}' must be a finite number")
    return number


def _int(
    record: Mapping[str, Any], name: str, lo: int, hi: int, *, required: bool = False
) -> int | None:
    number = _number(record, name, required=required)
    if number is None:
        return None
    if number != int(number):
        raise Refused("bad_type", f"'{name}' must be a whole number")
    if not lo <= number <= hi:
        raise Refused("out_of_range", f"'{name}' must be between {lo} and {hi}; got {number:g}")
    return int(number)


def _text(
    record: Mapping[str, Any],
    name: str,
    rules: Rules,
    redactor: Redactor,
    *,
    required: bool = False,
) -> tuple[str | None, int]:
    value = record.get(name)
    if value is None or value == "":
        if required:
            raise Refused("missing_field", f"'{name}' is required")
        return None, 0
    if not isinstance(value, str):
        raise Refused("bad_type", f"'{name}' must be a string")
    if len(value) > rules.max_text:
        raise Refused("too_long", f"'{name}' is longer than {rules.max_text} characters")
    if "\ufffd" in value:
        raise Refused("invalid_encoding", f"'{name}' is not valid UTF-8 text")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        raise Refused("invalid_encoding", f"'{name}' is not valid UTF-8 text") from None
    return redactor(value)


def parse_ts(value: Any) -> int:
    """Event time to epoch milliseconds: RFC 3339 text (naive = UTC) or epoch seconds."""
    if isinstance(value, str):  # the common case first
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise Refused(
                "bad_timestamp", f"'ts' is not an RFC 3339 timestamp: '{value[:40]}'"
            ) from None
        if moment.tzinfo is None:
            return int((moment - _EPOCH_NAIVE).total_seconds() * 1000)
        return int(moment.timestamp() * 1000)
    if isinstance(value, bool) or value is None:
        raise Refused(
            "missing_field" if value is None else "bad_type", "'ts' is required (RFC 3339)"
        )
    if isinstance(value, _NUMBER):
        if not math.isfinite(value):
            raise Refused("bad_timestamp", "'ts' must be finite")
        return int(value * 1000)
    raise Refused("bad_timestamp", "'ts' must be an RFC 3339 timestamp")


_EPOCH_NAIVE = datetime(1970, 1, 1)  # noqa: DTZ001 - naive timestamps are defined as UTC


def record_key(record: Mapping[str, Any], signal_type: str) -> str:
    """The idempotency key: the given id, or a hash of the record's content."""
    given = record.get("id")
    if given is not None and given != "":
        if isinstance(given, bool) or not isinstance(given, _STR_INT):
            raise Refused("bad_type", "'id' must be a string")
        text = str(given)
        if len(text) > MAX_ID:
            raise Refused("too_long", f"'id' is longer than {MAX_ID} characters")
        if len(text) <= 38:
            return "i:" + text
        return "h:" + hashlib.blake2b(text.encode(), digest_size=19).hexdigest()
    try:
        content = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:  # lone surrogates and other text that is not UTF-8
        raise Refused("invalid_encoding", f"the record is not valid UTF-8 JSON: {exc}") from None
    return "c:" + hashlib.blake2b(signal_type.encode() + content, digest_size=19).hexdigest()


# ------------------------------------------------------------------ per type

# Metric names already checked (a handful in practice; bounded so junk cannot grow it).
_NAME_OK: dict[str, bool] = {}


def _good_name(name: str) -> bool:
    ok = _NAME_OK.get(name)
    if ok is None:
        ok = all(c.isalnum() or c in "_." for c in name)
        if len(_NAME_OK) < 10_000:
            _NAME_OK[name] = ok
    return ok


Row = dict[str, Any]
_SLUG = re.compile(SLUG_PATTERN)


def _registrable(slug: str, what: str) -> None:
    """An unknown name that auto-registration will create: it must be able to be a slug."""
    if _SLUG.match(slug) is None:
        raise Refused(
            "bad_name",
            f"unknown {what} '{slug}' cannot be registered: a slug is lowercase letters, "
            "digits and '-' (at most 63)",
        )


def _service_id(service: str, rules: Rules, cat: Catalog) -> int | None:
    """The catalog id of a service; None when it is unknown and will be auto-registered."""
    service_id = cat.services.get(service)
    if service_id is None:
        if not rules.auto_register:
            raise Refused("unknown_service", f"no service with slug '{service}'")
        _registrable(service, "service")
    return service_id


_LABEL_TYPES = (str, int, float)  # a tuple: isinstance with a union type is much slower


def _metric(r: Mapping[str, Any], ts: int, rules: Rules, cat: Catalog, red: Redactor) -> Row:
    service = _str(r, "service", required=True)
    metric = _str(r, "metric", required=True)
    assert service is not None
    assert metric is not None
    metric = metric.lower()
    if not _good_name(metric):
        raise Refused(
            "bad_name", f"metric name '{metric}' may only use letters, digits, '_' and '.'"
        )
    value = _number(r, "value", required=True)
    assert value is not None
    unit = (_str(r, "unit", limit=16) or METRIC_UNITS.get(metric, "")).lower()
    expected = METRIC_UNITS.get(metric)
    if expected is not None and unit != expected:
        raise Refused("unit_mismatch", f"'{metric}' must be sent in '{expected}', not '{unit}'")
    if (metric.startswith("latency") or metric == "requests") and value < 0:
        raise Refused("out_of_range", f"'{metric}' cannot be negative")
    if metric in RATIO_METRICS and not 0 <= value <= 1:
        raise Refused("out_of_range", f"'{metric}' is a ratio between 0 and 1; got {value:g}")
    labels = r.get("labels")
    region = None
    if labels is not None:
        if not isinstance(labels, dict) or not all(
            isinstance(v, _LABEL_TYPES) for v in labels.values()
        ):
            raise Refused("bad_type", "'labels' must be an object of strings")
        region = labels.get("region")
        region = str(region).lower() if region is not None else None
    service_id = _service_id(service, rules, cat)
    return {
        "ts_ms": ts,
        "service": service,
        "service_id": service_id,
        "metric": metric,
        "value": value,
        "unit": unit,
        "region": region,
        "labels": orjson.dumps(labels, option=orjson.OPT_SORT_KEYS).decode() if labels else None,
    }


def _funnel(r: Mapping[str, Any], ts: int, rules: Rules, cat: Catalog, red: Redactor) -> Row:
    journey = _str(r, "journey", required=True)
    step = _str(r, "step", required=True)
    session = _str(r, "session_id", required=True, limit=MAX_ID)
    assert journey is not None
    assert step is not None
    value = _number(r, "value")
    if value is not None and value < 0:
        raise Refused("out_of_range", "'value' (order value) cannot be negative")
    journey_id = cat.journeys.get(journey)
    step_id = cat.steps.get((journey, step))
    if journey_id is None or step_id is None:
        if not rules.auto_register:
            if journey_id is None:
                raise Refused("unknown_journey", f"no journey with slug '{journey}'")
            raise Refused("unknown_step", f"journey '{journey}' has no step '{step}'")
        _registrable(journey, "journey")
        _registrable(step, "step")
    return {
        "ts_ms": ts,
        "journey": journey,
        "step": step,
        "journey_id": journey_id,
        "step_id": step_id,
        "session_id": session,
        "customer_id": _str(r, "customer_id", limit=MAX_ID),
        "region": _lower_str(r, "region"),
        "channel": _lower_str(r, "channel"),
        "device": _enum(r, "device", DEVICES),
        "segment": _enum(r, "segment", SEGMENTS),
        "value": value,
    }


def _ticket(r: Mapping[str, Any], ts: int, rules: Rules, cat: Catalog, red: Redactor) -> Row:
    kind = _enum(r, "kind", TICKET_KINDS, required=True)
    status = _enum(r, "status", STATUSES)
    if kind == "status_changed" and status is None:
        raise Refused("missing_field", "'status' is required for a status_changed event")
    text, redacted = _text(r, "text", rules, red)
    return {
        "ts_ms": ts,
        "ticket_ref": _str(r, "ticket_id", required=True, limit=MAX_ID),
        "kind": kind,
        "actor_kind": _enum(r, "actor_kind", ACTOR_KINDS, required=True),
        "team": _lower_str(r, "team"),
        "agent_id": _str(r, "agent_id", limit=MAX_ID),
        "channel": _lower_str(r, "channel"),
        "priority": _enum(r, "priority", PRIORITIES),
        "category": _lower_str(r, "category"),
        "status": status,
        "text": text,
        "customer_id": _str(r, "customer_id", limit=MAX_ID),
        "region": _lower_str(r, "region"),
        "segment": _enum(r, "segment", SEGMENTS),
        "service": _lower_str(r, "service"),
        "_redacted": redacted,
    }


def _survey(r: Mapping[str, Any], ts: int, rules: Rules, cat: Catalog, red: Redactor) -> Row:
    kind = _enum(r, "kind", frozenset(SURVEY_RANGES), required=True)
    assert kind is not None
    lo, hi = SURVEY_RANGES[kind]
    score = _int(r, "score", lo, hi, required=True)
    touchpoint = r.get("touchpoint")
    tp_kind = tp_ref = None
    if touchpoint is not None:
        if not isinstance(touchpoint, dict):
            raise Refused("bad_type", "'touchpoint' must be an object with 'kind' and 'ref'")
        tp_kind = _enum(touchpoint, "kind", TOUCHPOINTS, required=True)
        tp_ref = _str(touchpoint, "ref", limit=MAX_ID)
    comment, redacted = _text(r, "comment", rules, red)
    return {
        "ts_ms": ts,
        "kind": kind,
        "score": score,
        "comment": comment,
        "customer_id": _str(r, "customer_id", limit=MAX_ID),
        "touchpoint_kind": tp_kind,
        "touchpoint_ref": tp_ref,
        "region": _lower_str(r, "region"),
        "channel": _lower_str(r, "channel"),
        "segment": _enum(r, "segment", SEGMENTS),
        "_redacted": redacted,
    }


def _review(r: Mapping[str, Any], ts: int, rules: Rules, cat: Catalog, red: Redactor) -> Row:
    text, redacted = _text(r, "text", rules, red, required=True)
    return {
        "ts_ms": ts,
        "source": _lower(_str(r, "source", required=True)),
        "rating": _int(r, "rating", 1, 5),
        "text": text,
        "region": _lower_str(r, "region"),
        "author_id": _str(r, "author_id", limit=MAX_ID),
        "_redacted": redacted,
    }


def _deploy(r: Mapping[str, Any], ts: int, rules: Rules, cat: Catalog, red: Redactor) -> Row:
    service = _str(r, "service", required=True)
    assert service is not None
    service_id = _service_id(service, rules, cat)
    return {
        "ts_ms": ts,
        "service": service,
        "service_id": service_id,
        "version": _str(r, "version", required=True, limit=128),
        "actor": _str(r, "actor", required=True, limit=200),
        "change_id": _str(r, "change_id", limit=MAX_ID),
        "region": _lower_str(r, "region"),
        "status": _enum(r, "status", DEPLOY_STATUSES) or "succeeded",
    }


def _lower(value: str | None) -> str | None:
    return value.lower() if value is not None else None


VALIDATORS: dict[str, Callable[[Mapping[str, Any], int, Rules, Catalog, Redactor], Row]] = {
    "metric": _metric,
    "funnel": _funnel,
    "ticket": _ticket,
    "survey": _survey,
    "review": _review,
    "deploy": _deploy,
}


def validate(
    record: Any, rules: Rules, catalog: Catalog, redactor: Redactor
) -> tuple[str, str, Row]:
    """Return (signal type, idempotency key, clean row) or raise :class:`Refused`."""
    if not isinstance(record, dict):
        raise Refused("not_an_object", "each record must be a JSON object")
    if "_unparsed" in record:
        raise Refused(
            str(record.get("_reason", "invalid_json")), "the line could not be read as JSON"
        )
    signal_type = record.get("type")
    if signal_type not in VALIDATORS:
        raise Refused(
            "unknown_type", f"'type' must be one of {', '.join(TYPES)}; got {signal_type!r}"
        )
    schema = record.get("schema", SCHEMA_VERSION)
    if schema != SCHEMA_VERSION:
        raise Refused("unsupported_schema", f"schema version {schema!r} is not supported (use 1)")
    ts = parse_ts(record.get("ts"))
    if ts > rules.now_ms + rules.max_future_ms:
        raise Refused("future_timestamp", "'ts' is too far in the future")
    retention = rules.retention_days.get(str(signal_type))
    if retention is not None and ts < rules.now_ms - retention * 86_400_000:
        raise Refused(
            "too_old", f"'ts' is older than the {retention}-day retention for {signal_type}"
        )
    key = record_key(record, str(signal_type))
    row = VALIDATORS[str(signal_type)](record, ts, rules, catalog, redactor)
    return str(signal_type), key, row
