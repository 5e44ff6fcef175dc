"""ClickHouseServerStore over HTTP against the ClickHouse stand-in, compared with embedded chDB."""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import clickhouse_connect
import httpx
import pyarrow as pa
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from spendpilot.analytics.demo import generate_usage
from spendpilot.analytics.queries import data_profile, spend_overview, usage_summary
from spendpilot.analytics.schema import HOURLY
from spendpilot.analytics.store import ChdbStore, ClickHouseServerStore
from tests.support.clickhouse_standin import ClickHouseStandin

ROOT = Path(__file__).resolve().parents[2]
END = date(2025, 5, 31)


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    server = ClickHouseStandin(tmp_path_factory.mktemp("standin") / "chdb").start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def standin_log_on_failure(request, standin):
    yield
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        print(f"--- clickhouse stand-in log ---\n{standin.log_text()}")


@pytest.fixture
async def server_store(standin):
    store = ClickHouseServerStore(standin.url)
    await store.ensure_schema()
    yield store
    await store.close()


@pytest.fixture(scope="module")
async def chdb_store(tmp_path_factory):
    # The process's own chDB (shared with other analytics tests when they run in the same process).
    store = ChdbStore.open_shared(tmp_path_factory.mktemp("chdb"))
    await store.ensure_schema()
    yield store
    await store.close()


def as_arrow(rows: list[dict]) -> pa.Table:
    """Some rows as an Arrow table with a subset of llm_usage's columns, as the importers build them."""
    schema = pa.schema([("ts", pa.timestamp("ms", tz="UTC")), ("org_id", pa.string()), ("provider", pa.string()),
                        ("model", pa.string()), ("feature", pa.string()), ("input_tokens", pa.uint64()),
                        ("output_tokens", pa.uint64()), ("status", pa.string()), ("cost_usd", pa.float64())])
    return pa.Table.from_pylist([{k: r[k] for k in schema.names} for r in rows], schema=schema)


async def count(store, org: str, table: str = "llm_usage") -> int:
    return (await store.query(f"SELECT count() AS n FROM {table} WHERE org_id = {{org:String}}", {"org": org}))[0]["n"]


async def test_schema_inserts_queries_and_ping(server_store):
    await server_store.ensure_schema()  # a second time: everything exists, nothing is refilled
    tables = await server_store.query("SELECT name FROM system.tables WHERE database = currentDatabase()")
    names = {t["name"] for t in tables}
    assert {"llm_usage", HOURLY, f"{HOURLY}_mv"} <= names

    org = f"ins_{uuid.uuid4().hex[:8]}"
    rows = list(generate_usage(org, 1_500, days=10, seed=3, end=END))
    assert await server_store.insert_rows(rows[:1_000]) == 1_000
    assert await server_store.insert_arrow(as_arrow(rows[1_000:])) == len(rows) - 1_000
    assert await count(server_store, org) == len(rows)
    # The materialized view saw both inserts.
    hourly = await server_store.query(f"SELECT sum(row_count) AS n FROM {HOURLY} WHERE org_id = {{org:String}}",
                                      {"org": org})
    assert hourly[0]["n"] == len(rows)
    await server_store.ping()


async def test_parameters_arrive_unchanged(server_store):
    awkward = ["tab\there", "new\nline\r\n", "quote ' and \" and `", "back\\slash\\\\", "\\t not a tab", "€ ünï 😀",
               "{braces:String}", "", "x" * 10_000]  # the last is long enough to go as a form field
    for value in awkward:
        rows = await server_store.query("SELECT {v:String} AS v, length({v:String}) AS n", {"v": value})
        assert rows == [{"v": value, "n": len(value.encode())}]
    moment = datetime(2025, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC)
    rows = await server_store.query(
        "SELECT {d:Date} AS d, toString({t:DateTime64(3, 'UTC')}) AS t, {xs:Array(String)} AS xs, {n:UInt64} AS n",
        {"d": date(2025, 1, 2), "t": moment, "xs": ("a\tb", "c'd"), "n": 2**63})
    assert rows == [{"d": "2025-01-02", "t": "2025-03-04 05:06:07.890", "xs": ["a\tb", "c'd"], "n": 2**63}]


