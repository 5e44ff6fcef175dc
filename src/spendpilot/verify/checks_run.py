"""Checks of a run: the golden path, its persistence and grounding, resume and cancel."""

from __future__ import annotations

import time
from urllib.parse import urlencode

from websockets.exceptions import ConnectionClosed

from spendpilot.verify.client import ready_socket
from spendpilot.verify.context import Context
from spendpilot.verify.protocol import RUN_TYPES, is_final, run_problems, seq_problems
from spendpilot.verify.report_shape import report_problems
from spendpilot.verify.results import CheckFailed, fail, fail_if
from spendpilot.verify.runs import GOLDEN_MESSAGE, outcome_problems, silence

CANCEL_LIMIT_S = 5.0


async def check_golden_path(ctx: Context) -> str:
    account = ctx.need_account()
    conn, _ = await ready_socket(ctx.base, account.access_token, ctx.timeout)
    try:
        out = await ctx.drive(conn)
    finally:
        await conn.close()
    ctx.golden = out
    silent = silence(out)
    if silent:
        # Runs do not work: the checks that drive runs would each wait out the same bound.
        ctx.down["runs"] = f"golden_path: {silent}"
    ctx.record("ack", out.ack_ms)
    ctx.record("first_event", out.first_event_ms)
    ctx.record("final_event", out.final_ms)
    problems = outcome_problems(out) + conn.problems
    if out.ack_ms is not None and out.ack_ms > ctx.bounds.ack_s * 1000.0:
        problems.append(f"ack after {out.ack_ms:.0f} ms (SPEC: within {ctx.bounds.ack_s:g} s)")
    final = out.final
    report = (final or {}).get("data", {}).get("report")
    if final is not None and final.get("type") == "agent_completed" and isinstance(report, dict):
        problems += [f"report: {p}" for p in report_problems(report)]
    fail_if(problems)
    tools = sum(1 for e in out.events if e["type"] == "tool_completed")
    return (
        f"run {out.run_id}: {len(out.events)} events, {tools} tool results; "
        f"{len(report['recommendations'])} recommendations, "
        f"${report['total_monthly_savings_usd']:,.2f}/mo ({report['savings_pct']}%) "
        f"of ${report['spend']['monthly_usd']:,.2f}/mo; data {report['data_sufficiency']}"
    )


def _same_event(live: dict, stored: dict) -> bool:
    keys = ("type", "seq", "run_id", "thread_id", "data")
    return all(live.get(k) == stored.get(k) for k in keys)


async def check_persistence(ctx: Context) -> str:
    out = ctx.need_golden()
    token = ctx.need_account().access_token
    api = ctx.api
    problems: list[str] = []
    thread = await api.json("GET", f"/api/threads/{out.thread_id}", token)
    if thread.get("id") != out.thread_id:
        problems.append(f"GET /api/threads/{out.thread_id} returned id {thread.get('id')!r}")
    messages = await api.json("GET", f"/api/threads/{out.thread_id}/messages", token)
    if not isinstance(messages, list):
        raise CheckFailed("GET /api/threads/{id}/messages is not a JSON list")
    users = [i for i, m in enumerate(messages) if m.get("role") == "user" and m.get("content") == GOLDEN_MESSAGE]
    final_data = (out.final or {}).get("data", {})
    bots = [
        i for i, m in enumerate(messages)
        if m.get("role") == "assistant" and m.get("run_id") == out.run_id and isinstance(m.get("report"), dict)
    ]
    if not users:
        problems.append("the user message is not in the thread")
    if not bots:
        problems.append(f"no assistant message with run_id {out.run_id} and a report")
    elif users and users[0] > bots[0]:
        problems.append("the assistant message precedes the user message")
    if bots and final_data.get("report") is not None and messages[bots[0]]["report"] != final_data["report"]:
        problems.append("the stored report differs from the live final report")
    events = await api.json("GET", f"/api/runs/{out.run_id}/events", token)
    if not isinstance(events, list):
        raise CheckFailed("GET /api/runs/{id}/events is not a JSON list")
    live = [(e.get("seq"), e.get("type")) for e in out.events]
    stored_events = [e for e in events if isinstance(e, dict)]
    stored = [(e.get("seq"), e.get("type")) for e in stored_events]
    if live != stored:
        problems.append(f"stored events {stored[:12]} differ from live {live[:12]}")
    else:
        # Equal (seq, type) lists mean equal lengths, so the pairs line up one to one.
        differing = [e["seq"] for e, s in zip(out.events, stored_events, strict=True) if not _same_event(e, s)]
        if differing:
            problems.append(f"stored events differ from the live ones in content at seq {differing[:8]}")
    half = len(out.events) // 2
    tail = await api.json("GET", f"/api/runs/{out.run_id}/events?after={half}", token)
    tail_seqs = [e.get("seq") for e in tail] if isinstance(tail, list) else tail
    if tail_seqs != list(range(half + 1, len(out.events) + 1)):
        problems.append(f"events?after={half} returned seqs {str(tail_seqs)[:80]}")
    fail_if(problems)
    return f"thread has {len(messages)} messages incl. the report; {len(events)} stored events == live; after= works"


