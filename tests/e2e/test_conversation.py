"""A conversation over the real socket (SPEC §13): follow-ups keep the thread's scope and change only what
they name, every usage tool is called with the run's period and scope, the filtered totals equal the
filtered summary, and each intent is answered from its own catalogue tools."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest

from tests.e2e.checks import assert_report_consistent, assert_run_well_formed
from tests.support.client import collect_run, login, open_socket, send_message

# Tools that read usage; every one of them must carry the run's period and scope.
UNSCOPED = {"profile_usage"}


class Conversation:
    """One thread of the demo account, question after question over one socket."""

    def __init__(self, server, session):
        self.server, self.session = server, session
        self.thread_id: str | None = None
        self.ws = None

    async def ask(self, question: str) -> tuple[list[dict], dict]:
        if self.ws is None:
            self.ws = await open_socket(self.server.ws_url, self.session["access_token"])
        ack = await send_message(self.ws, question, self.thread_id)
        run_id, self.thread_id = ack["data"]["run_id"], ack["data"]["thread_id"]
        events = await collect_run(self.ws, run_id, timeout=90)
        assert_run_well_formed(events, run_id, self.thread_id)
        assert events[-1]["type"] == "agent_completed", events[-1]
        return events, events[-1]["data"]

    async def rest(self, path: str, **params) -> dict | list:
        async with httpx.AsyncClient(base_url=self.server.url, timeout=30,
                                     headers={"Authorization": f"Bearer {self.session['access_token']}"}) as http:
            response = await http.get(path, params=params)
            response.raise_for_status()
            return response.json()

    async def summary(self, report: dict, **extra) -> dict:
        """GET /api/usage/summary with the report's from, to and scope."""
        return await self.rest("/api/usage/summary", **{"from": report["period"]["from"],
                                                        "to": report["period"]["to"], **report["scope"], **extra})

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


@pytest.fixture
async def chat(spendpilot_server):
    session = await login(spendpilot_server.url, spendpilot_server.demo_email, spendpilot_server.demo_password)
    conversation = Conversation(spendpilot_server, session)
    yield conversation
    await conversation.close()


def tool_calls(events: list[dict]) -> list[dict]:
    """Each tool call: its executing event's data with the completed result under "result"."""
    done = {e["data"]["call_id"]: e["data"] for e in events if e["type"] == "tool_completed"}
    return [{**e["data"], "result": done[e["data"]["call_id"]]["result"], "ok": done[e["data"]["call_id"]]["ok"]}
            for e in events if e["type"] == "tool_executing"]


def called(events: list[dict], tool: str) -> list[dict]:
    return [c for c in tool_calls(events) if c["tool"] == tool]


def triage_scope_line(events: list[dict]) -> str:
    [line] = [e["data"]["thought"] for e in events if e["type"] == "agent_thinking"
              and e["data"]["agent"] == "triage" and e["data"]["thought"].startswith("Scope: ")]
    return line


def assert_every_tool_scoped(events: list[dict], report: dict) -> None:
    """Every usage tool was called with the report's period and each key of its scope, and nothing else."""
    period = report["period"]
    for call in tool_calls(events):
        if call["tool"] in UNSCOPED:
            continue
        args = call["args"]
        for key, value in report["scope"].items():
            assert args.get(key) == value, (call["tool"], args)
        for key in ("feature", "model", "provider", "user", "tag"):
            if key not in report["scope"]:
                assert key not in args, (call["tool"], args)
        if "from" in args and call["tool"] != "compare_periods":
            assert (args["from"], args["to"]) == (period["from"], period["to"]), (call["tool"], args)


