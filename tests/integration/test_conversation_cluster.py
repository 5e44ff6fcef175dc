"""A conversation on a split deployment (two API processes, two workers, PostgreSQL and Redis): a follow-up run
by any worker starts from the thread's last answer, a regenerate from any instance replaces it, and a share link
revoked on one instance is gone on the other at once."""

from __future__ import annotations

import httpx
import pytest

from tests.support.clickhouse_standin import ClickHouseStandin
from tests.support.client import collect_run, open_socket, register, send_message

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    server = ClickHouseStandin(tmp_path_factory.mktemp("standin") / "chdb").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(module_clusters, standin):
    # One usage store for every process, as a ClickHouse server gives a real deployment.
    cluster = module_clusters(env={"SPENDPILOT_CLICKHOUSE_URL": standin.url})
    cluster.start(["api", "api", "worker", "worker"])
    return cluster


async def test_follow_up_regenerate_and_share_across_instances(cluster):
    a, b = [p for p in cluster.procs if p.role == "api"]
    session = await register(a.url)
    headers = {"Authorization": f"Bearer {session['access_token']}"}
    csv = ("ts,provider,model,feature,user,input_tokens,output_tokens\n"
           + "".join(f"2026-03-{day:02d}T12:00:00Z,openai,gpt-4o,{feature},ann,{1000 * day},{100 * day}\n"
                     for day in range(1, 29) for feature in ("chat", "search")))
    async with httpx.AsyncClient(base_url=a.url, headers=headers, timeout=30) as http:
        imported = await http.post("/api/usage/import", files={"file": ("u.csv", csv.encode())})
        assert imported.json()["imported"] == 56

    ws_a = await open_socket(a.ws_url, session["access_token"])
    ws_b = await open_socket(b.ws_url, session["access_token"])
    try:
        first = await send_message(ws_a, "Analyze my AI costs")
        thread_id = first["data"]["thread_id"]
        await collect_run(ws_a, first["data"]["run_id"], timeout=90)
        # Asked on the other instance, run by whichever worker: it follows the first answer.
        follow = await send_message(ws_b, "now only the search feature", thread_id)
        events = await collect_run(ws_b, follow["data"]["run_id"], timeout=90)
        report = events[-1]["data"]["report"]
        assert report["scope"] == {"feature": "search"}
        assert report["period"] == {"from": "2026-03-01", "to": "2026-03-28", "days": 28}
        async with httpx.AsyncClient(base_url=b.url, headers=headers, timeout=30) as http:
            summary = (await http.get("/api/usage/summary", params={"feature": "search", "from": "2026-03-01",
                                                                     "to": "2026-03-28"})).json()
        assert report["spend"]["total_usd"] == summary["total_usd"]
        regenerated = (await httpx.AsyncClient(base_url=a.url, headers=headers, timeout=30)
                       .post(f"/api/threads/{thread_id}/regenerate")).json()
        assert regenerated["regenerates"] == follow["data"]["run_id"]
        again = await collect_run(ws_a, regenerated["run_id"], timeout=90)
        assert again[-1]["data"]["report"]["scope"] == {"feature": "search"}
    finally:
        await ws_a.close()
        await ws_b.close()

    async with httpx.AsyncClient(base_url=a.url, headers=headers, timeout=30) as on_a, \
            httpx.AsyncClient(base_url=b.url, timeout=30) as anonymous_b:
        share = (await on_a.post(f"/api/runs/{regenerated['run_id']}/share")).json()
        assert (await anonymous_b.get(f"/api/shared/{share['token']}")).status_code == 200
        assert (await on_a.delete(f"/api/shares/{share['id']}")).status_code == 204
        # The other instance reads the store on every request: the link is gone there at once.
        assert (await anonymous_b.get(f"/api/shared/{share['token']}")).status_code == 404
        assert (await anonymous_b.get(f"/s/{share['token']}")).status_code == 404