async def check_report_grounded(ctx: Context) -> str:
    out = ctx.need_golden()
    report = ((out.final or {}).get("data") or {}).get("report")
    if not isinstance(report, dict):
        raise CheckFailed("not run: golden_path produced no report")
    period = report.get("period") or {}
    query = {k: period[k] for k in ("from", "to") if isinstance(period.get(k), str)}
    path = "/api/usage/summary" + (f"?{urlencode(query)}" if query else "")
    summary = await ctx.api.json("GET", path, ctx.need_account().access_token)
    total, reported = summary.get("total_usd"), (report.get("spend") or {}).get("total_usd")
    if not isinstance(total, (int, float)) or not isinstance(reported, (int, float)):
        raise CheckFailed(f"totals not numeric: summary {total!r}, report {reported!r}")
    if abs(total - reported) > 0.01:
        raise CheckFailed(f"report spend.total_usd {reported} != GET {path} total_usd {total}")
    return f"spend.total_usd {reported} == {path} total_usd"


async def check_resume(ctx: Context) -> str:
    account = ctx.need_account()
    first, _ = await ready_socket(ctx.base, account.access_token, ctx.timeout)
    try:
        before = await ctx.drive(first, stop=lambda o: len(o.events) >= 3 or o.final is not None)
    finally:
        first.abort()
    if before.ack is None or not before.events:
        fail_if(outcome_problems(before) or ["no events before the disconnect"])
    fail_if([f"before disconnect: {p}" for p in seq_problems(before.seqs())])
    after_seq = before.events[-1]["seq"]
    status = await ctx.api.call("GET", f"/api/runs/{before.run_id}", account.access_token)
    body = status.json() if status.status_code == 200 else None
    state = body.get("status") if isinstance(body, dict) else None
    second, _ = await ready_socket(ctx.base, account.access_token, ctx.timeout)
    resumed: list[dict] = []
    errors: list[str] = []
    sent_at = time.perf_counter()
    try:
        await second.send({"type": "resume", "data": {"run_id": before.run_id, "after_seq": after_seq}})
        final_at = None
        while True:
            limit = final_at + 0.3 if final_at else sent_at + ctx.bounds.final_s
            frame = await second.recv(limit - time.perf_counter())
            if frame is None:
                break
            if frame.get("type") == "error":
                errors.append(f"error {frame['data'].get('code')}: {frame['data'].get('message')}")
            elif frame.get("type") in RUN_TYPES and frame.get("run_id") == before.run_id:
                resumed.append(frame)
                if is_final(frame) and final_at is None:
                    final_at = time.perf_counter()
    except ConnectionClosed:
        errors.append(f"socket closed ({second.close_code}) during the resume")
    finally:
        await second.close()
    problems = errors + second.problems
    problems += [f"resumed: {p}" for p in seq_problems([e.get("seq") for e in resumed], start=after_seq + 1)]
    if resumed:
        problems += [f"whole run: {p}" for p in run_problems(before.events + resumed)]
    if not resumed:
        problems.append(f"nothing received within {ctx.bounds.final_s:g}s after resume")
    elif not is_final(resumed[-1]):
        problems.append(f"no final event after resume (last seq {resumed[-1].get('seq')})")
    stored = await ctx.api.json("GET", f"/api/runs/{before.run_id}/events", account.access_token)
    got = [(e.get("seq"), e.get("type")) for e in before.events + resumed]
    if isinstance(stored, list) and got != [(e.get("seq"), e.get("type")) for e in stored]:
        problems.append("events before + after the disconnect differ from the stored run")
    fail_if(problems)
    note = f"; run status at reconnect: {state}" if state else ""
    return (
        f"dropped after seq {after_seq}, resume delivered seq {after_seq + 1}..{resumed[-1]['seq']} "
        f"({len(resumed)} events, no gap, no duplicate){note}"
    )


async def check_cancel(ctx: Context) -> str:
    account = ctx.need_account()
    conn, _ = await ready_socket(ctx.base, account.access_token, ctx.timeout)
    cancelled_at: list[float] = []

    async def cancel(out) -> None:
        cancelled_at.append(time.perf_counter())
        await conn.send({"type": "cancel", "data": {"run_id": out.run_id}})

    try:
        out = await ctx.drive(conn, on_ack=cancel, grace=0.5)
    finally:
        await conn.close()
    problems = outcome_problems(out, expect_completed=False) + conn.problems
    final = out.final
    if final is None:
        fail(problems or ["no final event after cancel"])
    if final["type"] == "run_cancelled":
        # The cancel goes out on the ack, and only a final event read after the ack is timed.
        if out.final_ms is None or not cancelled_at:
            fail(problems + ["run_cancelled arrived before the cancel was sent"])
        waited = out.sent_at + out.final_ms / 1000.0 - cancelled_at[0]
        if waited > CANCEL_LIMIT_S:
            problems.append(f"run_cancelled {waited:.1f}s after cancel")
        how = f"run_cancelled (seq {final['seq']}) {waited * 1000:.0f} ms after cancel"
    elif final["type"] == "agent_completed":
        how = "the run completed before the cancel took effect (final agent_completed)"
    else:
        problems.append(f"cancel ended the run with {final['type']}: {final.get('data')}")
        how = final["type"]
    fail_if(problems)
    return how + f"; exactly one final event of {len(out.events)}"
