"""Checks that users see nothing of each other and that bad frames get error frames."""

from __future__ import annotations

import asyncio
import json
import secrets

from websockets.exceptions import ConnectionClosed

from spendpilot.verify.client import Account, Conn, ready_socket
from spendpilot.verify.context import Context
from spendpilot.verify.protocol import RUN_TYPES
from spendpilot.verify.results import CheckFailed, fail_if
from spendpilot.verify.runs import RunOutcome, outcome_problems


def _leaks(conn: Conn, other: RunOutcome) -> list[str]:
    marks = [m for m in (other.run_id, other.thread_id, other.client_id) if m]
    leaked = [f for f in conn.frames if any(m in json.dumps(f) for m in marks)]
    if not leaked:
        return []
    kinds = sorted({str(f.get("type")) for f in leaked})
    return [f"{len(leaked)} frame(s) of the other user's run reached this socket ({', '.join(kinds)})"]


async def _not_found(ctx: Context, who: Account, other: RunOutcome) -> list[str]:
    paths = [
        f"/api/threads/{other.thread_id}",
        f"/api/threads/{other.thread_id}/messages",
        f"/api/runs/{other.run_id}",
        f"/api/runs/{other.run_id}/events",
    ]
    problems = []
    for path in paths:
        response = await ctx.api.call("GET", path, who.access_token)
        if response.status_code != 404:
            problems.append(f"GET {path} by the other user: HTTP {response.status_code}, expected 404")
    return problems


async def _foreign_resume(ctx: Context, conn: Conn, other: RunOutcome) -> list[str]:
    """Resuming someone else's run must yield no events of it."""
    await conn.send({"type": "resume", "data": {"run_id": other.run_id, "after_seq": 0}})
    while True:
        try:
            frame = await conn.recv(1.0)
        except ConnectionClosed:
            return [f"socket closed ({conn.close_code}) after resuming a foreign run"]
        if frame is None or frame.get("type") == "error":
            return []
        if frame.get("run_id") == other.run_id:
            return ["resume of the other user's run replayed its events"]


async def check_isolation(ctx: Context) -> str:
    first = ctx.need_account()
    try:
        second = await ctx.api.register()
    except CheckFailed as exc:
        raise CheckFailed(f"could not register a second user: {exc}") from exc
    conn_a, ready_a = await ready_socket(ctx.base, first.access_token, ctx.timeout)
    try:
        conn_b, ready_b = await ready_socket(ctx.base, second.access_token, ctx.timeout)
    except BaseException:
        await conn_a.close()
        raise
    try:
        out_a, out_b = await asyncio.gather(
            ctx.drive(conn_a, grace=0.5),
            ctx.drive(conn_b, grace=0.5),
        )
        problems = []
        if ready_a["data"].get("user_id") == ready_b["data"].get("user_id"):
            problems.append("both sockets report the same user_id")
        problems += [f"user A: {p}" for p in outcome_problems(out_a)]
        problems += [f"user B: {p}" for p in outcome_problems(out_b)]
        if out_a.run_id and out_b.run_id:
            problems += [f"user A: {p}" for p in _leaks(conn_a, out_b)]
            problems += [f"user B: {p}" for p in _leaks(conn_b, out_a)]
            problems += [f"user B: {p}" for p in await _foreign_resume(ctx, conn_b, out_a)]
            problems += [f"user B: {p}" for p in await _not_found(ctx, second, out_a)]
            problems += [f"user A: {p}" for p in await _not_found(ctx, first, out_b)]
    finally:
        await asyncio.gather(conn_a.close(), conn_b.close())
    fail_if(problems)
    return (
        f"two users ran at once ({len(out_a.events)} + {len(out_b.events)} events): no frame crossed, "
        "foreign resume replayed nothing, foreign thread/run/events are 404"
    )


async def check_bad_frames(ctx: Context) -> str:
    account = ctx.need_account()
    conn, _ = await ready_socket(ctx.base, account.access_token, ctx.timeout)
    cid = f"verify-bad-{secrets.token_hex(4)}"
    # (label, frame sent raw or as JSON, error code expected)
    cases: list[tuple[str, dict | str, str]] = [
        ("invalid JSON", "{not json", "invalid_json"),
        ("unknown type", {"type": "no_such_type", "id": cid + "-t", "data": {}}, "unknown_type"),
        ("user_message without content", {"type": "user_message", "id": cid + "-m", "data": {}}, "invalid_message"),
        (
            "100 KiB frame",
            {"type": "user_message", "id": cid + "-l", "data": {"content": "x" * (100 * 1024)}},
            "too_large",
        ),
    ]
    problems: list[str] = []
    wait = min(ctx.timeout, 5.0)
    try:
        for label, message, code in cases:
            await conn.send(message)
            frame = await _next_reply(conn, wait)
            if frame is None:
                problems.append(f"{label}: no error frame within {wait:g}s")
            elif frame.get("type") != "error":
                problems.append(f"{label}: got {frame.get('type')} instead of error {code}")
            elif frame["data"].get("code") != code:
                problems.append(f"{label}: error code {frame['data'].get('code')!r}, expected {code!r}")
        nonce = secrets.token_hex(8)
        await conn.send({"type": "ping", "data": {"nonce": nonce}})
        pong = await _next_reply(conn, wait)
        if pong is None or pong.get("type") != "pong" or pong["data"].get("nonce") != nonce:
            problems.append(f"ping after the bad frames: got {str(pong)[:120]} instead of pong {nonce}")
    except ConnectionClosed:
        problems.append(f"socket closed ({conn.close_code}) after a bad frame; it must stay open")
    finally:
        await conn.close()
    problems += await _huge_frame(ctx, account.access_token, wait)
    fail_if(problems + conn.problems)
    return (
        "invalid_json, unknown_type, invalid_message, too_large answered; ping -> pong afterwards; "
        "a 2 MiB frame got too_large or a 1009 close"
    )


async def _huge_frame(ctx: Context, token: str, wait: float) -> list[str]:
    """Past the 1 MiB transport limit a too_large error or a 1009 close is fine; 1011 never is."""
    conn, _ = await ready_socket(ctx.base, token, ctx.timeout)
    try:
        await conn.send({"type": "user_message", "id": "verify-huge", "data": {"content": "x" * (2 << 20)}})
        frame = await _next_reply(conn, wait)
    except ConnectionClosed:
        code = conn.close_code or conn.ws.close_code
        return [] if code == 1009 else [f"2 MiB frame: socket closed with {code}, expected too_large or 1009"]
    finally:
        await conn.close()
    if frame is None or frame.get("type") != "error" or frame["data"].get("code") != "too_large":
        return [f"2 MiB frame: got {str(frame)[:120]} instead of too_large or a 1009 close"]
    return []


async def _next_reply(conn: Conn, wait: float) -> dict | None:
    """The next frame that answers the client (run events of other runs are skipped)."""
    while True:
        frame = await conn.recv(wait)
        if frame is None or frame.get("type") not in RUN_TYPES:
            return frame
