"""Two API instances and two workers sharing one analytics store (ClickHouse over HTTP) and one Redis.

The store is the ClickHouse stand-in (tests/support/clickhouse_standin.py): ClickHouse's HTTP
interface over chDB, reached by the product through clickhouse-connect as a real server would be.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest

from spendpilot.analytics.demo import write_demo_file
from tests.integration.helpers import assert_ends_once, eventually
from tests.support.client import collect_run, next_of, open_socket, register, send_message

pytestmark = pytest.mark.services

PER_ACCOUNT, PER_IP, SOCKET_MESSAGES = 3, 6, 10
LIMITS = {
    "SPENDPILOT_LOGIN_ATTEMPTS_PER_ACCOUNT": str(PER_ACCOUNT),
    "SPENDPILOT_LOGIN_ATTEMPTS_PER_IP": str(PER_IP),
    "SPENDPILOT_WS_MESSAGES_PER_MINUTE": str(SOCKET_MESSAGES),
}
USAGE_ROWS = 3_000  # asked of the demo generator, which adds its planted patterns on top


@pytest.fixture(scope="module")
def cluster(module_clusters):
    cluster = module_clusters(env=LIMITS)
    cluster.start(["api", "api", "worker", "worker"])
    return cluster


@pytest.fixture(scope="module")
def usage_csv(tmp_path_factory) -> tuple[bytes, int]:
    path = tmp_path_factory.mktemp("usage") / "usage.csv"
    lines = write_demo_file(path, USAGE_ROWS, days=30)
    return path.read_bytes(), lines


def apis(cluster):
    return [p for p in cluster.procs if p.role == "api"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def upload(url: str, token: str, body: bytes) -> dict:
    async with httpx.AsyncClient(base_url=url, headers=bearer(token), timeout=120) as http:
        response = await http.post("/api/usage/import", files={"file": ("usage.csv", body, "text/csv")})
    assert response.status_code == 200, response.text
    return response.json()


async def summary(url: str, token: str, **params) -> dict:
    async with httpx.AsyncClient(base_url=url, headers=bearer(token)) as http:
        response = await http.get("/api/usage/summary", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_imported_on_one_instance_asked_on_the_other_analysed_by_a_worker(cluster, usage_csv):
    a, b = apis(cluster)
    user = await register(a.url)
    token = user["access_token"]
    body, lines = usage_csv
    imported = await upload(a.url, token, body)
    assert imported["imported"] + imported["duplicates"] == lines and imported["rejected"] == []
    assert imported["imported"] > 0

    # The api role executes no runs: the report comes from a worker reading the shared store.
    ws = await open_socket(b.ws_url, token)
    try:
        ack = await send_message(ws, "Analyze my AI costs")
        events = await collect_run(ws, ack["data"]["run_id"], timeout=90)
    finally:
        await ws.close()
    final = assert_ends_once(events, ack["data"]["run_id"])
    assert final["type"] == "agent_completed" and final["data"].get("final") is True, final
    report = final["data"]["report"]
    period = {"from": report["period"]["from"], "to": report["period"]["to"]}

    on_a, on_b = await summary(a.url, token, **period), await summary(b.url, token, **period)
    assert on_a == on_b
    assert on_a["total_requests"] > 0 and report["data_sufficiency"] != "none"
    assert report["spend"]["total_usd"] == on_a["total_usd"] > 0
    by_model = {g["key"]: g["cost_usd"] for g in on_a["groups"]}
    assert {m["model"]: m["cost_usd"] for m in report["spend"]["by_model"]} == by_model


async def test_one_file_uploaded_at_once_to_both_instances_is_stored_once(cluster, usage_csv):
    a, b = apis(cluster)
    body, lines = usage_csv
    # What importing the file once gives, in an org of its own.
    reference = await register(a.url)
    once = await upload(b.url, reference["access_token"], body)
    expected = await summary(a.url, reference["access_token"], group_by="day")

    user = await register(a.url)
    token = user["access_token"]
    # Several uploads of one file at the same moment, half through each instance.
    reports = await asyncio.gather(*(upload(api.url, token, body) for api in (a, b, a, b, a, b)))
    assert sorted(r["imported"] for r in reports) == [0] * 5 + [once["imported"]], reports
    assert all(r["imported"] + r["duplicates"] == lines for r in reports)
    assert await summary(b.url, token, group_by="day") == expected


async def test_an_import_waits_for_the_orgs_import_lock_held_by_another_process(cluster, usage_csv):
    import asyncpg

    from spendpilot.store.database import _lock_key

    a, _ = apis(cluster)
    user = await register(a.url)
    # Another process (here: this test) is importing into the org: it holds the org's import lock.
    holder = await asyncpg.connect(cluster.database_url)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", _lock_key(f"usage-import:{user['user']['org']}"))
        pending = asyncio.ensure_future(upload(a.url, user["access_token"], usage_csv[0]))

        async def api_waits_for_the_lock() -> bool:
            return await holder.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())") > 0

        await eventually(api_waits_for_the_lock)
        assert not pending.done()
        assert (await summary(a.url, user["access_token"]))["total_requests"] == 0  # nothing written meanwhile
        await holder.execute("SELECT pg_advisory_unlock_all()")
        report = await pending
    finally:
        await holder.close()
    assert report["imported"] > 0


async def _login(url: str, email: str, password: str, ip: str) -> httpx.Response:
    # Tests connect from 127.0.0.1, a proxy uvicorn trusts: X-Forwarded-For is the client address.
    async with httpx.AsyncClient(base_url=url) as http:
        return await http.post("/auth/login", json={"email": email, "password": password},
                               headers={"X-Forwarded-For": ip})


def _throttled(response: httpx.Response) -> bool:
    return response.status_code == 429 and response.json()["error"]["code"] == "rate_limited" \
        and int(response.headers["retry-after"]) >= 1


async def test_a_per_ip_login_limit_holds_across_both_instances(cluster):
    a, b = apis(cluster)
    ip = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"
    # Failed sign-ins from one address, spread over accounts (so only the per-address limit can
    # trip) and alternating between the instances: each sees only half of them.
    for n in range(PER_IP):
        api = (a, b)[n % 2]
        response = await _login(api.url, f"spray-{n}-{uuid.uuid4().hex[:6]}@example.com", "wrong-password", ip)
        assert response.status_code == 401, response.text
    victim = await register(a.url)
    email = victim["user"]["email"]
    for api in (a, b):
        assert _throttled(await _login(api.url, email, "correct-horse-battery", ip))
    # Another address is not affected.
    assert (await _login(b.url, email, "correct-horse-battery", ip + "0")).status_code == 200


async def test_a_burst_of_guesses_on_both_instances_gets_exactly_the_limit(cluster):
    a, b = apis(cluster)
    ip = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.9"
    burst = [_login((a, b)[n % 2].url, f"burst-{n}-{uuid.uuid4().hex[:6]}@example.com", "wrong", ip)
             for n in range(4 * PER_IP)]
    statuses = sorted(r.status_code for r in await asyncio.gather(*burst))
    assert statuses == [401] * PER_IP + [429] * (3 * PER_IP), statuses


async def test_an_account_lock_holds_on_the_other_instance(cluster):
    a, b = apis(cluster)
    user = await register(a.url)
    email = user["user"]["email"]
    for n in range(PER_ACCOUNT):
        assert (await _login((a, b)[n % 2].url, email, f"guess-{n}", f"10.9.{n}.1")).status_code == 401
    for api in (a, b):
        assert _throttled(await _login(api.url, email, "correct-horse-battery", "10.9.9.9"))


async def test_socket_message_rate_is_counted_across_instances(cluster):
    a, b = apis(cluster)
    user = await register(a.url)
    on_a = await open_socket(a.ws_url, user["access_token"])
    on_b = await open_socket(b.ws_url, user["access_token"])
    try:
        replies = []
        for ws, label, count in ((on_a, "a", SOCKET_MESSAGES - 2), (on_b, "b", 4)):
            for n in range(count):
                await ws.send(json.dumps({"type": "ping", "id": f"{label}{n}", "data": {"nonce": f"{label}{n}"}}))
            replies += [await next_of(ws, {"pong", "error"}) for _ in range(count)]
    finally:
        await on_a.close()
        await on_b.close()
    answered = [r["data"]["nonce"] for r in replies if r["type"] == "pong"]
    refused = [r["data"]["client_id"] for r in replies if r["type"] == "error"]
    assert answered == [f"a{n}" for n in range(SOCKET_MESSAGES - 2)] + ["b0", "b1"]
    assert refused == ["b2", "b3"]
    assert {r["data"]["code"] for r in replies if r["type"] == "error"} == {"rate_limited"}
