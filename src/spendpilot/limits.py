"""Sliding-window counters for login attempts and socket messages (per process)."""

from __future__ import annotations

import time
from collections import deque


class SlidingWindow:
    """Counts events per key over the last `window_s` seconds."""

    def __init__(self, limit: int, window_s: float):
        self.limit = limit
        self.window_s = window_s
        self._events: dict[str, deque[float]] = {}

    def _trim(self, key: str, now: float) -> deque[float]:
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window_s:
            events.popleft()
        if not events:
            # Keep the map from growing with keys that went quiet.
            self._events.pop(key, None)
            events = self._events.setdefault(key, deque())
        return events

    def retry_after(self, key: str) -> int:
        """Seconds until another event is allowed; 0 if allowed now."""
        now = time.monotonic()
        events = self._trim(key, now)
        if len(events) < self.limit:
            return 0
        return max(1, int(events[0] + self.window_s - now) + 1)

    def hit(self, key: str) -> bool:
        """Record an event; False if over the limit (the event is not recorded)."""
        now = time.monotonic()
        events = self._trim(key, now)
        if len(events) >= self.limit:
            return False
        events.append(now)
        return True

    def reset(self, key: str) -> None:
        self._events.pop(key, None)