async def test_a_follow_up_keeps_the_scope_and_changes_only_what_it_names(chat):
    events, first = await chat.ask("Analyze my AI costs")
    report = first["report"]
    assert report["scope"] == {} and report["intent"] == "cost_analysis"
    assert_report_consistent(report)
    profile = called(events, "profile_usage")[0]["result"]
    whole = (profile["first_day"], profile["last_day"])
    assert (report["period"]["from"], report["period"]["to"]) == whole
    assert (await chat.summary(report))["total_usd"] == report["spend"]["total_usd"]
    assert triage_scope_line(events).startswith("Scope: the whole organisation")

    # One feature: the scope gains it, the period stays, and every figure is that feature's.
    events, narrowed = await chat.ask("now only the support-bot feature")
    report = narrowed["report"]
    assert report["scope"] == {"feature": "support-bot"}
    assert (report["period"]["from"], report["period"]["to"]) == whole
    assert_every_tool_scoped(events, report)
    summary = await chat.summary(report)
    assert summary["scope"] == {"feature": "support-bot"}
    assert report["spend"]["total_usd"] == summary["total_usd"] < first["report"]["spend"]["total_usd"]
    assert [m["model"] for m in report["spend"]["by_model"]] == [g["key"] for g in summary["groups"]]
    assert all(r["evidence"].get("feature") == "support-bot" for r in report["recommendations"])
    line = triage_scope_line(events)
    assert line.startswith("Scope: feature support-bot") and "feature set to support-bot" in line
    assert "period kept" in line

    # A period: set, and the feature kept.
    events, recent = await chat.ask("and for the last 7 days?")
    report = recent["report"]
    last = date.fromisoformat(profile["last_day"])
    assert report["scope"] == {"feature": "support-bot"}
    assert report["period"] == {"from": (last - timedelta(days=6)).isoformat(), "to": last.isoformat(), "days": 7}
    assert_every_tool_scoped(events, report)
    assert report["spend"]["total_usd"] == (await chat.summary(report))["total_usd"]

    # "All features" clears the key; the period stays.
    events, widened = await chat.ask("what about all features?")
    report = widened["report"]
    assert report["scope"] == {} and report["period"] == recent["report"]["period"]
    assert report["intent"] == "cost_analysis"
    assert_every_tool_scoped(events, report)
    assert report["spend"]["total_usd"] == (await chat.summary(report))["total_usd"]
    assert "feature widened to all" in triage_scope_line(events)

    # Each run keeps what it covered.
    run = await chat.rest(f"/api/runs/{events[0]['run_id']}")
    assert run["scope"] == {} and run["period"] == {"from": report["period"]["from"], "to": report["period"]["to"]}
    assert run["intent"] == "cost_analysis"


async def test_where_the_money_goes_by_team_is_the_team_tag_breakdown(chat):
    events, final = await chat.ask("Where does the money go by team?")
    report = final["report"]
    assert report["intent"] == "breakdown" and report["scope"] == {}
    [breakdown_call] = [c for c in called(events, "usage_summary") if c["args"]["group_by"] == "tag:team"]
    assert breakdown_call["agent"] == "data"
    summary = await chat.summary(report, group_by="tag:team")
    breakdown = report["breakdown"]
    assert breakdown["dimension"] == "tag:team" and breakdown["total_usd"] == summary["total_usd"]
    assert [(g["key"], g["cost_usd"]) for g in breakdown["groups"]] == [(g["key"], g["cost_usd"])
                                                                         for g in summary["groups"]]
    top = summary["groups"][0]
    assert f"{top['key']} spent the most: **${top['cost_usd']:,.2f}**" in final["final_response"]
    # A breakdown asks where the money goes, not how to save it: no analysis ran.
    assert not [c for c in tool_calls(events) if c["tool"].startswith("find_")]

    # A follow-up on one team keeps breaking down, now within it.
    events, within = await chat.ask("only the platform team, by model")
    report = within["report"]
    assert report["intent"] == "breakdown" and report["scope"] == {"tag": "team=platform"}
    assert report["breakdown"]["dimension"] == "model"
    assert_every_tool_scoped(events, report)
    assert report["breakdown"]["total_usd"] == (await chat.summary(report, group_by="model"))["total_usd"]


