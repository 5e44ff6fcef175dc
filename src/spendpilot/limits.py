"""Sliding-window counters for login attempts and socket messages (per process)."""

from __future__ import annotations

import time
from collections import deque

# Every this many calls, forget keys whose events all left the window, so addresses and
# accounts that were seen once do not stay in memory forever.
_SWEEP_EVERY = 1024


class SlidingWindow:
    """Counts events per key over the last `window_s` seconds."""

    def __init__(self, limit: int, window_s: float):
        self.limit = max(1, int(limit))
        self.window_s = window_s
        self._events: dict[str, deque[float]] = {}
        self._calls = 0

    def _trim(self, key: str, now: float) -> deque[float]:
        self._calls += 1
        if self._calls % _SWEEP_EVERY == 0:
            self._sweep(now)
        events = self._events.get(key)
        if events is None:
            events = self._events[key] = deque()
        while events and events[0] <= now - self.window_s:
            events.popleft()
        return events

    def _sweep(self, now: float) -> None:
        horizon = now - self.window_s
        for key in [k for k, events in self._events.items() if not events or events[-1] <= horizon]:
            del self._events[key]

    def retry_after(self, key: str) -> int:
        """Seconds until another event is allowed; 0 if allowed now."""
        now = time.monotonic()
        events = self._trim(key, now)
        if len(events) < self.limit:
            if not events:
                self._events.pop(key, None)  # a read must not create state
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

    def __len__(self) -> int:
        return len(self._events)
