"""Cached analysis results: keyed by a usage version the writers change (no query), reads of several orgs at once
(analytics.batch) give every org exactly its own figures, and the rollups fill whatever the writer's settings."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from spendpilot.analytics import sql
from spendpilot.analytics.batch import batcher_for, for_orgs, suite_reads
from spendpilot.analytics.catalog import TOOLS, OrgUsage
from spendpilot.analytics.demo import generate_usage
from spendpilot.analytics.schema import ROLLUPS
from spendpilot.analytics.store import ClickHouseServerStore
from spendpilot.analytics.versions import LocalVersions, written_by_statement
from spendpilot.analytics.window import Period

END = date(2025, 3, 31)


class Counting:
    """Counts the statements a store runs, by their text."""

    def __init__(self, store, monkeypatch):
        self.sent: list[str] = []
        original = store.query

        async def query(statement, params=None):
            self.sent.append(statement)
            return await original(statement, params)

        monkeypatch.setattr(store, "query", query)


async def full_analysis(usage: OrgUsage, period: Period | None = None) -> dict:
    """The catalogue tools the pipeline's full analysis calls, in its order, and every summary of the rollup."""
    args = {"from": period.start.isoformat(), "to": period.end.isoformat()} if period else {}
    out = {"profile_usage": await TOOLS["profile_usage"].run(usage, TOOLS["profile_usage"].arguments())}
    calls = [*(("usage_summary", {**args, "group_by": group}) for group in ("model", "provider", "feature", "day")),
             ("spend_overview", args), ("usage_summary", {**args, "group_by": "user"}),
             *((n, args) for n in TOOLS if n.startswith("find_"))]
    for name, tool_args in calls:
        out[f"{name}:{tool_args.get('group_by', '')}"] = await TOOLS[name].run(
            usage, TOOLS[name].arguments.model_validate(tool_args))
    return out


async def seeded(store, org_id: str, seed: int, rows: int = 3_000) -> None:
    await store.insert_rows(list(generate_usage(org_id, rows, days=40, seed=seed, end=END)))


async def test_a_second_run_at_the_same_version_asks_the_engine_nothing(store, org_id, monkeypatch):
    await seeded(store, org_id, seed=3)
    first = await full_analysis(OrgUsage(store, org_id))
    counting = Counting(store, monkeypatch)
    again = await full_analysis(OrgUsage(store, org_id))
    assert again == first
    assert counting.sent == []  # not even a row count to key the cache


async def test_a_write_changes_the_version_and_the_answers(store, org_id):
    await seeded(store, org_id, seed=4)
    before = await OrgUsage(store, org_id).summary(Period(), "model")
    await store.insert_rows(list(generate_usage(org_id, 500, days=5, seed=5, end=END)))
    after = await OrgUsage(store, org_id).summary(Period(), "model")
    assert after["total_requests"] > before["total_requests"]


async def test_an_org_without_writes_reads_its_rows_once_and_is_answered_again_from_the_cache(store, monkeypatch):
    empty = f"org_{uuid.uuid4().hex[:12]}"
    counting = Counting(store, monkeypatch)
    assert (await OrgUsage(store, empty).profile())["rows"] == 0
    asked = len(counting.sent)
    assert (await OrgUsage(store, empty).profile())["rows"] == 0
    assert len(counting.sent) == asked and sql.ORG_ROWS not in counting.sent


def test_which_statements_write_usage():
    assert written_by_statement(sql.merge_staging("llm_usage_import_x", ["ts"]), {"org_id": "a"}) == {"a"}
    assert written_by_statement(sql.merge_intake("llm_usage_intake_x"), None) is None  # orgs not named
    assert written_by_statement("INSERT INTO llm_usage_hourly SELECT 1", None) is False
    assert written_by_statement(sql.ORG_ROWS, {"org_id": "a"}) is False


async def test_local_versions_change_per_org_and_for_unnamed_orgs():
    book = LocalVersions()
    a, b = await book.current("a"), await book.current("b")
    await book.changed({"a"})
    assert await book.current("a") != a and await book.current("b") == b
    await book.changed(None)
    assert await book.current("b") != b


async def test_a_server_store_without_shared_versions_counts_rows(monkeypatch):
    server = ClickHouseServerStore("http://localhost:1")
    asked = []

    async def query(statement, params=None):
        asked.append(statement)
        return [{"rows": 7}]

    monkeypatch.setattr(server, "query", query)
    from spendpilot.analytics.cache import QueryCache

    assert await QueryCache(server).version("org_x") == ("rows", 7)
    assert asked == [sql.ORG_ROWS]
    await server.close()


