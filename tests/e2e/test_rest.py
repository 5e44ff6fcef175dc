"""REST contract: auth lifecycle, threads, JSON errors for bad input, health that really queries."""

from __future__ import annotations

import httpx
import pytest

from tests.support.client import login, register


@pytest.fixture
async def http(spendpilot_server):
    session = await register(spendpilot_server.url)
    async with httpx.AsyncClient(base_url=spendpilot_server.url,
                                 headers={"Authorization": f"Bearer {session['access_token']}"}) as client:
        client.session = session
        yield client


async def test_health_reports_each_dependency_with_engine_and_latency(spendpilot_server):
    async with httpx.AsyncClient(base_url=spendpilot_server.url) as http:
        assert (await http.get("/health")).json()["status"] == "healthy"
        body = (await http.get("/api/health")).json()
    assert body["status"] == "healthy"
    assert body["checks"]["database"]["engine"] == "sqlite"
    assert body["checks"]["bus"]["engine"] == "memory"
    assert body["checks"]["analytics"]["engine"] == "chdb"
    for name in ("database", "bus", "analytics", "llm"):
        assert body["checks"][name]["status"] == "healthy"
        assert body["checks"][name]["latency_ms"] >= 0
    assert body["uptime_s"] >= 0


async def test_register_login_refresh_rotation_reuse_and_logout(spendpilot_server):
    email = "rotate@example.com"
    created = await register(spendpilot_server.url, email)
    assert created["token_type"] == "bearer" and created["expires_in"] == 900
    assert created["user"]["email"] == email and created["user"]["org"].startswith("org_")
    async with httpx.AsyncClient(base_url=spendpilot_server.url) as http:
        taken = await http.post("/auth/register", json={"email": email, "password": "another-password"})
        assert taken.status_code == 409
        weak = await http.post("/auth/register", json={"email": "weak@example.com", "password": "short"})
        assert weak.status_code == 422
        malformed = await http.post("/auth/register", json={"email": "not-an-email", "password": "long-enough-1"})
        assert malformed.status_code == 422
        bad = await http.post("/auth/login", json={"email": email, "password": "wrong-password"})
        assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_credentials"
        session = await login(spendpilot_server.url, email, "correct-horse-battery")
        me = await http.get("/auth/me", headers={"Authorization": f"Bearer {session['access_token']}"})
        assert me.json()["email"] == email

        rotated = (await http.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})).json()
        assert rotated["refresh_token"] != session["refresh_token"]
        # Presenting the used token again revokes the whole family, including the new token.
        reused = await http.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
        assert reused.status_code == 401 and reused.json()["error"]["code"] == "token_reused"
        assert (await http.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]})).status_code == 401

        again = await login(spendpilot_server.url, email, "correct-horse-battery")
        assert (await http.post("/auth/logout", json={"refresh_token": again["refresh_token"]})).status_code == 204
        assert (await http.post("/auth/refresh", json={"refresh_token": again["refresh_token"]})).status_code == 401
        after_logout = await http.get("/auth/me", headers={"Authorization": f"Bearer {again['access_token']}"})
        assert after_logout.status_code == 401

        jwks = (await http.get("/.well-known/jwks.json")).json()
        assert jwks["keys"][0]["kty"] == "OKP" and jwks["keys"][0]["alg"] == "EdDSA"


async def test_threads_crud_and_search(http):
    created = await http.post("/api/threads", json={"title": "Budget review"})
    assert created.status_code == 201
    thread = created.json()
    assert set(thread) == {"id", "title", "created_at", "updated_at"}
    renamed = await http.patch(f"/api/threads/{thread['id']}", json={"title": "Q3 budget"})
    assert renamed.json()["title"] == "Q3 budget"
    await http.post("/api/threads", json={"title": "Other"})
    found = (await http.get("/api/threads", params={"q": "q3"})).json()
    assert [t["id"] for t in found] == [thread["id"]]
    assert (await http.get(f"/api/threads/{thread['id']}/messages")).json() == []
    assert (await http.delete(f"/api/threads/{thread['id']}")).status_code == 204
    assert (await http.get(f"/api/threads/{thread['id']}")).status_code == 404


@pytest.mark.parametrize("method, path, kwargs, status", [
    ("post", "/api/threads", {"content": b"{broken", "headers": {"content-type": "application/json"}}, 422),
    ("post", "/api/threads", {"json": {"title": "x" * 500}}, 422),
    ("patch", "/api/threads/thr_missing", {"json": {"title": "x"}}, 404),
    ("post", "/api/threads/thr_missing/runs", {"json": {"content": "hi"}}, 404),
    ("get", "/api/runs/run_missing/events", {"params": {"after": -1}}, 422),
    ("get", "/api/usage/summary", {"params": {"group_by": "colour"}}, 422),
    ("get", "/api/usage/summary", {"params": {"from": "2026-02-30"}}, 422),
    ("post", "/api/usage/import", {"files": {"file": ("x.bin", b"\x00\x01garbage")}}, 400),
    ("post", "/api/usage/import", {"data": {"nofile": "1"}}, 422),
])
async def test_bad_input_gets_a_json_4xx(http, method, path, kwargs, status):
    response = await getattr(http, method)(path, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] and error["message"]


async def test_every_data_route_needs_a_token(spendpilot_server):
    async with httpx.AsyncClient(base_url=spendpilot_server.url) as http:
        for path in ("/api/threads", "/api/runs/run_x", "/api/usage/summary", "/auth/me"):
            response = await http.get(path)
            assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized", path


async def test_import_then_summary_reflects_it(http):
    csv = ("ts,provider,model,feature,input_tokens,output_tokens\n"
           "2026-11-01T10:00:00Z,openai,gpt-4o-mini,chat,1000,200\n"
           "2026-11-02T10:00:00Z,openai,gpt-4o-mini,chat,2000,100\n"
           "not-a-date,openai,gpt-4o-mini,chat,1,1\n")
    result = (await http.post("/api/usage/import", files={"file": ("usage.csv", csv.encode())})).json()
    assert result["format"] == "generic" and result["imported"] == 2
    assert [r["line"] for r in result["rejected"]] == [4]
    summary = (await http.get("/api/usage/summary", params={"group_by": "day"})).json()
    assert summary["total_requests"] == 2
    assert [g["key"] for g in summary["groups"]] == ["2026-11-01", "2026-11-02"]
    assert summary["total_usd"] > 0


async def test_discovery_and_agents(spendpilot_server):
    async with httpx.AsyncClient(base_url=spendpilot_server.url) as http:
        discovery = (await http.get("/api/discovery/services")).json()
        agents = (await http.get("/api/agents")).json()["agents"]
    assert discovery["websocket"]["url"].endswith("/ws") and discovery["websocket"]["protocol"] == "spendpilot.v1"
    assert [a["name"] for a in agents] == ["supervisor", "triage", "data", "optimization", "report"]
    assert any(t["name"] == "find_prompt_caching" for a in agents for t in a["tools"])
