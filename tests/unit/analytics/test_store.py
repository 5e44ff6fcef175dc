"""The analytics store on real chDB: parameter binding, ping, schema and engine choice."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from spendpilot.analytics import store as store_module
from spendpilot.analytics.store import ChdbStore, ClickHouseServerStore, open_analytics
from spendpilot.config import Settings


async def test_ping_answers(store):
    await store.ping()
    assert store.engine == "chdb"


@pytest.mark.parametrize(
    "value",
    ["it's", "x' OR 1=1 --", "tab\there", "new\nline", "back\\slash", "literal \\n", "{org_id:String}", "ünïcode"],
)
async def test_string_parameters_round_trip_exactly(store, value):
    rows = await store.query("SELECT {v:String} AS v, length({v:String}) AS n", {"v": value})
    assert rows == [{"v": value, "n": len(value.encode())}]


async def test_hostile_org_id_matches_nothing_but_itself(store, org_id):
    ts = datetime(2025, 1, 1, tzinfo=UTC)
    hostile = "x' OR '1'='1"
    await store.insert_rows([
        {"ts": ts, "org_id": org_id, "model": "gpt-4o", "cost_usd": 1.0},
        {"ts": ts, "org_id": hostile, "model": "gpt-4o", "cost_usd": 2.0},
    ])
    count = "SELECT count() AS n, sum(cost_usd) AS c FROM llm_usage WHERE org_id = {org_id:String}"
    assert await store.query(count, {"org_id": hostile}) == [{"n": 1, "c": 2.0}]
    assert await store.query(count, {"org_id": org_id}) == [{"n": 1, "c": 1.0}]


async def test_inserted_rows_get_defaults_and_an_engine_computed_key(store, org_id):
    ts = datetime(2025, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)
    base = {"ts": ts, "org_id": org_id, "model": "gpt-4o", "input_tokens": 5}
    # A caller-supplied row_key is ignored: the engine always computes it.
    await store.insert_rows([base, {**base, "input_tokens": 6, "row_key": 42}])
    rows = await store.query(
        "SELECT toString(ts) AS ts, requests, priced, latency_ms, status, row_key FROM llm_usage "
        "WHERE org_id = {org_id:String} ORDER BY input_tokens",
        {"org_id": org_id},
    )
    assert [r["ts"] for r in rows] == ["2025-01-01 12:00:00.123"] * 2
    assert [(r["requests"], r["priced"], r["latency_ms"], r["status"]) for r in rows] == [(1, 1, None, "")] * 2
    assert rows[0]["row_key"] != rows[1]["row_key"] and 42 not in {r["row_key"] for r in rows}


async def test_open_analytics_uses_chdb_without_a_url_and_creates_the_table(store, tmp_path):
    opened = open_analytics(Settings(data_dir=tmp_path))
    try:
        # One chDB per process: the open store is shared rather than a second one failing.
        assert opened is store and isinstance(opened, ChdbStore)
        tables = await opened.query("SELECT name FROM system.tables WHERE name = 'llm_usage'")
        assert tables == [{"name": "llm_usage"}]
    finally:
        await opened.close()
    await store.ping()  # closing a shared handle leaves the session open for the others


def test_open_analytics_uses_a_server_when_a_url_is_set(monkeypatch):
    created = []

    async def fake_schema(self):
        created.append(self.url)

    monkeypatch.setattr(ClickHouseServerStore, "ensure_schema", fake_schema)
    opened = open_analytics(Settings(clickhouse_url="http://default:pw@ch.example:8123/analytics"))
    assert isinstance(opened, ClickHouseServerStore) and opened.engine == "clickhouse"
    assert created == ["http://default:pw@ch.example:8123/analytics"]


def test_the_same_settings_go_to_both_engines():
    # Both adapters send these; results decode identically only if they agree.
    assert store_module.OUTPUT_SETTINGS["output_format_json_quote_64bit_integers"] == 0
    assert store_module.OUTPUT_SETTINGS["prefer_column_name_to_alias"] == 1


async def test_a_missing_rollup_view_is_recreated_and_refilled(store, org_id):
    from spendpilot.analytics.demo import generate_usage
    from spendpilot.analytics.queries import spend_overview, usage_summary

    await store.insert_rows(list(generate_usage(org_id, 2_000, days=10, seed=2, end=datetime(2025, 1, 10).date())))
    before = (await usage_summary(store, org_id, group_by="day"), await spend_overview(store, org_id))
    await store.command("DROP VIEW llm_usage_hourly_mv")
    await store.ensure_schema()
    after = (await usage_summary(store, org_id, group_by="day"), await spend_overview(store, org_id))
    assert after[0] == before[0]
    assert after[1] == before[1]
    assert before[0]["total_requests"] >= 1_900
