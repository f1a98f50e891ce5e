"""The injectable clock: every room asks it for "now" so tests and the simulator can move time."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that can say what time it is, always as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to; used by tests and simulations."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta) -> None:
        self._at += delta

    def set(self, at: datetime) -> None:
        self._at = at.astimezone(UTC)


_clock: contextvars.ContextVar[Clock] = contextvars.ContextVar("juncture_clock")
_default: Clock = SystemClock()


def now() -> datetime:
    """Return the current time of the active clock (aware, UTC)."""
    return _clock.get(_default).now()


def set_default_clock(clock: Clock) -> None:
    """Replace the process-wide clock (used by the simulator's replay)."""
    global _default  # noqa: PLW0603 - the process-wide default is deliberately swappable
    _default = clock


@contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Use ``clock`` for the duration of the block in this context."""
    token = _clock.set(clock)
    try:
        yield clock
    finally:
        _clock.reset(token)


def ensure_utc(value: datetime) -> datetime:
    """Return ``value`` as aware UTC; naive datetimes are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch (how signals store event times)."""
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """The aware UTC datetime of epoch milliseconds (exact, no float rounding)."""
    return _EPOCH + timedelta(milliseconds=ms)
