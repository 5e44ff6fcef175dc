"""Checks of the remaining guarantees: several tabs, queued messages, old aliases, SSE replay."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable

from websockets.exceptions import ConnectionClosed

from spendpilot.verify.client import Conn, ready_socket
from spendpilot.verify.context import Context
from spendpilot.verify.protocol import RUN_TYPES, is_final, run_problems
from spendpilot.verify.results import CheckFailed, fail_if
from spendpilot.verify.runs import GOLDEN_MESSAGE, outcome_problems


async def _collect(conn: Conn, done: Callable[[list[dict]], bool], timeout: float) -> list[dict]:
    """Frames (heartbeats aside) until `done(frames)` holds or `timeout` passes."""
    frames: list[dict] = []
    deadline = time.perf_counter() + timeout
    while not done(frames):
        try:
            frame = await conn.recv(deadline - time.perf_counter())
        except ConnectionClosed:
            break
        if frame is None:
            break
        frames.append(frame)
    return frames


def _run_events(frames: list[dict], run_id: str | None) -> list[dict]:
    return [f for f in frames if f.get("type") in RUN_TYPES and f.get("run_id") == run_id]


def _finished(frames: list[dict], run_id: str | None) -> bool:
    return any(is_final(f) for f in _run_events(frames, run_id))


def _answer(frames: list[dict], kind: str, client_id: str) -> dict | None:
    """The first `kind` frame (ack or error) that answers the message sent with `client_id`."""
    return next((f for f in frames if f.get("type") == kind and f["data"].get("client_id") == client_id), None)


async def check_multi_tab(ctx: Context) -> str:
    token = ctx.need_account().access_token
    first, _ = await ready_socket(ctx.base, token, ctx.timeout)
    second, _ = await ready_socket(ctx.base, token, ctx.timeout)
    try:
        watcher = asyncio.ensure_future(_collect(second, lambda f: False, ctx.timeout))
        out = await ctx.drive(first, grace=0.0)
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        seen = [f for f in second.frames if f.get("type") != "heartbeat"]
        if not _finished(seen, out.run_id):
            seen += await _collect(second, lambda f: _finished(seen + f, out.run_id), ctx.timeout)
    finally:
        await asyncio.gather(first.close(), second.close())
    problems = outcome_problems(out)
    mirrored = _run_events(seen, out.run_id)
    if [(e["seq"], e["type"]) for e in mirrored] != [(e["seq"], e["type"]) for e in out.events]:
        problems.append(
            f"second tab got seqs {[e.get('seq') for e in mirrored][:12]}, "
            f"first tab {[e.get('seq') for e in out.events][:12]}"
        )
    fail_if(problems + second.problems)
    return f"both open sockets of the user received all {len(out.events)} events of the run, in order"


async def check_queued_message(ctx: Context) -> str:
    token = ctx.need_account().access_token
    conn, _ = await ready_socket(ctx.base, token, ctx.timeout)
    ids = {"first": f"verify-q1-{secrets.token_hex(4)}", "second": f"verify-q2-{secrets.token_hex(4)}"}
    try:
        await conn.send({"type": "user_message", "id": ids["first"], "data": {"content": GOLDEN_MESSAGE}})
        frames = await _collect(conn, lambda f: any(x.get("type") in ("ack", "error") for x in f), ctx.bounds.ack_s)
        first_ack = next((f for f in frames if f.get("type") == "ack"), None)
        if first_ack is None:
            raise CheckFailed(f"no ack for the first message within {ctx.bounds.ack_s:g}s: {str(frames[-1:])[:160]}")
        thread_id, first_run = first_ack["data"].get("thread_id"), first_ack["data"].get("run_id")
        await conn.send({"type": "user_message", "id": ids["second"],
                         "data": {"content": "And which model costs the most?", "thread_id": thread_id}})

        def both_done(more: list[dict]) -> bool:
            seen = frames + more
            second = _answer(seen, "ack", ids["second"])
            refused = _answer(seen, "error", ids["second"]) is not None
            return refused or (second is not None and _finished(seen, second["data"].get("run_id")))

        # The second run starts when the first ends: two runs' deadlines.
        frames += await _collect(conn, both_done, 2 * ctx.bounds.final_s)
    finally:
        await conn.close()
    refused = _answer(frames, "error", ids["second"])
    if refused:
        raise CheckFailed(f"second message refused instead of queued: {refused['data']}")
    second_ack = _answer(frames, "ack", ids["second"])
    if second_ack is None:
        raise CheckFailed("no ack for the second message in the same thread")
    second_run = second_ack["data"].get("run_id")
    problems = []
    if second_ack["data"].get("thread_id") != thread_id:
        problems.append("the second message was acked on another thread")
    for label, run_id in (("first", first_run), ("second", second_run)):
        problems += [f"{label} run: {p}" for p in run_problems(_run_events(frames, run_id))]
    order = [(f.get("run_id"), is_final(f)) for f in frames if f.get("type") in RUN_TYPES]
    first_final = next((i for i, (r, fin) in enumerate(order) if r == first_run and fin), None)
    second_start = next((i for i, (r, _) in enumerate(order) if r == second_run), None)
    if first_final is not None and second_start is not None and second_start < first_final:
        problems.append("the second run emitted events before the first run ended (not queued)")
    fail_if(problems)
    return "second message in the same thread was acked and ran after the first run's final event"


async def check_legacy_aliases(ctx: Context) -> str:
    token = ctx.need_account().access_token
    conn, _ = await ready_socket(ctx.base, token, ctx.timeout)
    variants = [("chat", "text"), ("start_agent", "user_request"), ("execute_agent", "message")]
    problems: list[str] = []
    try:
        for kind, key in variants:
            client_id = f"verify-{kind}-{secrets.token_hex(4)}"
            await conn.send({"type": kind, "id": client_id, "payload": {key: GOLDEN_MESSAGE}})
            frames = await _collect(conn, lambda f: any(x.get("type") in ("ack", "error") for x in f),
                                    ctx.bounds.ack_s)
            ack = _answer(frames, "ack", client_id)
            if ack is None:
                problems.append(f"{kind} with payload.{key}: no ack within {ctx.bounds.ack_s:g}s "
                                f"({str(frames[-1:])[:120]})")
                continue
            run_id = ack["data"].get("run_id")
            await conn.send({"type": "stop_agent", "payload": {"run_id": run_id}})
            # Bind this variant's frames and run id: the predicate must not see a later iteration's.
            def stopped(more: list[dict], earlier: list[dict] = frames, this_run: str | None = run_id) -> bool:
                return _finished(earlier + more, this_run)

            frames += await _collect(conn, stopped, ctx.bounds.final_s)
            events = _run_events(frames, run_id)
            finals = [e for e in events if is_final(e)]
            if len(finals) != 1:
                problems.append(f"{kind} then stop_agent: {len(finals)} final events")
    finally:
        await conn.close()
    fail_if(problems)
    return "chat/text, start_agent/user_request, execute_agent/message acked; stop_agent ended each run"


async def check_sse_replay(ctx: Context) -> str:
    out = ctx.need_golden()
    total = len(out.events)
    last_id = max(total - 3, 0)
    headers = {"Accept": "text/event-stream", "Last-Event-ID": str(last_id)}
    url = f"{ctx.base}/api/runs/{out.run_id}/events"
    headers["Authorization"] = f"Bearer {ctx.need_account().access_token}"
    events: list[dict] = []
    ids: list[str] = []
    async with ctx.api.client.stream("GET", url, headers=headers, timeout=ctx.timeout) as response:
        if response.status_code != 200 or "text/event-stream" not in response.headers.get("content-type", ""):
            content_type = response.headers.get("content-type")
            raise CheckFailed(f"HTTP {response.status_code} {content_type}, not an event stream")
        data_lines: list[str] = []
        async with asyncio.timeout(ctx.timeout):
            async for line in response.aiter_lines():
                if line.startswith("id:"):
                    ids.append(line[3:].strip())
                elif line.startswith("data:"):
                    data_lines.append(line[5:].lstrip())
                elif line == "" and data_lines:
                    events.append(json.loads("\n".join(data_lines)))
                    data_lines = []
                    if is_final(events[-1]):
                        break
    seqs = [e.get("seq") for e in events]
    problems = []
    if seqs != list(range(last_id + 1, total + 1)):
        problems.append(f"Last-Event-ID {last_id}: stream gave seqs {seqs}, expected {last_id + 1}..{total}")
    if ids and ids != [str(s) for s in seqs]:
        problems.append(f"SSE ids {ids} do not match the events' seqs")
    if events and [e.get("type") for e in events] != [e["type"] for e in out.events[last_id:]]:
        problems.append("SSE events differ from the live ones")
    fail_if(problems)
    return f"Last-Event-ID {last_id} -> seqs {last_id + 1}..{total} as SSE, ending with the final event"
