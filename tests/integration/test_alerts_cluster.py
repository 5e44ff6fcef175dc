"""Two API instances and a worker in production mode on PostgreSQL, Redis and one ClickHouse: each alert fires once.

Every process evaluates budgets: the API that took an import right after it, and every process on
the periodic sweep (every 0.3 s here, so the three race for it all the time). Usage arrives through
both APIs in turn. The webhook receiver must get each threshold crossing exactly once, and a
delivery retried after 5xx answers must be sent exactly once per attempt, whichever process sends it.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.support.clickhouse_standin import ClickHouseStandin
from tests.support.client import login, register
from tests.support.usage_rows import calls_today, usage_csv
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.services

PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    server = ClickHouseStandin(tmp_path_factory.mktemp("standin") / "chdb").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def receiver():
    running = WebhookReceiver().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def cluster(module_clusters, standin):
    cluster = module_clusters(env={
        "SPENDPILOT_CLICKHOUSE_URL": standin.url, "SPENDPILOT_ENV": "production", "SPENDPILOT_BEHIND_TLS": "true",
        # Production wants the connectors' secrets key from the environment, the same on every instance.
        "SPENDPILOT_SECRETS_KEY": Fernet.generate_key().decode(),
        # The receiver listens on loopback, which production refuses unless allowed.
        "SPENDPILOT_WEBHOOK_ALLOW_PRIVATE": "true",
        "SPENDPILOT_ALERTS_INTERVAL_S": "0.3", "SPENDPILOT_ALERTS_POLL_S": "0.1",
        "SPENDPILOT_WEBHOOK_RETRY_BASE_S": "0.3"})
    cluster.start(["api", "api", "worker"])
    return cluster


async def until(probe, timeout: float = 60.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := probe()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached in {timeout}s")
        await asyncio.sleep(0.05)
    return value


def client(url: str, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"})


async def test_each_alert_fires_and_is_delivered_once_across_the_cluster(cluster, receiver):
    api_a, api_b = [p for p in cluster.procs if p.role == "api"][:2]
    session = await register(api_a.url, password=PASSWORD)
    other = await login(api_b.url, session["user"]["email"], PASSWORD)
    receiver.script("/cluster-flaky", [500, 502, 200])
    async with client(api_a.url, session["access_token"]) as a, client(api_b.url, other["access_token"]) as b:
        budget = (await a.post("/api/budgets", json={
            "name": "cluster", "amount_usd": 8, "thresholds": [25, 50, 75, 100],
            "notify": {"webhook_url": receiver.url("/cluster")}})).json()
        flaky = (await b.post("/api/budgets", json={
            "name": "flaky", "amount_usd": 8, "thresholds": [100],
            "notify": {"webhook_url": receiver.url("/cluster-flaky")}})).json()
        # $2 at a time, through one API then the other: 25%, 50%, 75%, 100%.
        for step, http in enumerate((a, b, a, b)):
            imported = await http.post("/api/usage/import", files={
                "file": ("u.csv", usage_csv(calls_today(2, offset_s=step * 10)))})
            assert imported.json()["imported"] == 1
            await until(lambda n=step + 1: len(receiver.at("/cluster")) >= n)
        await until(lambda: [r for r in receiver.at("/cluster-flaky") if r.answered == 200])

        # A budget created later fires at once; when it has arrived, every sweep before it is done.
        await b.post("/api/budgets", json={"name": "sentinel", "amount_usd": 1, "thresholds": [100],
                                           "notify": {"webhook_url": receiver.url("/cluster-sentinel")}})
        await until(lambda: receiver.at("/cluster-sentinel"))
        listed = (await b.get("/api/alerts", params={"budget_id": flaky["id"]})).json()

    crossings = [r.json for r in receiver.at("/cluster")]
    assert sorted(e["threshold"] for e in crossings) == [25, 50, 75, 100]
    assert len({e["id"] for e in crossings}) == 4
    assert all(r.signed_with(budget["notify"]["secret"]) for r in receiver.at("/cluster"))
    flaky_calls = receiver.at("/cluster-flaky")
    assert [r.answered for r in flaky_calls] == [500, 502, 200]
    assert len({r.json["id"] for r in flaky_calls}) == 1
    [alert] = listed
    [delivery] = alert["deliveries"]
    assert delivery["status"] == "delivered"
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 502, 200]
    assert len(receiver.at("/cluster-sentinel")) == 1
    assert "alerts_fired" in cluster.logs()


async def test_production_refuses_private_webhook_targets_unless_allowed(cluster):
    [strict] = await cluster.astart(["api"], env={"SPENDPILOT_WEBHOOK_ALLOW_PRIVATE": "false"})
    session = await register(strict.url)
    async with client(strict.url, session["access_token"]) as http:
        for url in ("http://127.0.0.1:8080/hook", "http://169.254.169.254/latest/meta-data", "http://10.0.0.7/x",
                    "http://localhost/x"):
            refused = await http.post("/api/budgets", json={"name": "x", "amount_usd": 5,
                                                            "notify": {"webhook_url": url}})
            assert refused.status_code == 422, url
            assert refused.json()["error"]["code"] == "invalid_webhook_url"
        assert (await http.get("/api/budgets")).json() == []
