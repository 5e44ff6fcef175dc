"""Redis lost during a run: the run still ends (at its deadline) and reaches the client; nothing is lost.

These tests run their own redis-server so that killing it touches nobody else.
"""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from tests.conftest import need_service
from tests.integration.cluster import PrivateRedis
from tests.integration.helpers import assert_ends_once, eventually, run_events
from tests.support.client import collect_run, open_socket, register, send_message
from tests.support.server import free_port

pytestmark = pytest.mark.services


@pytest.fixture
def private_redis(tmp_path):
    need_service("redis-server", PrivateRedis.available())
    redis = PrivateRedis(tmp_path / "redis").start()
    yield redis
    redis.kill()


async def _health(url: str) -> tuple[int, dict]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        response = await http.get("/api/health")
        return response.status_code, response.json()


async def test_redis_lost_mid_run_ends_the_run_at_its_deadline_and_health_says_so(make_cluster, private_redis):
    # 22 events at 0.4 s each cannot finish within 4 s: the run ends at its deadline either way.
    cluster = make_cluster(env={"SPENDPILOT_RUN_DEADLINE_S": "4", "SPENDPILOT_RUN_STEP_DELAY_S": "0.4"},
                           redis=private_redis.url)
    api, _worker = await cluster.astart(["api", "worker"])
    user = await register(api.url)
    auth = {"Authorization": f"Bearer {user['access_token']}"}
    ws = await open_socket(api.ws_url, user["access_token"])
    try:
        ack = await send_message(ws, "Analyze my AI costs, please")
        run_id, thread_id = ack["data"]["run_id"], ack["data"]["thread_id"]
        seen = await run_events(ws, run_id, 2)

        private_redis.kill()

        async def unhealthy():
            status, body = await _health(api.url)
            return body if status == 503 else None

        body = await eventually(unhealthy)
        assert body["status"] == "unhealthy"
        assert body["checks"]["bus"]["status"] == "unhealthy" and body["checks"]["bus"]["engine"] == "redis"
        assert body["checks"]["database"]["status"] == "healthy"

        # No pub/sub: the rest of the run still reaches this socket, from the event log.
        rest = await collect_run(ws, run_id, timeout=60)
        final = assert_ends_once(seen + rest, run_id)
        assert final["type"] == "agent_error" and final["data"]["code"] == "deadline_exceeded"

        # The acknowledged message is in PostgreSQL, served while Redis is still down.
        async with httpx.AsyncClient(base_url=api.url, headers=auth) as http:
            messages = (await http.get(f"/api/threads/{thread_id}/messages")).json()
            run = (await http.get(f"/api/runs/{run_id}")).json()
        assert [m["content"] for m in messages if m["role"] == "user"] == ["Analyze my AI costs, please"]
        assert run["status"] == "failed"

        # Redis comes back (empty): without restarting Spendpilot, health and runs recover.
        private_redis.start()

        async def healthy():
            status, _ = await _health(api.url)
            return status == 200

        await eventually(healthy)
        again = await send_message(ws, "Once more", thread_id=thread_id)
        events = await collect_run(ws, again["data"]["run_id"], timeout=60)
    finally:
        await ws.close()
    assert events[0]["type"] == "agent_started"
    assert assert_ends_once(events, again["data"]["run_id"])["data"]["code"] == "deadline_exceeded"


def test_serve_refuses_to_start_when_redis_is_unreachable(tmp_path):
    closed_port = free_port()
    env = {**os.environ, "SPENDPILOT_REDIS_URL": f"redis://127.0.0.1:{closed_port}/0",
           "SPENDPILOT_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/unused",
           "SPENDPILOT_CLICKHOUSE_URL": f"http://127.0.0.1:{free_port()}",
           "SPENDPILOT_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "spendpilot", "serve", "--role", "api", "--port", str(free_port())],
                            env=env, capture_output=True, text=True, timeout=120)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert f"Redis at redis://127.0.0.1:{closed_port}/0 is unreachable" in output, output
    assert "SPENDPILOT_REDIS_URL" in output
    assert "Traceback" not in output
