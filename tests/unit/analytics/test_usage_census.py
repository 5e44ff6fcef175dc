"""Orgs known to have no usage: one census of the orgs with rows, kept up by every write since, so a new org's
first run asks the engine nothing it already knows, and gets exactly the answers the engine gives for no rows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from spendpilot.analytics import queries, sql
from spendpilot.analytics.cache import EMPTY, cache_for
from spendpilot.analytics.catalog import OrgUsage
from spendpilot.analytics.rows import build_row
from spendpilot.analytics.versions import LocalVersions


def rows(org_id: str, count: int) -> list[dict]:
    return [build_row(org_id, ts=datetime(2026, 3, 2, 9, minute, tzinfo=UTC), model="gpt-4o-mini",
                      provider="openai", input_tokens=100, output_tokens=10) for minute in range(count)]


async def test_new_orgs_are_known_empty_from_one_census_until_their_first_row(store, org_id, monkeypatch):
    stocked = org_id + "_stocked"
    await store.insert_rows(rows(stocked, 3))
    # A process that starts on a store holding usage from before: its book has seen none of those writes.
    monkeypatch.setattr(store, "versions", LocalVersions())
    sent: list[str] = []
    original = store.query

    async def query(statement, params=None):
        sent.append(statement)
        return await original(statement, params)

    monkeypatch.setattr(store, "query", query)
    cache = cache_for(store)
    newcomers = [f"{org_id}_new{n}" for n in range(20)]
    versions = await asyncio.gather(cache.version(stocked), *(cache.version(org) for org in newcomers))
    assert versions[0] != EMPTY and set(versions[1:]) == {EMPTY}
    # One census for the whole burst, and no org counted on its own.
    assert sent.count(sql.ORGS_WITH_USAGE) == 1 and sql.ORG_ROWS not in sent

    # An empty org's answers are the engine's own for an org without rows.
    profile = await OrgUsage(store, org_id).profile()
    assert profile == await queries.data_profile(original_store_reads(original), org_id)
    assert profile["rows"] == 0

    # Its first row (a named write, as imports, intake and the demo make): no longer empty, and counted.
    await store.insert_rows(rows(org_id, 1))
    assert await cache.version(org_id) != EMPTY
    assert (await OrgUsage(store, org_id).profile())["rows"] == 1
    assert sent.count(sql.ORGS_WITH_USAGE) == 1


def original_store_reads(query):
    """A reader that goes straight to the engine (no cache), for the reference answer."""

    class Direct:
        async def query(self, statement, params=None):
            return await query(statement, params)

    return Direct()


async def test_a_census_keeps_the_writes_it_raced_and_a_write_naming_no_org_makes_it_count_again():
    book = LocalVersions()
    assert book.census_due() and not book.has_no_usage("anyone")  # nothing is known before a census
    token = book.census_token()
    await book.changed({"late"})  # lands while the census reads
    book.counted({"early"}, token)
    assert not book.census_due()
    assert not book.has_no_usage("early") and not book.has_no_usage("late") and book.has_no_usage("new")
    await book.changed({"new"})
    assert not book.has_no_usage("new")

    # A write that names no org (a merge of several) may have given any org rows: nobody is known empty.
    await book.changed(None)
    assert book.census_due() and not book.has_no_usage("other")
    token = book.census_token()
    await book.changed(None)  # and if one lands during the census, that census is not used
    book.counted(set(), token)
    assert book.census_due() and not book.has_no_usage("other")
