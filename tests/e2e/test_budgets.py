"""Budgets, the scoped summary and the forecast over REST, against a real server (SPEC §10, §13)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from tests.support.client import register
from tests.support.server import RunningServer, free_port
from tests.support.usage_rows import calls_today, daily_calls, today_utc, usage_csv


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = RunningServer(tmp_path_factory.mktemp("budgets"), free_port(),
                            env={"SPENDPILOT_SEED_DEMO": "0"}).start()
    yield running
    running.stop()


async def _client(server) -> httpx.AsyncClient:
    session = await register(server.url)
    return httpx.AsyncClient(base_url=server.url, timeout=30,
                             headers={"Authorization": f"Bearer {session['access_token']}"})


@pytest.fixture
async def http(server):
    async with await _client(server) as client:
        yield client


@pytest.fixture
async def other(server):
    async with await _client(server) as client:
        yield client


async def test_create_shows_the_secret_once_then_list_get_patch_delete(http):
    created = await http.post("/api/budgets", json={
        "name": "Support bot", "amount_usd": 250, "scope": {"feature": "support-bot", "tag": "team=cx"},
        "thresholds": [100, 50, 80, 80], "notify": {"webhook_url": "http://127.0.0.1:9/hook"}})
    assert created.status_code == 201, created.text
    budget = created.json()
    assert budget["id"].startswith("bdg_") and budget["period"] == "month"
    assert budget["scope"] == {"feature": "support-bot", "tag": "team=cx"}
    assert budget["thresholds"] == [50, 80, 100]
    assert budget["notify"]["webhook_url"] == "http://127.0.0.1:9/hook"
    secret = budget["notify"]["secret"]
    assert len(secret) >= 32
    assert (budget["spent_usd"], budget["state"], budget["forecast_usd"]) == (0.0, "ok", None)
    assert budget["current_period"]["month"] == today_utc().strftime("%Y-%m")

    listed = (await http.get("/api/budgets")).json()
    assert [b["id"] for b in listed] == [budget["id"]]
    assert secret not in str(listed) and "secret" not in listed[0]["notify"]
    fetched = (await http.get(f"/api/budgets/{budget['id']}")).json()
    assert secret not in str(fetched)

    patched = await http.patch(f"/api/budgets/{budget['id']}", json={
        "amount_usd": 300, "scope": {"feature": "support-bot"}, "notify": {"webhook_url": None,
                                                                          "secret": "a-new-secret-of-20-chars"}})
    assert patched.status_code == 200, patched.text
    changed = patched.json()
    assert changed["amount_usd"] == 300 and changed["scope"] == {"feature": "support-bot"}
    assert changed["notify"]["webhook_url"] is None and changed["name"] == "Support bot"
    assert "a-new-secret" not in str(changed)

    assert (await http.delete(f"/api/budgets/{budget['id']}")).status_code == 204
    assert (await http.get(f"/api/budgets/{budget['id']}")).status_code == 404
    assert (await http.get("/api/budgets")).json() == []


async def test_a_generated_secret_is_used_when_none_is_given_and_a_given_one_is_kept(http):
    given = await http.post("/api/budgets", json={"name": "x", "amount_usd": 1,
                                                  "notify": {"secret": "my-own-secret-1234"}})
    assert given.json()["notify"]["secret"] == "my-own-secret-1234"
    generated = (await http.post("/api/budgets", json={"name": "y", "amount_usd": 1})).json()
    assert generated["notify"]["secret"] != given.json()["notify"]["secret"]


async def test_spent_and_state_follow_the_budgets_scope(http):
    await http.post("/api/usage/import", files={"file": ("a.csv", usage_csv(calls_today(2, 2), feature="chat"))})
    await http.post("/api/usage/import", files={"file": ("b.csv", usage_csv(calls_today(1, offset_s=50),
                                                                             feature="search", user="bob"))})
    whole = (await http.post("/api/budgets", json={"name": "all", "amount_usd": 4})).json()
    chat = (await http.post("/api/budgets", json={"name": "chat", "amount_usd": 5,
                                                  "scope": {"feature": "chat"}, "thresholds": [50, 100]})).json()
    bob = (await http.post("/api/budgets", json={"name": "bob", "amount_usd": 100,
                                                 "scope": {"user": "bob"}})).json()
    assert (whole["spent_usd"], whole["state"]) == (5.0, "exceeded")
    assert (chat["spent_usd"], chat["state"], chat["thresholds_crossed"]) == (4.0, "warning", [50])
    assert (bob["spent_usd"], bob["state"]) == (1.0, "ok")


async def test_another_orgs_budget_is_not_found(http, other):
    budget = (await http.post("/api/budgets", json={"name": "mine", "amount_usd": 10})).json()
    for response in (await other.get(f"/api/budgets/{budget['id']}"),
                     await other.patch(f"/api/budgets/{budget['id']}", json={"amount_usd": 1}),
                     await other.delete(f"/api/budgets/{budget['id']}")):
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert (await other.get("/api/budgets")).json() == []
    assert (await http.get(f"/api/budgets/{budget['id']}")).json()["amount_usd"] == 10


@pytest.mark.parametrize("body, code", [
    ({"name": "x", "amount_usd": 0}, "invalid_request"),
    ({"name": "x", "amount_usd": -5}, "invalid_request"),
    ({"name": "", "amount_usd": 5}, "invalid_request"),
    ({"name": "x", "amount_usd": 5, "period": "week"}, "invalid_request"),
    ({"name": "x", "amount_usd": 5, "thresholds": []}, "invalid_request"),
    ({"name": "x", "amount_usd": 5, "thresholds": [0]}, "invalid_request"),
    ({"name": "x", "amount_usd": 5, "scope": {"colour": "red"}}, "invalid_request"),
    ({"name": "x", "amount_usd": 5, "scope": {"tag": "no-equals"}}, "invalid_scope"),
    ({"name": "x", "amount_usd": 5, "notify": {"webhook_url": "ftp://example.com/x"}}, "invalid_webhook_url"),
    ({"name": "x", "amount_usd": 5, "notify": {"webhook_url": "http://user:pw@example.com/x"}},
     "invalid_webhook_url"),
    ({"name": "x", "amount_usd": 5, "notify": {"secret": "short"}}, "invalid_request"),
])
async def test_bad_budgets_get_a_json_422(http, body, code):
    response = await http.post("/api/budgets", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]


async def test_routes_need_a_token(server):
    async with httpx.AsyncClient(base_url=server.url) as anonymous:
        for method, path in (("get", "/api/budgets"), ("post", "/api/budgets"), ("get", "/api/alerts"),
                             ("patch", "/api/budgets/bdg_x"), ("delete", "/api/budgets/bdg_x"),
                             ("get", "/api/usage/forecast")):
            response = await getattr(anonymous, method)(path)
            assert response.status_code == 401, (method, path)


async def test_summary_takes_the_scope_and_echoes_it(http):
    await http.post("/api/usage/import", files={"file": ("a.csv", usage_csv(calls_today(2, 2), feature="chat"))})
    await http.post("/api/usage/import", files={"file": ("b.csv", usage_csv(calls_today(3, offset_s=9),
                                                                             feature="search", user="bob"))})
    whole = (await http.get("/api/usage/summary")).json()
    chat = (await http.get("/api/usage/summary", params={"feature": "chat", "group_by": "day"})).json()
    bob = (await http.get("/api/usage/summary", params={"user": "bob", "provider": "openai"})).json()
    assert whole["scope"] == {} and whole["total_usd"] == 7.0
    assert chat["scope"] == {"feature": "chat"} and chat["total_usd"] == 4.0 and chat["total_requests"] == 2
    assert bob["scope"] == {"user": "bob", "provider": "openai"} and bob["total_usd"] == 3.0
    bad = await http.get("/api/usage/summary", params={"tag": "nameonly"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_scope"


async def test_forecast_over_rest_is_honest_about_little_data_and_scoped(http):
    empty = (await http.get("/api/usage/forecast")).json()
    assert empty["data_sufficiency"] == "insufficient" and empty["forecast_usd"] is None and empty["daily"] == []
    today = today_utc()
    history = daily_calls(today - timedelta(days=42), today - timedelta(days=1), 2.0)
    await http.post("/api/usage/import", files={"file": ("h.csv", usage_csv(history, feature="chat"))})
    forecast = (await http.get("/api/usage/forecast", params={"horizon_days": 10, "feature": "chat"})).json()
    assert forecast["scope"] == {"feature": "chat"} and forecast["data_sufficiency"] == "sufficient"
    assert forecast["from"] == today.isoformat() and len(forecast["daily"]) == 10
    assert forecast["low_usd"] <= forecast["forecast_usd"] <= forecast["high_usd"]
    assert forecast["forecast_usd"] == pytest.approx(20.0, abs=0.01)  # $2 a day, flat
    assert set(forecast["daily"][0]) == {"day", "usd", "low_usd", "high_usd"}
    assert forecast["method"]
    none = (await http.get("/api/usage/forecast", params={"feature": "search"})).json()
    assert none["data_sufficiency"] == "insufficient"
    for bad in ({"horizon_days": 0}, {"horizon_days": 400}, {"horizon_days": "x"}, {"tag": "x"}):
        response = await http.get("/api/usage/forecast", params=bad)
        assert response.status_code == 422, bad
