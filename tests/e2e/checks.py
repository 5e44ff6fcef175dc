"""Assertions on what the server sent for one run: the SPEC §4 order rules and §7 report shape."""

from __future__ import annotations

from spendpilot.runs.events import is_final

RUN_EVENT_TYPES = {"agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed",
                   "partial_result", "agent_error", "run_cancelled"}


def assert_run_well_formed(events: list[dict], run_id: str, thread_id: str) -> None:
    assert events, "no run events received"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), "seq must start at 1 without gaps"
    for event in events:
        assert event["run_id"] == run_id and event["thread_id"] == thread_id
        assert event["type"] in RUN_EVENT_TYPES, event["type"]
        assert isinstance(event["ts"], str) and event["ts"].endswith("Z")
    finals = [e for e in events if is_final(e["type"], e["data"])]
    assert len(finals) == 1, f"expected exactly one final event, got {len(finals)}"
    assert finals[0] is events[-1], "the final event must be last"
    first = events[0]
    if first["type"] != "run_cancelled":
        assert first["type"] == "agent_started" and first["data"]["agent"] == "supervisor"
    started: set[str] = set()
    open_calls: dict[str, dict] = {}
    for event in events:
        agent = event["data"].get("agent")
        if event["type"] == "agent_started":
            started.add(agent)
        elif event["type"] in ("agent_thinking", "tool_executing", "tool_completed", "agent_completed",
                               "partial_result"):
            assert agent in started, f"{event['type']} of {agent} before its agent_started"
        if event["type"] == "tool_executing":
            open_calls[event["data"]["call_id"]] = event
        if event["type"] == "tool_completed":
            assert event["data"]["call_id"] in open_calls, "tool_completed without its tool_executing"
            assert open_calls.pop(event["data"]["call_id"])["data"]["tool"] == event["data"]["tool"]


def assert_report_consistent(report: dict) -> None:
    for key in ("period", "spend", "data_sufficiency", "recommendations", "total_monthly_savings_usd",
                "savings_pct", "caveats"):
        assert key in report, key
    recs = report["recommendations"]
    savings = [r["monthly_savings_usd"] for r in recs]
    assert savings == sorted(savings, reverse=True), "recommendations ranked by savings"
    assert abs(sum(savings) - report["total_monthly_savings_usd"]) < 0.011
    for rec in recs:
        for key in ("id", "title", "kind", "monthly_savings_usd", "evidence", "assumptions", "actions"):
            assert key in rec, key
        assert rec["monthly_savings_usd"] > 0
    monthly = report["spend"]["monthly_usd"]
    if monthly > 0:
        assert abs(report["savings_pct"] - report["total_monthly_savings_usd"] / monthly * 100) < 0.01


def queue_places(frames: list[dict], run_ids: list[str]) -> dict[str, list[int]]:
    """The places each run was told (run_queued), in order; checks each frame is a connection frame (no seq, the
    run named in data only) and that a run's place only ever went down."""
    queued = [f for f in frames if f["type"] == "run_queued"]
    for frame in queued:
        assert not {"run_id", "thread_id", "seq"} & frame.keys(), frame
        assert frame["data"]["run_id"] in run_ids and frame["data"]["position"] >= 1, frame
    places = {run_id: [f["data"]["position"] for f in queued if f["data"]["run_id"] == run_id] for run_id in run_ids}
    for told in places.values():
        assert all(a > b for a, b in zip(told, told[1:], strict=False)), told
    return places
