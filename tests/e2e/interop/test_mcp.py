"""MCP with the official SDK's client against a real `spendpilot up`: over Streamable HTTP at /mcp and over
stdio through `spendpilot mcp`; every tool called, its figures compared with the REST API's."""

from __future__ import annotations

import sys
from contextlib import asynccontextmanager

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from spendpilot.analytics.catalog import TOOLS
from tests.support.client import register

from .conftest import Org, chat_report, rest

SECTION_12 = {"usage_summary", "spend_overview", "find_savings", "forecast_spend", "budget_status", "analyze_costs"}


@asynccontextmanager
async def over_http(url: str, credential: str):
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {credential}"}, timeout=120)
    async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
        yield client


def over_stdio(url: str, key: str) -> Client:
    """`spendpilot mcp` started as a desktop client starts it: a command, configured by its environment."""
    return Client(StdioServerParameters(command=sys.executable, args=["-m", "spendpilot", "mcp"],
                                        env={"SPENDPILOT_URL": url, "SPENDPILOT_API_KEY": key}))


async def called(client: Client, name: str, args: dict | None = None) -> dict:
    result = await client.call_tool(name, args or {})
    assert result.is_error is False, (name, result.content)
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def test_without_credentials_mcp_answers_401_pointing_to_the_resource_metadata(org: Org):
    async with httpx.AsyncClient(base_url=org.url) as http:
        refused = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                  headers={"Accept": "application/json, text/event-stream"})
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"
        challenge = refused.headers["www-authenticate"]
        assert challenge.startswith("Bearer ")
        assert f'resource_metadata="{org.url}/.well-known/oauth-protected-resource"' in challenge
        metadata = (await http.get("/.well-known/oauth-protected-resource")).json()
        assert metadata["resource"] == org.url and metadata["bearer_methods_supported"] == ["header"]
        assert metadata["authorization_servers"] == [org.url] and "read" in metadata["scopes_supported"]
        # Where an MCP client looks first (RFC 9728 §3.1, the resource's path appended).
        assert (await http.get("/.well-known/oauth-protected-resource/mcp")).json()["resource"] == f"{org.url}/mcp"

        # Stateless: no stream to open with GET, no session to DELETE (the transport spec's 405).
        for method in ("GET", "DELETE"):
            assert (await http.request(method, "/mcp", headers=org.auth(org.key))).status_code == 405
        forged = await http.post("/mcp", json={}, headers={"Authorization": "Bearer sp_" + "x" * 43})
        assert forged.status_code == 401 and 'error="invalid_token"' in forged.headers["www-authenticate"]
        expired = await http.post("/mcp", json={}, headers={"Authorization": "Bearer not.a.jwt"})
        assert expired.status_code == 401 and 'error="invalid_token"' in expired.headers["www-authenticate"]
        ingest = await http.post("/api/keys", json={"name": "intake only", "scopes": ["ingest"]}, headers=org.auth())
        narrow = await http.post("/mcp", json={}, headers={"Authorization": f"Bearer {ingest.json()['key']}"})
        assert narrow.status_code == 403
        assert 'error="insufficient_scope"' in narrow.headers["www-authenticate"]
    # The official client gets nowhere without a credential either.
    with pytest.raises(BaseException) as failed:  # noqa: B017 - the SDK wraps the refusal in task groups
        async with Client(f"{org.url}/mcp") as client:
            await client.list_tools()
    assert "MCPError" in repr(failed.value) or "401" in repr(failed.value)


async def test_http_lists_every_catalogue_tool_with_its_typed_schema(org: Org):
    async with over_http(org.url, org.key) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert SECTION_12 <= set(tools)
    assert set(TOOLS) <= set(tools)
    for name, tool in TOOLS.items():
        assert tools[name].input_schema == tool.arguments.model_json_schema(by_alias=True)
        assert tools[name].annotations.read_only_hint is True
    assert tools["forecast_spend"].input_schema["properties"]["horizon_days"]["maximum"] == 366
    assert "question" in tools["analyze_costs"].input_schema["properties"]
    servers = await rest(org, "/api/mcp/servers")
    assert servers[0]["url"] == f"{org.url}/mcp" and servers[0]["transport"] == "streamable-http"
    assert {t["name"] for t in servers[0]["tools"]} == set(tools)


