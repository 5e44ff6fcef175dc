"""PostgreSQL restarted under a running deployment: 503 `unavailable` meanwhile, then it just works again.

The test runs its own PostgreSQL cluster so that restarting it touches nobody else.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.conftest import need_service
from tests.e2e.checks import assert_run_well_formed
from tests.integration.cluster import PrivatePostgres
from tests.integration.helpers import eventually
from tests.support.client import collect_run, open_socket, register, send_message

pytestmark = pytest.mark.services


@pytest.fixture
def private_postgres():
    pg = PrivatePostgres()
    need_service("PostgreSQL server binaries (initdb, pg_ctl)", pg.available())
    pg.init()
    pg.start()
    yield pg
    pg.destroy()


async def test_requests_fail_with_503_while_postgres_restarts_and_recover_without_a_restart(make_cluster,
                                                                                            private_postgres):
    cluster = make_cluster(database=private_postgres.dsn)
    api, _worker = await cluster.astart(["api", "worker"])
    user = await register(api.url)
    async with httpx.AsyncClient(base_url=api.url, timeout=15,
                                 headers={"Authorization": f"Bearer {user['access_token']}"}) as http:
        assert (await http.get("/api/threads")).status_code == 200

        await asyncio.to_thread(private_postgres.stop)
        down = await http.get("/api/threads")
        assert down.status_code == 503, down.text
        assert down.json()["error"]["code"] == "unavailable"
        health = await http.get("/api/health")
        assert health.status_code == 503
        assert health.json()["checks"]["database"]["status"] == "unhealthy"
        assert health.json()["checks"]["bus"]["status"] == "healthy"

        await asyncio.to_thread(private_postgres.start)

        async def answers():
            return (await http.get("/api/threads")).status_code == 200

        await eventually(answers)
        assert (await http.get("/api/health")).status_code == 200

    # The whole golden path works on the restarted database, through the same processes.
    ws = await open_socket(api.ws_url, user["access_token"])
    try:
        ack = await send_message(ws)
        events = await collect_run(ws, ack["data"]["run_id"], timeout=60)
    finally:
        await ws.close()
    assert_run_well_formed(events, ack["data"]["run_id"], ack["data"]["thread_id"])
    assert events[-1]["type"] == "agent_completed"
