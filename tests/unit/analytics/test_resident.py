"""Dropping chDB's resident code pages: the process holds less, and the engine still answers."""

from __future__ import annotations

import os
import sys

import chdb._chdb
import pytest

from spendpilot.analytics.resident import _clean_mappings, drop_clean_code

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc only")

LIBRARY = os.path.realpath(str(chdb._chdb.__file__))


def resident_kb() -> int:
    return sum(rss for _, _, rss in _clean_mappings(LIBRARY))


async def test_release_memory_drops_engine_code_and_queries_still_run(store):
    await store.query("SELECT count() AS n FROM llm_usage")
    before = resident_kb()
    assert before > 10_000  # the engine's code read so far is resident
    await store.release_memory(code=True)
    # What the few statements between the drop and this check run comes back; most does not.
    assert resident_kb() < before / 2
    rows = await store.query("SELECT sum(number) AS s FROM numbers(1000)")
    assert rows == [{"s": 499500}]


def written_mappings() -> set[int]:
    """Start addresses of the library's mappings that are writable or hold pages written since load."""
    found, start, path, perms = set(), 0, "", ""
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and ":" not in fields[0]:
                start, perms, path = int(fields[0].split("-")[0], 16), fields[1], fields[-1]
                if path == LIBRARY and "w" in perms:
                    found.add(start)
            elif path == LIBRARY and fields[0] in ("Anonymous:", "Private_Dirty:") and int(fields[1]):
                found.add(start)
    return found


async def test_written_mappings_are_never_dropped(store):
    await store.ping()
    written = written_mappings()
    # The relocated (RELRO) and data mappings are written at load: dropping them would lose the writes.
    assert written
    assert not written & {start for start, _, _ in _clean_mappings(LIBRARY)}
    assert drop_clean_code("/nonexistent/library.so") == 0
