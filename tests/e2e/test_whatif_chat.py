"""What-if questions in the chat: capacity from the forecast times the scenario, a model switch repriced on the
org's own token mix. The figures come from catalogue tools the run shows, and match the REST API."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from spendpilot.analytics.pricing import model_price, price_usage, resolve_model
from tests.e2e.checks import assert_run_well_formed
from tests.support.client import collect_run, open_socket, register, send_message
from tests.support.server import RunningServer, free_port
from tests.support.usage_rows import daily_calls, today_utc, usage_csv


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = RunningServer(tmp_path_factory.mktemp("whatif"), free_port(),
                            env={"SPENDPILOT_SEED_DEMO": "0"}).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
async def account(server):
    """An org with six weeks of gpt-4o usage by two users of one feature, and a budget."""
    session = await register(server.url)
    headers = {"Authorization": f"Bearer {session['access_token']}"}
    today = today_utc()
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
        for user, usd in (("ann", 2.0), ("bob", 1.0)):
            calls = daily_calls(today - timedelta(days=42), today - timedelta(days=1), usd)
            imported = await http.post("/api/usage/import", files={"file": ("u.csv", usage_csv(calls, user=user))})
            assert imported.json()["imported"] == 42
        await http.post("/api/budgets", json={"name": "Monthly AI", "amount_usd": 500})
    return session


async def ask(server, session, question: str) -> tuple[list[dict], dict]:
    ws = await open_socket(server.ws_url, session["access_token"])
    try:
        ack = await send_message(ws, question)
        events = await collect_run(ws, ack["data"]["run_id"])
    finally:
        await ws.close()
    assert_run_well_formed(events, ack["data"]["run_id"], ack["data"]["thread_id"])
    assert events[-1]["type"] == "agent_completed", events[-1]
    return events, events[-1]["data"]


def tool_calls(events: list[dict]) -> dict[str, tuple[dict, dict]]:
    """tool -> (its agent and args, its shown result)."""
    started = {e["data"]["call_id"]: e["data"] for e in events if e["type"] == "tool_executing"}
    return {e["data"]["tool"]: (started[e["data"]["call_id"]], e["data"]["result"])
            for e in events if e["type"] == "tool_completed" and e["data"]["ok"]}


async def rest(server, session, path: str, **params) -> dict:
    async with httpx.AsyncClient(base_url=server.url, timeout=30,
                                 headers={"Authorization": f"Bearer {session['access_token']}"}) as http:
        response = await http.get(path, params=params)
        response.raise_for_status()
        return response.json()


async def test_traffic_triples_is_the_forecast_times_three(server, account):
    events, final = await ask(server, account, "What will we spend next month if traffic triples?")
    report = final["report"]
    assert report["intent"] == "capacity_planning"
    calls = tool_calls(events)
    forecast_call, _ = calls["forecast_spend"]
    capacity_call, _ = calls["plan_capacity"]
    assert forecast_call["agent"] == "data" and forecast_call["args"] == {"horizon_days": 30}
    assert capacity_call["agent"] == "optimization"
    assert capacity_call["args"] == {"horizon_days": 30, "traffic_multiplier": 3.0, "added_users": 0}
    assert any("traffic at 3x" in e["data"]["thought"] for e in events if e["type"] == "agent_thinking")

    forecast = await rest(server, account, "/api/usage/forecast", horizon_days=30)
    capacity = report["capacity"]
    assert capacity["baseline"] == {k: forecast[k] for k in ("forecast_usd", "low_usd", "high_usd")}
    assert forecast["forecast_usd"] == pytest.approx(90.0, abs=0.01)  # $3 a day, flat
    assert capacity["projected_usd"] == pytest.approx(3 * forecast["forecast_usd"], abs=1e-6)
    assert capacity["projected_high_usd"] == pytest.approx(3 * forecast["high_usd"], abs=1e-6)
    assert report["forecast"]["forecast_usd"] == forecast["forecast_usd"]
    [budget] = report["budgets"]
    assert budget["name"] == "Monthly AI" and budget["amount_usd"] == 500
    assert "$270.00" in final["final_response"] and "What if: traffic at 3x" in final["final_response"]
    assert "Monthly AI" in final["final_response"]


async def test_new_users_are_priced_at_the_spend_per_active_user(server, account):
    events, final = await ask(server, account, "What if we add 2,000 users next month?")
    capacity = final["report"]["capacity"]
    assert tool_calls(events)["plan_capacity"][0]["args"]["added_users"] == 2000
    per_user = capacity["per_user"]
    assert per_user["users"] == 2 and per_user["daily_usd_per_user"] == pytest.approx(1.5)  # $3 a day, 2 users
    assert capacity["added_users_usd"] == pytest.approx(2000 * 1.5 * 30)
    assert capacity["projected_usd"] == pytest.approx(capacity["baseline"]["forecast_usd"] + 90_000, abs=0.01)
    assert any("active user" in a for a in capacity["assumptions"])


async def test_switching_across_families_reprices_the_orgs_own_tokens(server, account):
    events, final = await ask(server, account, "Should we switch from gpt-4o to claude sonnet?")
    report = final["report"]
    assert report["intent"] == "model_comparison"
    target = resolve_model("claude sonnet")
    call, _ = tool_calls(events)["compare_models"]
    assert call["args"]["to_model"] == target["model"] and call["args"]["from_model"] == "gpt-4o"
    comparison = report["comparison"]
    assert comparison["kind"] == "model_switch"
    assert (comparison["from_model"], comparison["to_model"]) == ("gpt-4o", target["model"])
    period = report["period"]
    summary = await rest(server, account, "/api/usage/summary", model="gpt-4o", **{"from": period["from"],
                                                                                     "to": period["to"]})
    assert comparison["current_usd"] == summary["total_usd"] == pytest.approx(126.0)  # 42 days at $3
    group = summary["groups"][0]
    assert (comparison["input_tokens"], comparison["output_tokens"]) == (group["input_tokens"], group["output_tokens"])
    projected = price_usage(target["provider"], target["model"], group["input_tokens"], group["output_tokens"])
    assert comparison["projected_usd"] == pytest.approx(projected, abs=1e-6)
    assert comparison["change_usd"] == pytest.approx(projected - 126.0, abs=1e-6)
    assert comparison["monthly_change_usd"] == pytest.approx((projected - 126.0) / period["days"] * 30, abs=1e-6)
    rates = model_price(target["provider"], target["model"])
    assert comparison["prices"][target["model"]]["input_per_mtok"] == rates["input_mtok"]
    assert comparison["prices"]["gpt-4o"] == {"input_per_mtok": 2.5, "output_per_mtok": 10.0,
                                              "cached_input_per_mtok": 1.25}
    assert report["caveats"][0].startswith("Price is not quality")
    assert f"Switching gpt-4o to {target['model']}" in final["final_response"]


async def test_without_usage_a_what_if_gets_guidance_not_numbers(server):
    session = await register(server.url)
    events, final = await ask(server, session, "What if traffic triples next month?")
    assert final["report"]["data_sufficiency"] == "insufficient"
    assert "capacity" not in final["report"] and "plan_capacity" not in tool_calls(events)
