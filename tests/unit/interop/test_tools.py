"""The MCP tools come from the catalogue: every catalogue tool is offered with its own schema, new ones included."""

from __future__ import annotations

import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, ConfigDict

from spendpilot.agents.report import build_report, rank_recommendations
from spendpilot.analytics.catalog import TOOLS, Tool
from spendpilot.interop.mcp_server import call, tool_listing
from spendpilot.interop.tools import interop_tools

SECTION_12 = {"usage_summary", "spend_overview", "find_savings", "forecast_spend", "budget_status", "analyze_costs"}


def test_every_catalogue_tool_is_offered_read_only_with_its_typed_schema():
    offered = interop_tools()
    assert set(TOOLS) <= set(offered)
    assert SECTION_12 <= set(offered)
    for name, tool in TOOLS.items():
        listed = tool_listing(offered[name])
        assert listed.description == tool.description
        assert listed.input_schema == tool.arguments.model_json_schema(by_alias=True)
        assert listed.input_schema["type"] == "object"
        assert listed.annotations.read_only_hint is True and listed.annotations.destructive_hint is False
    summary = tool_listing(offered["usage_summary"]).input_schema
    assert {"from", "to", "group_by"} <= set(summary["properties"])
    # model, provider, feature, day, user, api_key or tag:<name>, as the REST summary takes them.
    pattern = summary["properties"]["group_by"]["pattern"]
    assert "tag:" in pattern and "api_key" in pattern


class EchoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    word: str


def test_a_tool_added_to_the_catalogue_is_offered_without_code_in_interop(monkeypatch):
    async def run(_usage, args):
        return {"echo": args.word}

    monkeypatch.setitem(TOOLS, "echo_word", Tool("echo_word", "data", "Says the word back.", EchoArgs, run))
    listed = tool_listing(interop_tools()["echo_word"])
    assert listed.description == "Says the word back."
    assert listed.input_schema["required"] == ["word"]


async def test_bad_arguments_are_a_tool_error_the_caller_can_read_and_an_unknown_tool_a_protocol_error():
    # Refused before any data is touched: no services are needed.
    refused = await call(None, "org_x", "usage_summary", {"group_by": "colour"})  # type: ignore[arg-type]
    assert refused.is_error is True
    assert isinstance(refused.content[0], types.TextContent)
    assert "group_by" in refused.content[0].text
    extra = await call(None, "org_x", "spend_overview", {"form": "2026-01-01"})  # type: ignore[arg-type]
    assert extra.is_error is True and "form" in extra.content[0].text
    with pytest.raises(MCPError, match="unknown tool"):
        await call(None, "org_x", "drop_tables", {})  # type: ignore[arg-type]


def test_find_savings_ranks_as_the_report_does():
    findings = [{"id": "b", "kind": "caching", "title": "t", "monthly_savings_usd": 10.004},
                {"id": "a", "kind": "batch", "title": "t", "monthly_savings_usd": 10.001},
                {"id": "c", "kind": "batch", "title": "t", "monthly_savings_usd": 0.0},
                {"id": "d", "kind": "retries", "title": "t", "monthly_savings_usd": 25.5}]
    ranked, total = rank_recommendations(findings)
    report = build_report(period={"from": None, "to": None, "days": 0},
                          summary={"total_usd": 0, "total_requests": 0, "groups": []}, overview=None,
                          sufficiency="sufficient", findings=findings, anomalies=[], profile={})
    assert [r["id"] for r in ranked] == ["d", "a", "b"] == [r["id"] for r in report["recommendations"]]
    assert total == report["total_monthly_savings_usd"] == 45.5
