"""Every process of a deployment must use one analytics store; a process that would not is refused.

Processes of one deployment share a Redis key prefix. Each one registers there which analytics
store it uses, and renews that while it runs: a ClickHouse server is named by the id kept in
the store itself (`AnalyticsStore.identity`), so every process that reaches the same data by
any address agrees on it; embedded chDB is private to its process, so it is named by host and
data directory. A process whose store differs from a live peer's does not start: otherwise the
API imports into one store while a worker analyses another, and reports silently say there is
nothing to analyse. Checking and registering is one Lua script, so two processes starting at
the same moment cannot both pass.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from spendpilot.analytics.store import AnalyticsStore, open_analytics
from spendpilot.config import Settings
from spendpilot.logs import get_logger
from spendpilot.server.preflight import StartupRefused, redacted_url

log = get_logger(__name__)

# A registration lapses this long after its process stopped renewing it (a crash leaves no
# goodbye); renewals come three times per period.
PEER_TTL_S = 15.0
RENEW_EVERY_S = PEER_TTL_S / 3

# KEYS[1]: sorted set of "identity|description", scored by expiry (ms, Redis clock).
# ARGV: identity, description, ttl ms. Returns the first live member with another identity
# (and registers nothing), or false after registering this process.
_JOIN = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
local prefix = ARGV[1] .. '|'
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(member, 1, #prefix) ~= prefix then return member end
end
redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[3]), prefix .. ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return false
"""


@dataclass(frozen=True)
class AnalyticsUse:
    """Which analytics store a process uses, as peers compare it and as operators read it."""

    identity: str
    description: str


def embedded_use(settings: Settings) -> AnalyticsUse:
    """chDB lives in one process: its identity is this host and data directory."""
    where = f"{socket.gethostname()}:{settings.chdb_path}"
    return AnalyticsUse(f"chdb:{where}", f"embedded chDB at {where}")


def server_use(settings: Settings, store_id: str) -> AnalyticsUse:
    url = redacted_url(settings.clickhouse_url or "")
    return AnalyticsUse(f"clickhouse:{store_id}", f"ClickHouse at {url} (store {store_id[:8]})")


def refusal(mine: AnalyticsUse, theirs: str, prefix: str) -> str:
    their_process, _, their_store = theirs.partition(" using ")
    return (f"analytics would not be shared: {their_process} of this deployment (Redis prefix {prefix!r}) uses "
            f"{their_store or 'another analytics store'}, this process would use {mine.description}. "
            "Every process must read and write one analytics store: set SPENDPILOT_CLICKHOUSE_URL to the same "
            "ClickHouse server on every process (embedded chDB serves a single `spendpilot up` or "
            "`spendpilot serve --role all` only).")


class AnalyticsPeers:
    """This process's registration among the processes of its deployment."""

    def __init__(self, redis: Redis, prefix: str, role: str):
        self.redis = redis
        self.prefix = prefix
        self.key = f"{prefix}:analytics:peers"
        self.role = role
        self._script = redis.register_script(_JOIN)
        self._member: str | None = None
        self._use: AnalyticsUse | None = None
        self._task: asyncio.Task | None = None

    def _description(self, use: AnalyticsUse) -> str:
        return f"the {self.role} process {socket.gethostname()}:{os.getpid()} using {use.description}"

    async def _register(self, use: AnalyticsUse) -> str | None:
        found = await self._script(keys=[self.key],
                                   args=[use.identity, self._description(use), int(PEER_TTL_S * 1000)])
        if found is None:
            return None
        return (found.decode() if isinstance(found, bytes) else str(found)).partition("|")[2]

    async def join(self, use: AnalyticsUse) -> None:
        """Register, or raise StartupRefused naming the peer whose store differs."""
        conflict = await self._register(use)
        if conflict is not None:
            raise StartupRefused(refusal(use, conflict, self.prefix))
        self._use = use
        self._member = f"{use.identity}|{self._description(use)}"
        self._task = asyncio.create_task(self._renew(), name="analytics-peers")

    async def _renew(self) -> None:
        assert self._use is not None
        while True:
            await asyncio.sleep(RENEW_EVERY_S)
            try:
                conflict = await self._register(self._use)
            except (RedisError, OSError):
                continue  # Redis is down: peers cannot start meanwhile either; renew when it is back
            if conflict is not None:
                # Only after Redis lost every registration can a differing peer have slipped in.
                log.error("analytics_not_shared", peer=conflict, mine=self._use.description)

    async def leave(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._member is not None:
            try:
                await self.redis.zrem(self.key, self._member)
            except (RedisError, OSError):
                pass  # it lapses by itself


async def open_shared_analytics(settings: Settings, redis: Redis | None,
                                prefix: str) -> tuple[AnalyticsStore, AnalyticsPeers | None]:
    """The analytics store, once it is known to be the one every live peer uses.

    Without Redis there are no peers (one process). Embedded chDB registers before it opens,
    so a second process is refused before it touches a data directory in use.
    """
    if redis is None:
        return _open(settings), None
    peers = AnalyticsPeers(redis, prefix, settings.role)
    if not settings.clickhouse_url:
        await peers.join(embedded_use(settings))
        try:
            return _open(settings), peers
        except BaseException:
            await peers.leave()
            raise
    store = _open(settings)
    try:
        await peers.join(server_use(settings, await store.identity()))
    except BaseException:
        await store.close()
        raise
    return store, peers


def _open(settings: Settings) -> AnalyticsStore:
    try:
        return open_analytics(settings)
    except RuntimeError as exc:
        if settings.clickhouse_url:
            raise
        # chDB hosts one engine per data directory and process: another process holds this one.
        raise StartupRefused(
            f"embedded chDB could not open {settings.chdb_path} ({' '.join(str(exc).split())[:200]}); another "
            "process is probably using this data directory. Give each `spendpilot up` its own "
            "SPENDPILOT_DATA_DIR, or share analytics between processes by setting SPENDPILOT_CLICKHOUSE_URL "
            "to one ClickHouse server on every process.") from exc
