"""`spendpilot serve` refuses to start, naming SPENDPILOT_CLICKHOUSE_URL, whenever analytics would not be shared."""

from __future__ import annotations

import asyncio

import pytest

from spendpilot.config import Settings
from spendpilot.server.preflight import split_problem
from tests.integration.cluster import Proc
from tests.support.clickhouse_standin import ClickHouseStandin
from tests.support.client import register

pytestmark = pytest.mark.services

CLICKHOUSE_URL = "SPENDPILOT_CLICKHOUSE_URL"


def refused(cluster, role: str, env: dict) -> str:
    """Start one process of `role` that must refuse: exit code 2, one clear message and no traceback."""
    proc = Proc(role, cluster.root / f"refused-{role}{len(cluster.procs)}", {**cluster.env, **env})
    cluster.procs.append(proc)
    code = proc.launch().wait_exit(timeout=120)
    text = " ".join(proc.log_text().split())
    assert code == 2, text
    assert "Traceback" not in text, text
    return text


@pytest.mark.parametrize("role", ["api", "worker"])
def test_api_and_worker_refuse_without_clickhouse_url(make_cluster, role):
    cluster = make_cluster()
    text = refused(cluster, role, {CLICKHOUSE_URL: ""})
    assert f"{CLICKHOUSE_URL} is not set; the {role} role shares the analytics store" in text
    assert "embedded chDB cannot be shared" in text


def test_the_settings_rule_keeps_chdb_for_one_process_only():
    base = {"redis_url": "redis://127.0.0.1:6379/0", "database_url": "postgresql://db/spendpilot"}
    for role in ("api", "worker"):
        assert CLICKHOUSE_URL in (split_problem(Settings(role=role, **base)) or "")
        assert split_problem(Settings(role=role, clickhouse_url="http://ch:8123", **base)) is None
    assert split_problem(Settings(role="all", **base)) is None


def test_a_clickhouse_that_does_not_answer_is_named(make_cluster):
    from tests.support.server import free_port

    cluster = make_cluster()
    text = refused(cluster, "worker", {CLICKHOUSE_URL: f"http://127.0.0.1:{free_port()}"})
    assert "does not answer" in text and f"start it or fix {CLICKHOUSE_URL}" in text


async def test_one_serve_all_keeps_chdb_and_no_second_process_may_join_it(make_cluster):
    cluster = make_cluster()
    [alone] = await cluster.astart(["all"], env={CLICKHOUSE_URL: ""})
    # One process: embedded chDB serves it end to end.
    user = await register(alone.url)
    assert user["access_token"]
    assert "analytics chdb" in alone.log_text()

    # A second `all` on its own data dir would analyse another store: refused, naming the first.
    text = refused(cluster, "all", {CLICKHOUSE_URL: ""})
    assert "analytics would not be shared" in text and "the all process" in text
    assert CLICKHOUSE_URL in text and "embedded chDB at" in text
    # So is an API on a ClickHouse server while the chDB process lives.
    text = refused(cluster, "api", {})
    assert "analytics would not be shared" in text and CLICKHOUSE_URL in text


async def test_a_worker_on_another_clickhouse_store_is_refused(make_cluster, tmp_path):
    cluster = make_cluster()
    await cluster.astart(["api"])
    other = ClickHouseStandin(tmp_path / "other-clickhouse").start()
    try:
        text = refused(cluster, "worker", {CLICKHOUSE_URL: other.url})
    finally:
        other.stop()
    # The API imports into one store; this worker would have analysed another.
    assert "analytics would not be shared: the api process" in text
    assert f"this process would use ClickHouse at {other.url}" in text and CLICKHOUSE_URL in text


async def test_a_restarted_chdb_process_is_not_refused_by_its_own_lapsing_registration(make_cluster):
    cluster = make_cluster()
    [first] = await cluster.astart(["all"], env={CLICKHOUSE_URL: ""})
    first.process.kill()  # no goodbye: its registration stays until it lapses
    first.process.wait()
    # The same data directory again: the registration left behind is this very store.
    again = Proc("all", first.data_dir, first.env)
    cluster.procs.append(again)
    await asyncio.to_thread(lambda: again.launch().wait_ready())
    assert (await register(again.url))["access_token"]
