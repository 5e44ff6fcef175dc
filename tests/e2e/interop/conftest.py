"""A real `spendpilot up` with an organisation whose usage was imported over REST, a budget and a read key."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
import pytest

from spendpilot.analytics.demo import write_demo_file
from tests.support.client import register
from tests.support.server import RunningServer, free_port

USAGE_ROWS = 6000
USAGE_DAYS = 45


@dataclass
class Org:
    url: str
    token: str  # the owner's access token
    key: str  # an org API key with the read scope
    imported: int
    budget_id: str

    def auth(self, credential: str | None = None) -> dict:
        return {"Authorization": f"Bearer {credential or self.token}"}


@pytest.fixture(scope="module")
def interop_server(tmp_path_factory):
    """No demo seed (it costs seconds): the tests import their own usage, as a customer would."""
    server = RunningServer(tmp_path_factory.mktemp("interop"), free_port(),
                           env={"SPENDPILOT_SEED_DEMO": "0"}).start()
    yield server
    server.stop()


async def new_org(url: str, tmp_path, rows: int = USAGE_ROWS) -> Org:
    session = await register(url)
    headers = {"Authorization": f"Bearer {session['access_token']}"}
    usage = tmp_path / "usage.csv"
    written = write_demo_file(usage, rows, days=USAGE_DAYS)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as http:
        with usage.open("rb") as fh:
            imported = await http.post("/api/usage/import", files={"file": ("usage.csv", fh, "text/csv")})
        assert imported.status_code == 200, imported.text
        assert imported.json()["imported"] == written, imported.json()
        budget = await http.post("/api/budgets", json={"name": "All AI spend", "amount_usd": 250.0})
        assert budget.status_code == 201, budget.text
        key = await http.post("/api/keys", json={"name": "desktop assistant", "scopes": ["read"]})
        assert key.status_code == 201, key.text
    return Org(url, session["access_token"], key.json()["key"], imported.json()["imported"], budget.json()["id"])


@pytest.fixture(scope="module")
async def org(interop_server, tmp_path_factory) -> Org:
    return await new_org(interop_server.url, tmp_path_factory.mktemp("usage"))


async def rest(org: Org, path: str, **params) -> dict | list:
    async with httpx.AsyncClient(base_url=org.url, headers=org.auth(), timeout=60) as http:
        response = await http.get(path, params={k: v for k, v in params.items() if v is not None})
    assert response.status_code == 200, response.text
    return response.json()


async def chat_report(org: Org, question: str = "Analyze my AI costs") -> dict:
    """The report of a chat run started over REST, as the thread stores it."""
    async with httpx.AsyncClient(base_url=org.url, headers=org.auth(), timeout=60) as http:
        thread = (await http.post("/api/threads", json={"title": "costs"})).json()
        started = await http.post(f"/api/threads/{thread['id']}/runs", json={"content": question})
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        for _ in range(600):
            run = (await http.get(f"/api/runs/{run_id}")).json()
            if run["status"] not in ("queued", "running"):
                break
            await asyncio.sleep(0.1)
        assert run["status"] == "completed", run
        messages = (await http.get(f"/api/threads/{thread['id']}/messages")).json()
    return next(m["report"] for m in messages if m["role"] == "assistant" and m["run_id"] == run_id)
