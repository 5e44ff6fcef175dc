"""Connectors through a real server: configured over REST (the key never comes back), pulled by the
schedule on their own, pulled on demand, invisible to other organisations; and from the CLI.

The provider is the local fake (tests/support/fake_admin_apis.py), serving results copied from
tests/samples/ (sources in its README).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import httpx
import pytest

from tests.support.accounts import member_of_own_org
from tests.support.client import register
from tests.support.server import RunningServer, free_port


@pytest.fixture(scope="module")
def server(fake, tmp_path_factory):
    running = RunningServer(tmp_path_factory.mktemp("connectors"), free_port(), env={
        "SPENDPILOT_SEED_DEMO": "0", "SPENDPILOT_CONNECTOR_POLL_S": "0.5",
        "SPENDPILOT_OPENAI_ADMIN_URL": fake.url + "/v1", "SPENDPILOT_ANTHROPIC_ADMIN_URL": fake.url}).start()
    yield running
    running.stop()


async def _client(server) -> httpx.AsyncClient:
    tokens = await register(server.url)
    return httpx.AsyncClient(base_url=server.url, timeout=60,
                             headers={"Authorization": f"Bearer {tokens['access_token']}"})


async def test_connector_is_configured_pulled_on_schedule_and_private(server, fake):
    async with await _client(server) as alice, await _client(server) as mallory:
        bad = await alice.post("/api/connectors", json={"kind": "azure", "admin_key": "x" * 20})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_kind"
        created = await alice.post("/api/connectors", json={"kind": "openai", "name": "prod",
                                                            "admin_key": fake.openai_key,
                                                            "start_at": "2026-11-19T00:00:00Z"})
        assert created.status_code == 201, created.text
        connector = created.json()
        assert fake.openai_key not in created.text and connector["key_hint"] == "…" + fake.openai_key[-4:]

        # The schedule pulls it without being asked.
        deadline = time.monotonic() + 60
        while True:
            (listed,) = (await alice.get("/api/connectors")).json()
            if listed["last_status"] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert listed["last_status"] == "ok", listed
        assert listed["last_report"]["reports"]["usage"]["imported"] > 24
        assert fake.openai_key not in str(listed)
        summary = (await alice.get("/api/usage/summary", params={"group_by": "model"})).json()
        assert [g["key"] for g in summary["groups"]] == ["gpt-5-mini-2025-08-07"]

        # Pulled on demand: nothing new since the schedule's pull, nothing counted twice.
        ran = await alice.post(f"/api/connectors/{connector['id']}/run")
        assert ran.status_code == 200 and ran.json()["status"] == "ok"
        assert ran.json()["reports"]["usage"].get("imported", 0) <= 1
        again = (await alice.get("/api/usage/summary")).json()
        assert again["total_requests"] >= summary["total_requests"]

        # Another organisation sees nothing and cannot touch it.
        assert (await mallory.get("/api/connectors")).json() == []
        assert (await mallory.post(f"/api/connectors/{connector['id']}/run")).status_code == 404
        assert (await mallory.delete(f"/api/connectors/{connector['id']}")).status_code == 404
        assert (await alice.delete(f"/api/connectors/{connector['id']}")).status_code == 204
        assert (await alice.get("/api/connectors")).json() == []


def test_cli_adds_lists_and_runs_a_connector(fake, tmp_path):
    env = {**os.environ, "SPENDPILOT_DATA_DIR": str(tmp_path), "SPENDPILOT_OPENAI_ADMIN_URL": fake.url + "/v1",
           "ADMIN_KEY": fake.openai_key}
    email, org_id = member_of_own_org(tmp_path)
    member = ("--as", email, "--org", org_id)

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "spendpilot", "connectors", *args], capture_output=True,
                              text=True, env=env, timeout=120)

    added = cli("add", "openai", *member, "--key-env", "ADMIN_KEY", "--start", "2026-11-19")
    assert added.returncode == 0, added.stderr
    assert fake.openai_key not in added.stdout
    import json

    connector = json.loads(added.stdout)
    done = cli("run", connector["id"], *member)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["reports"]["usage"]["imported"] > 24
    listed = cli("list", *member)
    assert json.loads(listed.stdout)[0]["last_status"] == "ok" and fake.openai_key not in listed.stdout
    missing = cli("run", "con_nope", *member)
    assert missing.returncode == 2 and "connector not found" in missing.stderr and "Traceback" not in missing.stderr