async def test_every_tool_over_http_gives_the_rest_api_figures(org: Org):
    summary_rest = await rest(org, "/api/usage/summary", group_by="feature")
    assert summary_rest["total_requests"] == org.imported
    last = summary_rest["to"]
    week = await rest(org, "/api/usage/summary", group_by="model", **{"from": summary_rest["from"], "to": last})
    top_model = week["groups"][0]["key"]
    report = await chat_report(org)
    async with over_http(org.url, org.key) as client:
        # usage_summary: the same answer as GET /api/usage/summary, for a window and for a scope.
        assert await called(client, "usage_summary", {"group_by": "feature"}) == summary_rest
        scoped = await called(client, "usage_summary", {"group_by": "day", "from": last, "to": last,
                                                        "model": top_model})
        assert scoped == await rest(org, "/api/usage/summary", group_by="day", model=top_model,
                                    **{"from": last, "to": last})
        assert scoped["total_usd"] > 0

        overview = await called(client, "spend_overview")
        assert overview["total_usd"] == summary_rest["total_usd"] == report["spend"]["total_usd"]
        assert overview["monthly_usd"] == report["spend"]["monthly_usd"]

        forecast = await called(client, "forecast_spend", {"horizon_days": 14})
        assert forecast == await rest(org, "/api/usage/forecast", horizon_days=14)

        budgets = (await called(client, "budget_status"))["items"]
        listed = {b["id"]: b for b in await rest(org, "/api/budgets")}
        assert [b["id"] for b in budgets] == [org.budget_id]
        for budget in budgets:
            assert {k: listed[budget["id"]][k] for k in budget} == budget
        assert budgets[0]["spent_usd"] > 0

        savings = await called(client, "find_savings")
        assert [(r["id"], r["monthly_savings_usd"]) for r in savings["recommendations"]] == \
               [(r["id"], r["monthly_savings_usd"]) for r in report["recommendations"]]
        assert savings["total_monthly_savings_usd"] == report["total_monthly_savings_usd"] > 0

        analyzed = await called(client, "analyze_costs")
        for key in ("period", "spend", "data_sufficiency", "recommendations", "total_monthly_savings_usd",
                    "savings_pct", "intent"):
            assert analyzed["report"][key] == report[key], key
        assert f"${report['total_monthly_savings_usd']:,.2f}" in analyzed["final_response"]

        profile = await called(client, "profile_usage")
        assert profile["rows"] == summary_rest["total_requests"]

        switch = await called(client, "compare_models", {"from_model": top_model, "to_model": "gpt-4o-mini"})
        assert switch["current_usd"] == week["groups"][0]["cost_usd"]

        capacity = await called(client, "plan_capacity", {"traffic_multiplier": 2})
        assert isinstance(capacity, dict) and capacity

        # Each analysis on its own: its savings recommendations are find_savings' own.
        ranked = {r["id"]: r["monthly_savings_usd"] for r in savings["recommendations"]}
        for name in (n for n in TOOLS if n.startswith("find_") and n != "find_anomalies"):
            for finding in (await called(client, name))["items"]:
                if round(finding["monthly_savings_usd"], 2) > 0:
                    assert ranked[finding["id"]] == round(finding["monthly_savings_usd"], 2)
        assert isinstance((await called(client, "find_anomalies"))["items"], list)


async def test_bad_arguments_are_tool_errors_and_an_access_token_works_like_a_key(org: Org):
    async with over_http(org.url, org.token) as client:
        wrong = await client.call_tool("usage_summary", {"group_by": "colour"})
        assert wrong.is_error is True and "group_by" in wrong.content[0].text
        backwards = await client.call_tool("spend_overview", {"from": "2026-02-01", "to": "2026-01-01"})
        assert backwards.is_error is True and "after" in backwards.content[0].text
        with pytest.raises(MCPError, match="unknown tool"):
            await client.call_tool("drop_tables", {})
        by_token = await called(client, "usage_summary")
    assert by_token == await rest(org, "/api/usage/summary")


async def test_another_org_sees_only_its_own_usage(org: Org, interop_server):
    stranger = await register(interop_server.url)
    async with over_http(org.url, stranger["access_token"]) as client:
        theirs = await called(client, "usage_summary")
        assert theirs["total_usd"] == 0 and theirs["total_requests"] == 0
        assert (await called(client, "budget_status"))["items"] == []


async def test_stdio_server_lists_and_calls_the_same_tools_as_http(org: Org):
    async with over_http(org.url, org.key) as http_client:
        over_the_wire = {t.name for t in (await http_client.list_tools()).tools}
    async with over_stdio(org.url, org.key) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == over_the_wire
        assert tools["usage_summary"].input_schema == TOOLS["usage_summary"].arguments.model_json_schema(
            by_alias=True)
        assert await called(client, "usage_summary", {"group_by": "provider"}) == \
               await rest(org, "/api/usage/summary", group_by="provider")
        forecast = await called(client, "forecast_spend", {"horizon_days": 7})
        assert forecast == await rest(org, "/api/usage/forecast", horizon_days=7)
        savings = await called(client, "find_savings", {"from": forecast["from"]})
        assert savings["from"] == forecast["from"] and savings["recommendations"] == []  # nothing after the data
        wrong = await client.call_tool("usage_summary", {"group_by": "colour"})
        assert wrong.is_error is True and "group_by" in wrong.content[0].text


async def test_stdio_server_explains_a_refused_key_and_an_unreachable_server(org: Org):
    async with over_stdio(org.url, "sp_" + "y" * 43) as client:
        refused = await client.call_tool("usage_summary", {})
        assert refused.is_error is True
        assert "401" in refused.content[0].text and "SPENDPILOT_API_KEY" in refused.content[0].text
        with pytest.raises(MCPError, match="401"):
            await client.list_tools()
    async with over_stdio("http://127.0.0.1:9", org.key) as client:
        down = await client.call_tool("usage_summary", {})
        assert down.is_error is True and "could not be reached" in down.content[0].text


async def test_mcp_config_is_a_ready_to_paste_client_configuration(org: Org):
    stdio = await rest(org, "/api/mcp/config")
    server = stdio["mcpServers"]["spendpilot"]
    assert server["command"] == "spendpilot" and server["args"] == ["mcp"]
    assert server["env"]["SPENDPILOT_URL"] == org.url and server["env"]["SPENDPILOT_API_KEY"].startswith("sp_")
    http = (await rest(org, "/api/mcp/config", transport="http"))["mcpServers"]["spendpilot"]
    assert http["url"] == f"{org.url}/mcp" and http["headers"]["Authorization"].startswith("Bearer sp_")
    discovery = await rest(org, "/api/discovery/services")
    assert discovery["mcp"]["url"] == f"{org.url}/mcp" and discovery["ag_ui"]["url"] == f"{org.url}/ag-ui"
