"""A small in-process rate limiter for the public endpoints (survey widget, status page)."""

from __future__ import annotations

import time
from collections import deque


class RateLimiter:
    """Sliding one-minute window per key, in this process (each replica limits on its own)."""

    def __init__(self) -> None:
        self.hits: dict[str, deque[float]] = {}

    def allow(self, key: str, per_minute: int) -> bool:
        """Count one hit for ``key``; False when it already had ``per_minute`` in the last 60 s."""
        now = time.monotonic()
        window = self.hits.setdefault(key, deque())
        while window and now - window[0] > 60:
            window.popleft()
        if len(window) >= per_minute:
            return False
        window.append(now)
        if len(self.hits) > 50_000:  # bounded: junk keys cannot grow it forever
            self.hits.clear()
        return True
