"""Analysis results per org, reused until the org's usage changes (single-flight under bursts)."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Hashable
from typing import Any
from weakref import WeakKeyDictionary

from spendpilot.analytics import sql
from spendpilot.analytics.schema import TABLE
from spendpilot.analytics.store import AnalyticsStore

# The version of every org known to have no usage rows (the count a store without versions reads says 0).
EMPTY: Hashable = ("rows", 0)


class QueryCache:
    # A burst's batch files about 16 statements per org before its tools read them: room for some 500 orgs'
    # full analyses in flight (small orgs' rows are a few KB each).
    def __init__(self, store: AnalyticsStore, max_entries: int = 16_384):
        self.store = store
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, asyncio.Future] = OrderedDict()
        self._census_task: asyncio.Future | None = None

    async def version(self, org_id: str) -> Hashable:
        """The org's usage version: kept by the store's writers (no query), or, where this process cannot
        know it, the org's row count (usage is append-only, so the count changes exactly when the data does).
        EMPTY for an org known to have no rows: every such org shares its (empty) answers."""
        book = self.store.versions
        known = await book.current(org_id)
        if known is not None:
            if book.census_due():
                await self._census()
            return EMPTY if book.has_no_usage(org_id) else ("version", known)
        rows = await self.store.query(sql.ORG_ROWS, {"org_id": org_id})
        return ("rows", int(rows[0]["rows"]) if rows else 0)

    async def _census(self) -> None:
        """One read of which orgs have usage, shared by the callers that need it meanwhile."""
        if self._census_task is None or self._census_task.done():
            self._census_task = asyncio.ensure_future(self._count_orgs())
        await asyncio.shield(self._census_task)

    async def _count_orgs(self) -> None:
        book = self.store.versions
        token = book.census_token()
        book.counted({row["org_id"] for row in await self.store.query(sql.ORGS_WITH_USAGE)}, token)

    async def get(self, org_id: str, version: Hashable, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        return await asyncio.shield(self.start(org_id, version, key, compute))

    def start(self, org_id: str, version: Hashable, key: Hashable,
              compute: Callable[[], Awaitable[Any]]) -> asyncio.Future:
        """The value's entry, its computation started now if there is none (analytics.batch starts a read a tool
        will ask as soon as what it depends on is known)."""
        full_key = (org_id, version, key)
        task = self._entries.get(full_key)
        if task is None:
            # Its own task: callers that share it (a burst) or give up (a cancelled run) do not
            # cancel the query for the others; a failure is not cached.
            task = asyncio.ensure_future(compute())
            task.add_done_callback(lambda t: self._forget_failed(full_key, t))
            self._entries[full_key] = task
            self._trim()
        else:
            self._entries.move_to_end(full_key)
        return task

    def put(self, org_id: str, version: Hashable, key: Hashable, value: Any) -> None:
        """File a value computed elsewhere (analytics.batch); one already there or under way is kept."""
        full_key = (org_id, version, key)
        if full_key in self._entries:
            return
        done = asyncio.get_running_loop().create_future()
        done.set_result(value)
        self._entries[full_key] = done
        self._trim()

    def _forget_failed(self, key: Hashable, task: asyncio.Task) -> None:
        if task.cancelled() or task.exception() is not None:
            if self._entries.get(key) is task:
                del self._entries[key]

    def _trim(self) -> None:
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


def _hashable(value: Any) -> Hashable:
    return tuple(value) if isinstance(value, list) else value


def statement_key(sql: str, params: dict | None) -> Hashable:
    """A statement and the parameters it uses (a caller may pass more than a statement reads)."""
    used = sorted((k, _hashable(v)) for k, v in (params or {}).items() if "{" + k + ":" in sql)
    return ("sql", sql, tuple(used))


class VersionedReads(AnalyticsStore):
    """One org's reads at one usage version: a statement asked again with the same parameters (the window's
    totals by the summary, the overview and the attribution; the daily costs by the overview and the
    anomalies; the window's bounds by every tool) runs once, and every caller gets its own row dicts.

    Writes go straight to the store; a write changes the version, so a new VersionedReads reads again.
    """

    def __init__(self, cache: QueryCache, org_key: str, version: Hashable):
        self.cache = cache
        self.org_key = org_key
        self.version = version
        self.store = cache.store
        self.engine = cache.store.engine
        self.versions = cache.store.versions

    async def query(self, sql: str, params: dict | None = None) -> list[dict]:
        rows = await self.cache.get(self.org_key, self.version, statement_key(sql, params),
                                    lambda: self.store.query(sql, params))
        return [dict(row) for row in rows]  # a caller may rename a row's keys (spend_overview)

    async def command(self, sql: str, params: dict | None = None, *, usage_of: Collection[str] | None = None) -> None:
        await self.store.command(sql, params, usage_of=usage_of)

    async def insert_rows(self, rows: list[dict], *, table: str = TABLE, columns: list[str] | None = None) -> int:
        return await self.store.insert_rows(rows, table=table, columns=columns)

    async def insert_arrow(self, data: Any, *, table: str = TABLE) -> int:
        return await self.store.insert_arrow(data, table=table)

    async def close(self) -> None:
        """The store belongs to its opener."""


_caches: WeakKeyDictionary[AnalyticsStore, QueryCache] = WeakKeyDictionary()


def cache_for(store: AnalyticsStore) -> QueryCache:
    """One cache per store, so every run in the process shares it."""
    cache = _caches.get(store)
    if cache is None:
        cache = _caches[store] = QueryCache(store)
    return cache
