"""Spendpilot side of the peer comparison: N users at once, each its own socket, timing first event and final event.

Run with the project's venv: .venv/bin/python bench/spendpilot_driver.py --url http://127.0.0.1:8000 --users 50
(or --email/--password to use one existing account, such as the demo). Same arguments and JSON summary as the
Chainlit driver (see driver_common); the sockets, runs and timings are spendpilot.verify's, as `spendpilot bench`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
from websockets.exceptions import ConnectionClosed, InvalidHandshake

sys.path.insert(0, str(Path(__file__).resolve().parent))

from driver_common import Sample, arguments, phase, report, since, summarise

from spendpilot.verify.client import Account, Api, Conn, ready_socket
from spendpilot.verify.results import CheckFailed
from spendpilot.verify.runs import drive_run, outcome_problems

REGISTER_CONCURRENCY = 8  # as spendpilot bench: sign-ups are argon2-bound and timed apart from the runs


async def register(api: Api, users: int) -> list[Account]:
    gate = asyncio.Semaphore(REGISTER_CONCURRENCY)

    async def one() -> Account:
        async with gate:
            for attempt in range(4):
                try:
                    return await api.register()
                except (CheckFailed, httpx.HTTPError):
                    if attempt == 3:
                        raise
                    await asyncio.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    return list(await asyncio.gather(*(one() for _ in range(users))))


async def ask(conn: Conn, timeout: float) -> Sample:
    sample = Sample(sent=time.perf_counter())
    try:
        # No grace after the final event: the next message goes out as soon as this one is complete.
        out = await drive_run(conn, timeout=timeout, grace=0.0)
    except ConnectionClosed:
        sample.error = "closed"
        return sample
    sample.sent = out.sent_at
    sample.ack_ms, sample.first_ms, sample.final_ms = out.ack_ms, out.first_event_ms, out.final_ms
    sample.events = len(out.events)
    if out.error is not None:
        sample.error = f"error_frame:{out.error.get('data', {}).get('code')}"
    elif out.final is None:
        sample.error = f"closed:{out.closed}" if out.closed else "timeout"
    elif out.final.get("type") != "agent_completed":
        sample.error = f"final:{out.final.get('type')}"
    elif outcome_problems(out):
        sample.error = "protocol"
    return sample


async def run(args) -> None:
    base = args.url.rstrip("/")
    async with httpx.AsyncClient(timeout=args.timeout) as client:
        api = Api(base, client)
        if args.email:
            accounts = [await api.login(args.email, args.password)] * args.users
        else:
            accounts = await register(api, args.users)
    if args.warmup:
        warm, _ = await ready_socket(base, accounts[0].access_token, args.timeout)
        for _ in range(args.warmup):
            await ask(warm, args.timeout)
        await warm.close()
    await phase("accounts", args.stepped)

    connect_ms: list[float] = []
    connect_errors: Counter = Counter()

    async def connect(account: Account) -> Conn | None:
        started = time.perf_counter()
        try:
            conn, _ = await ready_socket(base, account.access_token, args.timeout)
        except (InvalidHandshake, CheckFailed, ConnectionClosed, OSError, TimeoutError) as exc:
            connect_errors[f"connect:{type(exc).__name__}"] += 1
            return None
        connect_ms.append(since(started))
        return conn

    conns = [c for c in await asyncio.gather(*(connect(a) for a in accounts)) if c is not None]
    await phase("connected", args.stepped, open=len(conns))

    async def converse(conn: Conn) -> list[Sample]:
        return [await ask(conn, args.timeout) for _ in range(args.messages)]

    samples = [s for batch in await asyncio.gather(*(converse(c) for c in conns)) for s in batch]
    await report(summarise(samples, args.users, args.messages, connect_ms, connect_errors), args.stepped)
    await asyncio.gather(*(c.close() for c in conns))


def main() -> None:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--email", help="Use this existing account for every user (e.g. the demo account).")
    parser.add_argument("--password")
    args = parser.parse_args()
    if (args.email is None) != (args.password is None):
        parser.error("--email and --password go together")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
