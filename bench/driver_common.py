"""What the Spendpilot and Chainlit bench drivers share: arguments, the phase handshake with compare.py, the summary."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass

# Standard library only: the Chainlit driver imports this from the peer's own venv.


@dataclass
class Sample:
    """One message: when it was sent and how long each stage took (ms from the send)."""

    sent: float
    ack_ms: float | None = None
    first_ms: float | None = None
    final_ms: float | None = None
    events: int = 0
    error: str | None = None


def arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--url", required=True, help="Base URL of the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--users", type=int, default=1, help="Users at once, each with its own socket.")
    parser.add_argument("--messages", type=int, default=1, help="Messages per user, one after another.")
    parser.add_argument("--warmup", type=int, default=1, help="Messages on a throwaway socket before measuring.")
    parser.add_argument("--timeout", type=float, default=120.0, help="Seconds a message may take to complete.")
    parser.add_argument("--stepped", action="store_true",
                        help="Print each phase as a JSON line and wait for a line on stdin before going on "
                             "(compare.py reads the server's memory and CPU between phases).")
    return parser


async def phase(name: str, stepped: bool, **extra) -> None:
    """Tell the caller where the driver is; when stepped, wait until it has taken its readings."""
    if not stepped:
        return
    sys.stdout.write(json.dumps({"phase": name, **extra}) + "\n")
    sys.stdout.flush()
    # A thread, so that open sockets keep answering pings while the caller reads /proc.
    line = await asyncio.to_thread(sys.stdin.readline)
    if not line:
        raise SystemExit("caller went away")


async def report(result: dict, stepped: bool) -> None:
    """Print the summary; when stepped, wait for the caller's reading before the sockets close."""
    if stepped:
        # The caller reads the server's CPU time here, so closing the sockets stays out of the figure.
        await phase("done", True, **result)
    else:
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


def since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 2)


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest rank, as spendpilot.verify.bench_stats computes it."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(1, math.ceil(pct / 100.0 * len(ordered))) - 1], 1)


def summarise(samples: list[Sample], users: int, messages: int, connect_ms: list[float],
              connect_errors: Counter) -> dict:
    """Throughput over the span from the first send to the last completion; percentiles over completed messages."""
    done = [s for s in samples if s.error is None and s.final_ms is not None]
    errors = Counter(s.error for s in samples if s.error is not None) + connect_errors
    wall = 0.0
    if done:
        wall = max(s.sent + s.final_ms / 1000.0 for s in done) - min(s.sent for s in samples)
    final = [s.final_ms for s in done]
    first = [s.first_ms for s in samples if s.first_ms is not None]
    ack = [s.ack_ms for s in samples if s.ack_ms is not None]
    return {
        "users": users,
        "messages": users * messages,
        "completed": len(done),
        # Every message that did not complete, whether its socket never opened, it failed or it timed out.
        "errors": users * messages - len(done),
        "error_kinds": dict(errors),
        "wall_s": round(wall, 3),
        "msgs_per_s": round(len(done) / wall, 2) if wall > 0 else None,
        "final_p50_ms": percentile(final, 50),
        "final_p99_ms": percentile(final, 99),
        "first_p50_ms": percentile(first, 50),
        "ack_p50_ms": percentile(ack, 50),
        "ack_p99_ms": percentile(ack, 99),
        "connect_p50_ms": percentile(connect_ms, 50),
        "events_per_message": round(sum(s.events for s in done) / len(done), 1) if done else None,
    }
