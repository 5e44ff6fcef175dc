"""Analysis results per org, reused until the org's usage changes (single-flight under bursts)."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any
from weakref import WeakKeyDictionary

from spendpilot.analytics import sql
from spendpilot.analytics.store import AnalyticsStore


class QueryCache:
    def __init__(self, store: AnalyticsStore, max_entries: int = 4096):
        self.store = store
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, asyncio.Task] = OrderedDict()

    async def version(self, org_id: str) -> int:
        rows = await self.store.query(sql.ORG_ROWS, {"org_id": org_id})
        return int(rows[0]["rows"]) if rows else 0

    async def get(self, org_id: str, version: int, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
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
        return await asyncio.shield(task)

    def _forget_failed(self, key: Hashable, task: asyncio.Task) -> None:
        if task.cancelled() or task.exception() is not None:
            if self._entries.get(key) is task:
                del self._entries[key]

    def _trim(self) -> None:
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


_caches: WeakKeyDictionary[AnalyticsStore, QueryCache] = WeakKeyDictionary()


def cache_for(store: AnalyticsStore) -> QueryCache:
    """One cache per store, so every run in the process shares it."""
    cache = _caches.get(store)
    if cache is None:
        cache = _caches[store] = QueryCache(store)
    return cache