async def test_orgs_read_together_get_exactly_their_own_figures(store, monkeypatch):
    orgs = [f"org_{uuid.uuid4().hex[:12]}" for _ in range(4)]
    for seed, org in enumerate(orgs, start=10):
        await seeded(store, org, seed=seed, rows=1_500 + 400 * seed)
    await store.insert_rows(list(generate_usage(orgs[0], 300, days=3, seed=1, end=date(2025, 6, 1))))
    # Each org read on its own, through a cache that never saw the batch.
    alone = {}
    for org in orgs:
        from spendpilot.analytics.cache import QueryCache, VersionedReads

        usage = OrgUsage(store, org)
        monkeypatch.setattr(usage, "_cached", _uncached(store, org, QueryCache, VersionedReads))
        alone[org] = await full_analysis(usage, None)
    await store.usage_written(None)  # a new version for every org: nothing cached from the runs above
    usages = {org: OrgUsage(store, org) for org in orgs}
    import asyncio

    profiles = await asyncio.gather(*(u.profile() for u in usages.values()))
    # Half of them ask for their whole usage by its days, half with open ends (read before their bounds are known).
    periods = {org: Period(date.fromisoformat(p["first_day"]), date.fromisoformat(p["last_day"])) if i % 2
               else Period() for i, (org, p) in enumerate(zip(orgs, profiles, strict=True))}
    await asyncio.gather(*(usages[org].warm(periods[org]) for org in orgs))
    counting = Counting(store, monkeypatch)
    together = {org: await full_analysis(usages[org], periods[org] if periods[org].start else None) for org in orgs}
    # Every read of the suite was filed by the batch, the retry search's follow-up (asked only about features whose
    # failures qualify) started by it once the failures were read.
    assert counting.sent == []
    for org in orgs:
        assert together[org] == alone[org]


async def test_an_org_alone_reads_the_hourly_rollup_once_and_gets_exactly_its_own_figures(store, org_id,
                                                                                          monkeypatch):
    await seeded(store, org_id, seed=12)
    from spendpilot.analytics.cache import QueryCache, VersionedReads

    usage = OrgUsage(store, org_id)
    monkeypatch.setattr(usage, "_cached", _uncached(store, org_id, QueryCache, VersionedReads))
    alone = await full_analysis(usage, None)
    await store.usage_written([org_id])
    usage = OrgUsage(store, org_id)
    await usage.profile()
    counting = Counting(store, monkeypatch)
    await usage.warm(Period())
    hourly = [statement for statement in counting.sent if "llm_usage_hourly" in statement]
    assert len(hourly) == 1 and "GROUPING SETS" in hourly[0]
    warmed = len(counting.sent)
    assert await full_analysis(usage, None) == alone
    # The retry search's follow-up was started as soon as the failures were read, beside the other reads; left to
    # the tools: the user breakdown (asked only when calls name users).
    assert len([statement for statement in counting.sent[:warmed] if "retry_window_s" in statement]) == 1
    left = counting.sent[warmed:]
    assert len(left) == 1 and "user AS key" in left[0]


def _uncached(store, org, cache_type, reads_type):
    async def cached(key, compute):
        cache = cache_type(store)
        return await compute(reads_type(cache, org, ("rows", -1)))

    return cached


def test_every_suite_read_has_a_form_for_several_orgs():
    bounds = {"rows": 1, "first_day": "2025-01-01", "last_day": "2025-01-31"}
    for statement, _params, batched in suite_reads("org_x", bounds):
        assert batched is not None, statement
        assert "{orgs:Array(String)}" in batched and "{org_id:" not in batched
    assert for_orgs(sql.ORG_BOUNDS) is not None


async def test_a_failed_batch_leaves_the_tools_to_read_for_themselves(store, org_id, monkeypatch):
    await seeded(store, org_id, seed=6)
    batcher = batcher_for(store)

    async def broken(*_args, **_kwargs):
        raise RuntimeError("engine gone")

    monkeypatch.setattr(batcher, "_rows", broken)
    usage = OrgUsage(store, org_id)
    await usage.warm(Period())
    assert (await usage.summary(Period(), "model"))["total_requests"] >= 2_900


@pytest.mark.parametrize("table", [table for table, _, _ in ROLLUPS])
async def test_rollups_fill_the_same_whatever_the_writers_alias_setting(store, org_id, table):
    # The views must not rely on prefer_column_name_to_alias=1 in the writer's session.
    values = ", ".join([
        "('2025-01-01 00:00:00', {org}, 'openai', 'gpt-4o', 'f', 3, 10, 4, 'error', 'abc', 'p', 2000, 64, 900, 1.5)",
        "('2025-01-01 00:01:00', {org}, 'openai', 'gpt-4o', 'f', 1, 5, 2, 'ok', 'abc', 'p', 2000, 64, 1234, 0.5)",
    ])
    columns = ("ts, org_id, provider, model, feature, requests, input_tokens, cached_input_tokens, status, "
               "prompt_hash, prompt_prefix_hash, prompt_prefix_tokens, max_tokens, latency_ms, cost_usd")
    for setting, org in ((1, org_id), (0, org_id + "_b")):
        await store.command(f"INSERT INTO llm_usage ({columns}) SETTINGS prefer_column_name_to_alias = {setting} "
                            f"VALUES {values.format(org=repr(org))}")
    statement = f"SELECT * EXCEPT org_id FROM {table} WHERE org_id = {{o:String}} ORDER BY ALL"
    first = await store.query(statement, {"o": org_id})
    assert first and await store.query(statement, {"o": org_id + "_b"}) == first