async def test_errors_carry_clickhouse_messages(server_store):
    with pytest.raises(DatabaseError) as missing:
        await server_store.query("SELECT * FROM no_such_table")
    assert missing.value.code == 60 and "UNKNOWN_TABLE" in str(missing.value) and "no_such_table" in str(missing.value)
    with pytest.raises(DatabaseError) as syntax:
        await server_store.command("SELEC 1")
    assert syntax.value.code == 62 and "Syntax error" in str(syntax.value)
    with pytest.raises(DatabaseError, match="CANNOT_PARSE"):
        await server_store.insert_rows([{"ts": "not a time", "org_id": "bad"}])
    await server_store.ping()  # still answering


async def test_usage_summary_matches_embedded_chdb(server_store, chdb_store):
    org = f"cmp_{uuid.uuid4().hex[:8]}"
    rows = list(generate_usage(org, 6_000, days=40, seed=11, end=END))
    for store in (server_store, chdb_store):
        await store.insert_rows(rows[:4_000])
        await store.insert_arrow(as_arrow(rows[4_000:]))

    async def report(store) -> dict:
        out = {}
        for window in [(None, None), (END - timedelta(days=14), END - timedelta(days=3))]:
            for group_by in ("model", "provider", "feature", "day"):
                out[window, group_by] = await usage_summary(store, org, *window, group_by=group_by)
            out[window, "overview"] = await spend_overview(store, org, *window)
        out["profile"] = await data_profile(store, org)
        return out

    via_server, via_chdb = await report(server_store), await report(chdb_store)
    assert via_server == via_chdb
    assert via_server[(None, None), "model"]["total_requests"] >= len(rows)


CLIENT = """
import asyncio, json, sys, time
from datetime import UTC, datetime, timedelta
from spendpilot.analytics.store import ClickHouseServerStore

url, mine, other, batches, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
start = datetime(2025, 5, 1, tzinfo=UTC)
COUNT = "SELECT count() AS n FROM llm_usage WHERE org_id = {org:String}"

async def main():
    store = ClickHouseServerStore(url)
    await store.ensure_schema()  # what every Spendpilot process does at start-up
    async def batch(b):
        rows = [{"ts": start + timedelta(seconds=b * size + i), "org_id": mine, "model": "gpt-4o",
                 "provider": "openai", "input_tokens": i, "output_tokens": b, "cost_usd": 0.001}
                for i in range(size)]
        await store.insert_rows(rows)
        return (await store.query(COUNT, {"org": other}))[0]["n"]
    # The first batch, then wait for the other process's first: both are now writing at the same time.
    first = await batch(0)
    deadline = time.monotonic() + 60
    while (await store.query(COUNT, {"org": other}))[0]["n"] == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    seen_while_writing = [first, *await asyncio.gather(*(batch(b) for b in range(1, batches)))]
    while (seen := (await store.query(COUNT, {"org": other}))[0]["n"]) < batches * size and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    mine_n = (await store.query(COUNT, {"org": mine}))[0]["n"]
    await store.close()
    print(json.dumps({"mine": mine_n, "other": seen, "seen_while_writing": seen_while_writing}))

asyncio.run(main())
"""


