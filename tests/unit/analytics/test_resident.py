"""Memory an import gives back: the engine's freed pages purged between batches, glibc's arenas capped."""

from __future__ import annotations

import sys

import pytest

from spendpilot.analytics import resident


async def test_release_memory_purges_and_the_engine_still_answers(store):
    await store.query("SELECT count() AS n FROM llm_usage")
    await store.release_memory()  # SYSTEM JEMALLOC PURGE: a statement chDB must accept
    rows = await store.query("SELECT sum(number) AS s FROM numbers(1000)")
    assert rows == [{"s": 499500}]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_arena_cap_is_taken_by_glibc(store):
    # The store caps arenas when it opens, before the engine starts its threads.
    assert resident._arenas_capped
