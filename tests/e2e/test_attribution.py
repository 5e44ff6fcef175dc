"""Attribution in the report: when the calls name their users, the report names the top spenders, with
the figures of the usage summary grouped by user; when they do not, it says nothing about users."""

from __future__ import annotations

import httpx

from tests.e2e.checks import assert_report_consistent
from tests.support.client import collect_run, login, open_socket, register, send_message


async def analyse(url: str, ws_url: str, token: str) -> tuple[dict, str]:
    ws = await open_socket(ws_url, token)
    try:
        ack = await send_message(ws, "Analyze my AI costs")
        events = await collect_run(ws, ack["data"]["run_id"])
    finally:
        await ws.close()
    final = events[-1]
    assert final["type"] == "agent_completed", final
    tools = [(e["data"]["tool"], e["data"].get("args", {}).get("group_by")) for e in events
             if e["type"] == "tool_executing"]
    assert_report_consistent(final["data"]["report"])
    return final["data"], str(tools)


async def test_the_report_names_the_top_spenders_with_the_summarys_figures(spendpilot_server):
    session = await login(spendpilot_server.url, spendpilot_server.demo_email, spendpilot_server.demo_password)
    data, tools = await analyse(spendpilot_server.url, spendpilot_server.ws_url, session["access_token"])
    report = data["report"]
    spenders = report["spend"]["top_spenders"]
    assert "('usage_summary', 'user')" in tools, "the figures come from a tool call the run shows"

    period = report["period"]
    async with httpx.AsyncClient(base_url=spendpilot_server.url,
                                 headers={"Authorization": f"Bearer {session['access_token']}"}) as http:
        by_user = (await http.get("/api/usage/summary", params={"from": period["from"], "to": period["to"],
                                                                 "group_by": "user"})).json()
    named = [g for g in by_user["groups"] if g["key"]][:5]
    assert [(s["user"], s["cost_usd"], s["requests"]) for s in spenders] == \
        [(g["key"], g["cost_usd"], g["requests"]) for g in named]
    assert spenders[0]["share"] == round(named[0]["cost_usd"] / by_user["total_usd"], 4)
    markdown = data["final_response"]
    assert "### Top spenders" in markdown and f"| {spenders[0]['user']} | ${spenders[0]['cost_usd']:,.2f}" in markdown


async def test_a_report_over_calls_without_users_names_no_spenders(spendpilot_server):
    account = await register(spendpilot_server.url)
    csv = "ts,provider,model,input_tokens,output_tokens\n2026-10-01T10:00:00Z,openai,gpt-4o,1000,100\n"
    async with httpx.AsyncClient(base_url=spendpilot_server.url,
                                 headers={"Authorization": f"Bearer {account['access_token']}"}) as http:
        assert (await http.post("/api/usage/import", files={"file": ("u.csv", csv.encode())})).status_code == 200
    data, tools = await analyse(spendpilot_server.url, spendpilot_server.ws_url, account["access_token"])
    assert "top_spenders" not in data["report"]["spend"]
    assert "'user')" not in tools and "Top spenders" not in data["final_response"]
