"""Teams across instances (PostgreSQL, Redis): a removal, a password change or a role change made
through one API process applies at once on another, sockets included."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from spendpilot.auth.permissions import Role
from tests.support.client import login, open_socket
from tests.support.teams import PASSWORD, bearer, make_team

pytestmark = pytest.mark.services

USAGE_CSV = "ts,provider,model,input_tokens,output_tokens\n2026-10-01T10:00:00Z,openai,gpt-4o,100,10\n"


@pytest.fixture(scope="module")
def cluster(module_clusters):
    cluster = module_clusters()
    cluster.start(["api", "api"])
    return cluster


def apis(cluster):
    return [p for p in cluster.procs if p.role == "api"]


async def closed_with(ws, timeout: float = 1.0) -> int | None:
    """The close code the server sends within `timeout` (frames before it are skipped)."""
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    return closed.value.rcvd.code if closed.value.rcvd else None


async def test_a_removal_through_one_instance_closes_the_members_socket_on_another(cluster):
    a, b = apis(cluster)
    team = await make_team(a.url)
    member = team[Role.VIEWER]
    ws = await open_socket(b.ws_url, member["access_token"])
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            assert (await http.get(f"{b.url}/api/org/members", headers=bearer(member["access_token"]))).status_code \
                == 200
            removed = await http.delete(f"{a.url}/api/org/members/{member['user']['id']}",
                                        headers=bearer(team[Role.ADMIN]["access_token"]))
            assert removed.status_code == 204
            refused = await http.get(f"{b.url}/api/org/members", headers=bearer(member["access_token"]))
            assert refused.status_code == 401
        assert await closed_with(ws) == 1008
    finally:
        await ws.close()


async def test_a_password_change_through_one_instance_ends_sessions_and_sockets_on_another(cluster):
    a, b = apis(cluster)
    team = await make_team(a.url)
    email = team[Role.ANALYST]["user"]["email"]
    other = await login(b.url, email, PASSWORD)
    ws = await open_socket(b.ws_url, other["access_token"])
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            changed = await http.post(f"{a.url}/auth/password",
                                      json={"current_password": PASSWORD, "new_password": "another long phrase"},
                                      headers=bearer(team[Role.ANALYST]["access_token"]))
            assert changed.json() == {"sessions_ended": 1}
            assert (await http.get(f"{b.url}/auth/me", headers=bearer(other["access_token"]))).status_code == 401
        assert await closed_with(ws) == 1008
    finally:
        await ws.close()


async def test_a_role_change_through_one_instance_applies_on_another_without_a_refresh(cluster):
    a, b = apis(cluster)
    team = await make_team(a.url)
    viewer = team[Role.VIEWER]
    upload = {"file": ("usage.csv", USAGE_CSV.encode())}
    async with httpx.AsyncClient(timeout=60) as http:
        before = await http.post(f"{b.url}/api/usage/import", files=upload, headers=bearer(viewer["access_token"]))
        assert before.status_code == 403
        promoted = await http.patch(f"{a.url}/api/org/members/{viewer['user']['id']}", json={"role": "analyst"},
                                    headers=bearer(team[Role.ADMIN]["access_token"]))
        assert promoted.status_code == 200
        after = await http.post(f"{b.url}/api/usage/import", files=upload, headers=bearer(viewer["access_token"]))
        assert after.status_code == 200, after.text
