"""Per-org usage versions: what cached analysis results are keyed by, changed by every write of usage.

A version is an opaque token that changes whenever an org's stored usage does, so reading it costs no
analytics query. The store changes it after each write into llm_usage (AnalyticsStore.usage_written, called
by its own insert and command methods), so no writer can forget it. A statement that names no org (a merge of
a staging table that may hold several) changes every org's version at once, unless its caller names the orgs
(`command(..., usage_of=...)`, as the live intake writer does).

Where versions live follows who can write:
- embedded chDB belongs to one process (peers.py refuses a second one), so that process's memory is the
  whole truth (LocalVersions);
- a ClickHouse server is written by every process of a deployment (and by `spendpilot ingest`), so the
  versions live in Redis beside it (RedisVersions), tokens never reused, so a lost or evicted key reads as a
  new version, never an old one;
- a process that cannot know (a server store without Redis) answers None, and callers fall back to a real
  query of the org's rows (UnknownVersions).
"""

from __future__ import annotations

import abc
import itertools
import re
import uuid
from collections.abc import Collection, Hashable
from typing import Any

from spendpilot.logs import get_logger

from .schema import TABLE

log = get_logger(__name__)

# How long an org's version is kept in Redis after its last change: a key that lapsed reads as a new token.
VERSION_TTL_S = 7 * 24 * 3600


class VersionBook(abc.ABC):
    @abc.abstractmethod
    async def current(self, org_id: str) -> Hashable | None:
        """The org's usage version now, or None when this process cannot know it."""

    @abc.abstractmethod
    async def changed(self, org_ids: Collection[str] | None) -> None:
        """Usage of these orgs (None: of orgs not named) was written."""

    async def close(self) -> None:  # noqa: B027 - most books hold nothing
        """Release what the book holds (a connection)."""

    def has_no_usage(self, org_id: str) -> bool:
        """True only when this book knows the org has no stored usage at all (its analyses need no query)."""
        return False

    def census_due(self) -> bool:
        """Whether the book would know empty orgs after a census of the orgs with usage (`counted`)."""
        return False

    def census_token(self) -> int:
        return 0

    def counted(self, orgs: Collection[str], token: int) -> None:  # noqa: B027 - only a local book keeps it
        """The orgs with stored usage, as a census read them; `token` is census_token() from before it."""


class UnknownVersions(VersionBook):
    """A store written by processes this one does not hear from: every version is unknown."""

    async def current(self, org_id: str) -> Hashable | None:
        return None

    async def changed(self, org_ids: Collection[str] | None) -> None:
        return None


class LocalVersions(VersionBook):
    """Versions kept in this process: right when every write of the store goes through this process."""

    def __init__(self) -> None:
        self._versions: dict[str, int] = {}
        self._unnamed = 0
        self._tokens = itertools.count(1)
        self._last_token = 0
        # The orgs with stored usage, from a census at first need and kept up by every write since: a new org
        # (each sign-up is one) is then known to have no rows without asking the engine, which cost two
        # queries for every first run. None until counted, and again after a write that named no org.
        self._with_usage: set[str] | None = None

    async def current(self, org_id: str) -> Hashable | None:
        return self._unnamed, self._versions.get(org_id, 0)

    async def changed(self, org_ids: Collection[str] | None) -> None:
        if org_ids is None:
            self._unnamed = self._last_token = next(self._tokens)
            self._with_usage = None
            return
        for org_id in org_ids:
            self._versions[org_id] = self._last_token = next(self._tokens)
        if self._with_usage is not None:
            self._with_usage.update(org_ids)

    def has_no_usage(self, org_id: str) -> bool:
        return self._with_usage is not None and org_id not in self._with_usage

    def census_due(self) -> bool:
        return self._with_usage is None

    def census_token(self) -> int:
        return self._last_token

    def counted(self, orgs: Collection[str], token: int) -> None:
        # Writes that landed while the census read may be missing from it: their orgs are added. After a write
        # that named no org, the census is not used (the next need counts again).
        if self._unnamed > token:
            return
        self._with_usage = {*orgs, *(org for org, changed in self._versions.items() if changed > token)}


class RedisVersions(VersionBook):
    """Versions shared by every process of a deployment through Redis (random tokens, never reused)."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._unnamed_key = f"{prefix}:usage_version:*"

    def _key(self, org_id: str) -> str:
        return f"{self.prefix}:usage_version:org:{org_id}"

    async def current(self, org_id: str) -> Hashable | None:
        keys = [self._key(org_id), self._unnamed_key]
        try:
            values = await self.redis.mget(keys)
            if any(v is None for v in values):
                # Never written (or lapsed): start from a fresh token; a writer's token set meanwhile wins.
                pipe = self.redis.pipeline(transaction=False)
                for key, value in zip(keys, values, strict=True):
                    if value is None:
                        pipe.set(key, uuid.uuid4().hex, nx=True, ex=VERSION_TTL_S)
                await pipe.execute()
                values = await self.redis.mget(keys)
        except Exception as exc:  # Redis unreachable: this process cannot know
            log.warning("usage_version_unavailable", error=exc)
            return None
        if any(v is None for v in values):
            return None
        return tuple(v.decode() if isinstance(v, bytes) else str(v) for v in values)

    async def changed(self, org_ids: Collection[str] | None) -> None:
        keys = [self._unnamed_key] if org_ids is None else [self._key(org_id) for org_id in org_ids]
        try:
            pipe = self.redis.pipeline(transaction=False)
            for key in keys:
                pipe.set(key, uuid.uuid4().hex, ex=VERSION_TTL_S)
            await pipe.execute()
        except Exception as exc:
            # Readers of this deployment may serve results from before this write until Redis is back.
            log.error("usage_version_not_changed", orgs=sorted(org_ids or ["*"])[:20], error=exc)

    async def close(self) -> None:
        await self.redis.aclose()


def redis_versions(url: str, prefix: str) -> RedisVersions:
    from redis.asyncio import Redis

    return RedisVersions(Redis.from_url(url), prefix)


_WRITES_USAGE = re.compile(rf"^\s*INSERT\s+INTO\s+`?{TABLE}`?(\s|\(|$)", re.IGNORECASE)


def written_by_statement(statement: str, params: dict | None) -> Collection[str] | None | bool:
    """Which orgs a statement writes usage of: False for none, None for orgs it does not name."""
    if not _WRITES_USAGE.match(statement):
        return False
    org_id = (params or {}).get("org_id")
    return {org_id} if isinstance(org_id, str) else None


def orgs_of_rows(rows: list[dict]) -> set[str]:
    return {str(row.get("org_id", "")) for row in rows}


def orgs_of_arrow(data: Any) -> set[str] | None:
    if "org_id" not in data.column_names:
        return None
    return {str(org_id) for org_id in data.column("org_id").unique().to_pylist()}