async def test_why_spend_changed_last_week_compares_it_with_the_week_before(chat):
    events, final = await chat.ask("Why did spend jump last week compared to the week before?")
    report = final["report"]
    assert report["intent"] == "period_comparison"
    [call] = called(events, "compare_periods")
    profile = called(events, "profile_usage")[0]["result"]
    last = date.fromisoformat(profile["last_day"])
    week = ((last - timedelta(days=6)).isoformat(), last.isoformat())
    before = ((last - timedelta(days=13)).isoformat(), (last - timedelta(days=7)).isoformat())
    assert (call["args"]["from"], call["args"]["to"]) == week and call["agent"] == "data"
    comparison = report["comparison"]
    assert comparison["kind"] == "periods"
    assert (comparison["current"]["from"], comparison["current"]["to"]) == week
    assert (comparison["previous"]["from"], comparison["previous"]["to"]) == before
    # Each total is the summary of its own days; the report covers the current week.
    now = await chat.rest("/api/usage/summary", **{"from": week[0], "to": week[1]})
    then = await chat.rest("/api/usage/summary", **{"from": before[0], "to": before[1]})
    assert comparison["current"]["total_usd"] == now["total_usd"] == report["spend"]["total_usd"]
    assert comparison["previous"]["total_usd"] == then["total_usd"]
    assert comparison["change_usd"] == pytest.approx(now["total_usd"] - then["total_usd"], abs=1e-6)
    assert comparison["change_pct"] == round((now["total_usd"] - then["total_usd"]) / then["total_usd"] * 100, 2)
    # The movers are the summaries by each dimension, biggest change first.
    movers = comparison["movers"]
    assert movers and [abs(m["change_usd"]) for m in movers] == sorted((abs(m["change_usd"]) for m in movers),
                                                                       reverse=True)
    for mover in movers[:3]:
        by_now = await chat.rest("/api/usage/summary", group_by=mover["dimension"], **{"from": week[0], "to": week[1]})
        by_then = await chat.rest("/api/usage/summary", group_by=mover["dimension"],
                                  **{"from": before[0], "to": before[1]})
        current = next((g["cost_usd"] for g in by_now["groups"] if g["key"] == mover["key"]), 0.0)
        previous = next((g["cost_usd"] for g in by_then["groups"] if g["key"] == mover["key"]), 0.0)
        assert (mover["current_usd"], mover["previous_usd"]) == (pytest.approx(current), pytest.approx(previous))
        # The answer names each top mover with its change in $ and %.
        sign = "+" if mover["change_usd"] > 0 else "-"
        assert f"{mover['dimension']} {mover['key']} {sign}${abs(mover['change_usd']):,.2f}" in final["final_response"]
        if mover["change_pct"] is not None:
            assert f"{mover['change_pct']:+.2f}%" in final["final_response"]


async def test_tell_me_more_about_a_recommendation_reruns_its_analysis_only(chat):
    _, first = await chat.ask("Analyze my AI costs")
    caching = [r for r in first["report"]["recommendations"] if r["kind"] == "prompt_caching"]
    assert caching, "the demo data has uncached prompt prefixes"

    events, final = await chat.ask("Tell me more about the caching recommendation")
    report = final["report"]
    assert report["intent"] == "finding_detail"
    analyses = [c["tool"] for c in tool_calls(events) if c["tool"].startswith("find_")]
    assert analyses == ["find_prompt_caching"]
    assert report["finding"]["id"] == caching[0]["id"]
    assert report["finding"]["monthly_savings_usd"] == caching[0]["monthly_savings_usd"]
    assert report["finding"]["title"] in final["final_response"]
    for action in report["finding"]["actions"]:
        assert action in final["final_response"]
    assert_every_tool_scoped(events, report)


async def test_a_question_spendpilot_cannot_answer_gets_a_short_honest_answer(chat):
    events, final = await chat.ask("What's the weather in Paris?")
    report = final["report"]
    assert report["intent"] == "general"
    assert report["recommendations"] == [] and report["total_monthly_savings_usd"] == 0
    assert not [c for c in tool_calls(events) if c["tool"].startswith("find_")]
    assert len(final["final_response"]) <= 800
    assert "outside what Spendpilot can answer" in final["final_response"]
    assert "Where does the money go by team" in final["final_response"]
    # What the report says it read is still true.
    assert report["spend"]["total_usd"] == (await chat.summary(report))["total_usd"]


async def test_what_if_questions_in_a_thread_stay_in_its_scope(chat):
    await chat.ask("Analyze the support-bot feature")
    events, switch = await chat.ask("Should we switch from gpt-4o to claude sonnet?")
    report = switch["report"]
    assert report["intent"] == "model_comparison" and report["scope"] == {"feature": "support-bot"}
    [call] = called(events, "compare_models")
    assert call["args"]["feature"] == "support-bot" and call["args"]["from_model"] == "gpt-4o"
    comparison = report["comparison"]
    assert comparison["kind"] == "model_switch"
    filtered = await chat.summary(report, model="gpt-4o")
    assert comparison["current_usd"] == filtered["total_usd"]
    assert_every_tool_scoped(events, report)

    events, capacity = await chat.ask("What will we spend next month if traffic doubles?")
    report = capacity["report"]
    assert report["intent"] == "capacity_planning" and report["scope"] == {"feature": "support-bot"}
    assert called(events, "forecast_spend")[0]["args"] == {"feature": "support-bot", "horizon_days": 30}
    assert called(events, "plan_capacity")[0]["args"]["traffic_multiplier"] == 2.0
    forecast = await chat.rest("/api/usage/forecast", feature="support-bot", horizon_days=30)
    assert report["capacity"]["baseline"]["forecast_usd"] == forecast["forecast_usd"]