async def test_two_processes_see_each_others_rows(server_store, standin):
    tag = uuid.uuid4().hex[:8]
    batches, size = 12, 250
    orgs = [f"proc_a_{tag}", f"proc_b_{tag}"]
    clients = [await asyncio.create_subprocess_exec(sys.executable, "-c", CLIENT, standin.url, mine, other,
                                                    str(batches), str(size), cwd=ROOT,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
               for mine, other in (orgs, orgs[::-1])]
    results = []
    for client in clients:
        out, err = await asyncio.wait_for(client.communicate(), timeout=180)
        assert client.returncode == 0, err.decode()
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    for result in results:
        assert result["mine"] == result["other"] == batches * size
        assert max(result["seen_while_writing"][1:]) > 0  # reads saw the other's rows mid-way
    for org in orgs:
        assert await count(server_store, org) == batches * size


async def test_rows_survive_kill_and_restart(server_store, standin):
    org = f"kill_{uuid.uuid4().hex[:8]}"
    await server_store.insert_rows(list(generate_usage(org, 300, days=3, seed=2, end=END)))
    before = await count(server_store, org)
    standin.kill()
    standin.start()
    # The same client reconnects: reads are retried over a fresh connection.
    assert await count(server_store, org) == before > 0


def test_compressed_bodies_and_native_results(standin):
    from backports import zstd

    table = f"t_{uuid.uuid4().hex[:8]}"
    for compress in (True, "zstd", "gzip"):  # True: the client's default, lz4
        client = clickhouse_connect.get_client(dsn=standin.url, compress=compress)
        client.command(f"CREATE TABLE IF NOT EXISTS {table} (a UInt64, s LowCardinality(String), n Nullable(UInt32)) "
                       "ENGINE = MergeTree ORDER BY a")
        client.insert(table, [[1, "tab\tin", None], [2, "two", 7]], column_names=["a", "s", "n"])  # Native blocks
        client.close()
    client = clickhouse_connect.get_client(dsn=standin.url)
    rows = b'{"a": 3, "s": "json", "n": 1}\n'
    client.raw_insert(table, ["a", "s", "n"], insert_block=zstd.compress(rows), fmt="JSONEachRow", compression="zstd")
    client.raw_insert(table, ["a", "s", "n"], insert_block=gzip.compress(rows), fmt="JSONEachRow", compression="gzip")
    result = client.query(f"SELECT a, s, n, count() AS c FROM {table} GROUP BY a, s, n ORDER BY a")
    assert result.result_rows == [(1, "tab\tin", None, 3), (2, "two", 7, 3), (3, "json", 1, 2)]
    assert client.query(f"SELECT * FROM {table} LIMIT 0").column_names == ("a", "s", "n")
    client.command(f"DROP TABLE {table}")
    client.close()


def test_http_surface(standin):
    params = {"query": "SELECT 1 AS x", "default_format": "JSONEachRow", "query_id": "q1"}
    answer = httpx.get(standin.url, params=params)
    assert answer.text == '{"x":1}\n'
    assert answer.headers["X-ClickHouse-Format"] == "JSONEachRow" and answer.headers["X-ClickHouse-Query-Id"] == "q1"
    assert json.loads(answer.headers["X-ClickHouse-Summary"])["read_rows"] == "1"
    assert answer.headers["X-ClickHouse-Timezone"]
    # The URL's query continues in the body, as on a server.
    assert httpx.post(standin.url, params={"query": "SELECT"}, content=b"2, 'a'").text == "2\ta\n"
    assert httpx.get(f"{standin.url}/ping").text == httpx.get(standin.url).text == "Ok.\n"
    bad = httpx.post(standin.url, params={"no_such_setting": "1"}, content=b"SELECT 1")
    assert bad.status_code == 400 and bad.headers["X-ClickHouse-Exception-Code"] == "115"
    assert bad.text.startswith("Code: 115. DB::Exception:")
    # A setting lasts for its request only.
    setting = "SELECT value FROM system.settings WHERE name = 'max_block_size'"
    default = httpx.post(standin.url, content=setting.encode()).text
    assert httpx.post(standin.url, params={"max_block_size": "1234"}, content=setting.encode()).text == "1234\n"
    assert httpx.post(standin.url, content=setting.encode()).text == default != "1234\n"
    # A result larger than one response chunk arrives whole.
    big = httpx.post(standin.url, content=b"SELECT number FROM numbers(300000)")
    assert big.content == "".join(f"{n}\n" for n in range(300_000)).encode()


async def test_spendpilot_up_uses_the_standin(server_store, standin, make_server):
    server = make_server(env={"SPENDPILOT_CLICKHOUSE_URL": standin.url})
    async with httpx.AsyncClient(base_url=server.url) as http:
        login = await http.post("/auth/login", json={"email": server.demo_email, "password": server.demo_password})
        http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        served = (await http.get("/api/usage/summary", params={"group_by": "feature"})).json()
    # The demo data went to the stand-in, and the API's figures come from it.
    assert await count(server_store, "org_demo") > 50_000
    assert served == await usage_summary(server_store, "org_demo", group_by="feature")
