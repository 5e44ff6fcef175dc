"""Rate limits: at most `limit` events per key in any `window_s` seconds (sliding windows).

One interface, `RateLimit`, two implementations chosen once by `server/bootstrap.py`:
`MemoryRateLimit` counts in this process (`spendpilot up`: there is no other), and
`RedisRateLimit` counts in Redis, so that a limit holds across every instance of a split
deployment instead of multiplying with their number. A Redis window is one sorted set per
key, checked and updated by one Lua script, so concurrent hits on several instances cannot
both take the last place.

`hit` records an event only if the window has room. A caller that counts only some outcomes
(failed sign-ins) records first and `release`s the event once it turns out not to count:
that way concurrent attempts are counted before any of them is judged, and a burst cannot
slip through while the first attempts are still being checked.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from spendpilot.logs import get_logger

log = get_logger(__name__)

# Every this many calls, forget keys whose events all left the window, so addresses and
# accounts that were seen once do not stay in memory forever.
_SWEEP_EVERY = 1024


@dataclass(frozen=True)
class Hit:
    """The answer to one `hit`: recorded (with the token that `release` takes) or refused."""

    allowed: bool
    token: str = ""
    # Whole seconds until the window has room again; 0 when allowed.
    retry_after_s: int = 0


class RateLimit(ABC):
    """At most `limit` events per key within any `window_s` seconds."""

    def __init__(self, name: str, limit: int, window_s: float):
        self.name = name
        self.limit = max(1, int(limit))
        self.window_s = float(window_s)

    @abstractmethod
    async def hit(self, key: str) -> Hit:
        """Record an event for `key` if the window has room; a refused event is not recorded."""

    @abstractmethod
    async def release(self, key: str, hit: Hit) -> None:
        """Take back an event recorded by `hit` (it turned out not to count)."""

    @abstractmethod
    async def reset(self, key: str) -> None:
        """Forget every event of `key`."""


class SlidingWindow:
    """The in-process window: per key, the times and tokens of the events still inside it."""

    def __init__(self, limit: int, window_s: float):
        self.limit = max(1, int(limit))
        self.window_s = window_s
        self._events: dict[str, deque[tuple[float, str]]] = {}
        self._calls = 0

    def _trim(self, key: str, now: float) -> deque[tuple[float, str]]:
        self._calls += 1
        if self._calls % _SWEEP_EVERY == 0:
            self._sweep(now)
        events = self._events.get(key)
        if events is None:
            events = self._events[key] = deque()
        while events and events[0][0] <= now - self.window_s:
            events.popleft()
        return events

    def _sweep(self, now: float) -> None:
        horizon = now - self.window_s
        for key in [k for k, events in self._events.items() if not events or events[-1][0] <= horizon]:
            del self._events[key]

    def hit(self, key: str) -> Hit:
        now = time.monotonic()
        events = self._trim(key, now)
        if len(events) >= self.limit:
            return Hit(False, retry_after_s=max(1, math.ceil(events[0][0] + self.window_s - now)))
        token = secrets.token_hex(8)
        events.append((now, token))
        return Hit(True, token)

    def release(self, key: str, token: str) -> None:
        events = self._events.get(key)
        if not events:
            return
        for index, (_, held) in enumerate(events):
            if held == token:
                del events[index]
                break
        if not events:
            del self._events[key]

    def reset(self, key: str) -> None:
        self._events.pop(key, None)

    def __len__(self) -> int:
        return len(self._events)


class MemoryRateLimit(RateLimit):
    """Counts in this process: right for `spendpilot up`, where there is one process."""

    def __init__(self, name: str, limit: int, window_s: float):
        super().__init__(name, limit, window_s)
        self.window = SlidingWindow(self.limit, self.window_s)

    async def hit(self, key: str) -> Hit:
        return self.window.hit(key)

    async def release(self, key: str, hit: Hit) -> None:
        if hit.allowed:
            self.window.release(key, hit.token)

    async def reset(self, key: str) -> None:
        self.window.reset(key)


# KEYS[1]: the key's sorted set (member: event token, score: time in ms on the Redis server's
# clock, so the instances' own clocks never matter). ARGV: window ms, limit, token.
# Returns {1, 0} when recorded, {0, ms until the oldest event leaves the window} when full.
_HIT = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - ms}
end
redis.call('ZADD', KEYS[1], ms, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return {1, 0}
"""


class RedisRateLimit(RateLimit):
    """Counts in Redis, shared by every process of a split deployment.

    While Redis cannot be reached the limit is kept in this process instead (logged once):
    a Redis outage must not lock everyone out of signing in or silence every socket, and a
    per-process limit is still a limit.
    """

    def __init__(self, redis: Redis, prefix: str, name: str, limit: int, window_s: float):
        super().__init__(name, limit, window_s)
        self.redis = redis
        self._prefix = f"{prefix}:limit:{name}:"
        self._script = redis.register_script(_HIT)
        self._fallback = MemoryRateLimit(name, limit, window_s)
        self._failing = False

    def key(self, key: str) -> str:
        # Hashed: keys are e-mail addresses and IP addresses, which Redis need not hold in clear.
        return self._prefix + hashlib.sha256(key.encode()).hexdigest()[:32]

    async def hit(self, key: str) -> Hit:
        token = secrets.token_hex(8)
        try:
            allowed, wait_ms = await self._script(keys=[self.key(key)],
                                                  args=[math.ceil(self.window_s * 1000), self.limit, token])
        except (RedisError, OSError) as exc:
            self._degraded(exc)
            return await self._fallback.hit(key)
        self._recovered()
        if allowed:
            return Hit(True, token)
        return Hit(False, retry_after_s=max(1, math.ceil(int(wait_ms) / 1000)))

    async def release(self, key: str, hit: Hit) -> None:
        if not hit.allowed:
            return
        try:
            await self.redis.zrem(self.key(key), hit.token)
        except (RedisError, OSError) as exc:
            self._degraded(exc)
        await self._fallback.release(key, hit)

    async def reset(self, key: str) -> None:
        try:
            await self.redis.delete(self.key(key))
        except (RedisError, OSError) as exc:
            self._degraded(exc)
        await self._fallback.reset(key)

    def _degraded(self, exc: BaseException) -> None:
        if not self._failing:
            self._failing = True
            log.warning("rate_limit_redis_unavailable", limit=self.name, error=exc)

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            log.info("rate_limit_redis_recovered", limit=self.name)


class RateLimits:
    """Makes each named limit, in this process or in Redis (a split deployment)."""

    def __init__(self, redis: Redis | None = None, prefix: str = "sp"):
        self.redis = redis
        self.prefix = prefix

    @property
    def shared(self) -> bool:
        return self.redis is not None

    def make(self, name: str, limit: int, window_s: float) -> RateLimit:
        if self.redis is None:
            return MemoryRateLimit(name, limit, window_s)
        return RedisRateLimit(self.redis, self.prefix, name, limit, window_s)
