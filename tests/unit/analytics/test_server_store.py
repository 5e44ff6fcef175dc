"""ClickHouseServerStore sends the shared SQL and decodes results exactly like ChdbStore.

No ClickHouse server runs here, so the adapter gets a client that stands in for
clickhouse-connect's HTTP client: it binds parameters with clickhouse-connect's own
``bind_query`` (what the real client sends as ``param_*``) and executes the resulting
text on the shared chDB session. Every SQL string the adapter sends is recorded and must
come from analytics/sql.py or the schema module.
"""

from __future__ import annotations

import io
import re
import sys
import uuid
from datetime import date

import pytest
from clickhouse_connect.driver.binding import bind_query

from spendpilot.analytics import schema, sql
from spendpilot.analytics.analyses import REGISTRY, SAVINGS
from spendpilot.analytics.analyses.anomalies import find_anomalies
from spendpilot.analytics.demo import generate_usage
from spendpilot.analytics.importers import import_usage, overlap
from spendpilot.analytics.queries import data_profile, spend_overview, usage_summary
from spendpilot.analytics.store import OUTPUT_SETTINGS, ClickHouseServerStore

STAGING = re.compile(r"llm_usage_import_[0-9a-f]{32}")


class ChdbBackedClient:
    """The subset of clickhouse_connect.driver.Client the adapter uses, over chDB."""

    def __init__(self, chdb_store):
        self.chdb = chdb_store
        self.sent: list[str] = []
        self.closed = False

    def _on_chdb(self, fn):
        return self.chdb._worker._executor.submit(fn).result()

    def _bound(self, query, parameters):
        final, bound = bind_query(query, parameters)
        assert final == query.rstrip(";")  # server-side binding: the text itself is unchanged
        return {k.removeprefix("param_"): v for k, v in bound.items()}

    def raw_query(self, query, parameters=None, settings=None, fmt=None, **_):
        self.sent.append(query)
        assert fmt == "JSONEachRow" and settings == OUTPUT_SETTINGS
        params = self._bound(query, parameters)
        return self._on_chdb(lambda: self.chdb._session.query(query, fmt, params=params or None).bytes())

    def command(self, cmd, parameters=None, **_):
        self.sent.append(cmd)
        params = self._bound(cmd, parameters)
        self._on_chdb(lambda: self.chdb._session.query(cmd, "JSONEachRow", params=params or None))

    def raw_insert(self, table, column_names=None, insert_block=None, settings=None, fmt=None, **_):
        cols = ", ".join(f"`{c}`" for c in column_names)
        opts = ", ".join(f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}" for k, v in settings.items())
        statement = f"INSERT INTO {table} ({cols}) SETTINGS {opts}"

        def insert():
            with self.chdb._session.send_insert(statement, fmt) as ins:
                ins.append(insert_block)
                ins.finish()

        self._on_chdb(insert)

    def close(self):
        self.closed = True


def allowed_sql() -> set[str]:
    texts = {v for v in vars(sql).values() if isinstance(v, str)}
    for analysis in REGISTRY:  # each analysis keeps its SQL in its own module
        texts |= {v for v in vars(sys.modules[analysis.run.__module__]).values() if isinstance(v, str)}
    texts |= set(sql.SUMMARY_BY.values())
    texts |= {schema.CREATE_TABLE, schema.ALTER_DEFAULTS, schema.MATERIALIZE_PROMPT_KEY}
    for table, ddl, select in schema.ROLLUPS:
        texts |= {ddl, schema.create_view(table, select), schema.backfill(table, select), sql.truncate_table(table)}
    name, numbering, seen = "llm_usage_import_x", "llm_usage_import_x_n", "llm_usage_import_x_seen"
    texts |= {f(name) for f in (sql.create_staging, sql.drop_staging, sql.truncate_table, sql.staging_counts)}
    texts |= {sql.merge_staging(n, schema.INSERT_COLUMNS) for n in (name, numbering)}
    texts |= {sql.staging_counts(numbering), sql.repeats(numbering, seen),
              sql.RECORD_SEEN_RANGE.format(seen=seen)}
    texts |= {*sql.create_numbering(numbering), sql.create_seen(seen), sql.drop_staging(numbering),
              sql.drop_staging(seen), sql.truncate_table(numbering), sql.record_seen(numbering, seen),
              sql.number_rows(numbering, name, seen, schema.INSERT_COLUMNS), overlap._OTHER}
    return texts


@pytest.fixture
async def server(store):
    client = ChdbBackedClient(store)
    adapter = ClickHouseServerStore("http://clickhouse.invalid:8123", client=client)
    yield adapter, client
    await adapter.close()
    assert client.closed


async def everything(store, org, start=None, end=None) -> dict:
    out = {
        "summary": {g: await usage_summary(store, org, start, end, g) for g in ("model", "provider", "feature", "day")},
        "profile": await data_profile(store, org),
        "overview": await spend_overview(store, org, start, end),
        "anomalies": await find_anomalies(store, org, start, end),
    }
    for analysis in SAVINGS:
        out[analysis.name] = await analysis.run(store, org, start, end)
    return out


async def test_queries_and_analyses_are_identical_on_both_adapters(store, server):
    adapter, client = server
    org = f"srv_{uuid.uuid4().hex[:8]}"
    await store.insert_rows(list(generate_usage(org, 12_000, days=45, seed=4, end=date(2025, 5, 31))))
    await adapter.ping()
    await adapter.ensure_schema()  # idempotent: tables and views exist, nothing is refilled
    assert adapter.engine == "clickhouse"

    for window in [(None, None), (date(2025, 5, 1), date(2025, 5, 20))]:
        via_chdb = await everything(store, org, *window)
        via_server = await everything(adapter, org, *window)
        assert via_server == via_chdb
    assert sum(len(via_chdb[a.name]) for a in SAVINGS) == len(SAVINGS)  # all planted waste found
    assert client.sent and set(client.sent) <= allowed_sql()


async def test_imports_write_the_same_rows_through_both_adapters(store, server, tmp_path):
    adapter, client = server
    csv_text = "ts,model,provider,input_tokens,output_tokens,status\n" + "".join(
        f"2025-02-{1 + i % 20:02d}T10:00:{i % 60:02d}Z,gpt-4o,openai,{100 + i},{i % 40},ok\n" for i in range(500)
    )
    jsonl_text = (
        '{"ts": "2025-02-03T01:02:03Z", "model": "claude-haiku-4-5", "input_tokens": 9, "output_tokens": 2}\n'
        "not json\n"
    )
    reports = {}
    for name, adapter_store in (("chdb", store), ("server", adapter)):
        org = f"imp_{name}_{uuid.uuid4().hex[:8]}"
        first = await import_usage(adapter_store, org, io.BytesIO(csv_text.encode()))
        again = await import_usage(adapter_store, org, io.BytesIO(csv_text.encode()))
        lines = await import_usage(adapter_store, org, io.BytesIO(jsonl_text.encode()))
        reports[name] = (first, again, lines, await usage_summary(adapter_store, org, group_by="day"))
    assert reports["server"] == reports["chdb"]
    first, again, lines, summary = reports["server"]
    assert (first["imported"], again["imported"], again["duplicates"]) == (500, 0, 500)
    assert lines["imported"] == 1 and lines["rejected"][0]["line"] == 2
    assert summary["total_requests"] == 501
    sent = {STAGING.sub("llm_usage_import_x", s) for s in client.sent}
    assert sent <= allowed_sql()
