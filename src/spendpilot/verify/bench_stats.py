"""Per-user bench outcomes and their summary: percentiles, throughput, errors, lost events."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

STAGES = ("connect", "ack", "first_event", "final_event")


@dataclass
class UserRun:
    """What one simulated user measured."""

    index: int
    error: str | None = None
    detail: str = ""
    connect_ms: float | None = None
    ack_ms: float | None = None
    first_event_ms: float | None = None
    final_event_ms: float | None = None
    sent_at: float | None = None
    final_at: float | None = None
    events: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    sufficiency: str | None = None


@dataclass
class Registration:
    """How creating the bench accounts went."""

    accounts: int = 0
    seconds: float = 0.0
    retries: int = 0
    errors: Counter = field(default_factory=Counter)


def seq_damage(seqs: list[Any]) -> tuple[int, int, int]:
    """(lost, duplicated, out_of_order) for seqs that should be 1..max exactly once, ascending."""
    ints = [s for s in seqs if isinstance(s, int) and not isinstance(s, bool)]
    if not ints:
        return 0, 0, 0
    unique = set(ints)
    lost = max(unique) - len([s for s in unique if s >= 1])
    duplicated = len(ints) - len(unique)
    out_of_order = sum(1 for a, b in pairwise(ints) if b < a)
    return lost, duplicated, out_of_order


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return round(ordered[rank - 1], 1)


def stage_stats(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": round(max(values), 1) if values else None,
    }


def summarise(url: str, users: int, ramp: float, registration: Registration, runs: list[UserRun]) -> dict:
    """The bench result as one JSON-ready object."""
    completed = [r for r in runs if r.error is None]
    errors = Counter(r.error for r in runs if r.error is not None)
    errors.update({f"register:{k}": v for k, v in registration.errors.items()})
    starts = [r.sent_at for r in runs if r.sent_at is not None]
    ends = [r.final_at for r in runs if r.final_at is not None]
    wall = (max(ends) - min(starts)) if starts and ends else 0.0
    # Every run that reached a stage counts, so a run ended by its deadline shows as a slow
    # final event (and under errors) instead of vanishing from the percentiles.
    latency = {
        stage: stage_stats([v for r in runs if (v := getattr(r, f"{stage}_ms")) is not None])
        for stage in STAGES
    }
    examples = {}
    for run in runs:
        if run.error and run.error not in examples:
            examples[run.error] = run.detail[:300]
    result: dict[str, Any] = {
        "url": url,
        "users": users,
        "ramp_s": ramp,
        "registration": {
            "accounts": registration.accounts,
            "seconds": round(registration.seconds, 2),
            "per_s": round(registration.accounts / registration.seconds, 1) if registration.seconds else None,
            "retries": registration.retries,
        },
        "runs": {
            "started": len(runs),
            "completed": len(completed),
            "failed": len(runs) - len(completed),
            "ended": len(ends),
            "wall_s": round(wall, 2),
            "runs_per_s": round(len(completed) / wall, 2) if wall > 0 else None,
        },
        "latency_ms": latency,
        "events": {
            "total": sum(r.events for r in runs),
            "lost": sum(r.lost for r in runs),
            "duplicated": sum(r.duplicated for r in runs),
            "out_of_order": sum(r.out_of_order for r in runs),
        },
        "errors": dict(errors),
        "error_examples": examples,
        "data_sufficiency": dict(Counter(r.sufficiency for r in completed if r.sufficiency)),
    }
    result["passed"] = (
        not errors
        and len(completed) == users
        and not any(result["events"][k] for k in ("lost", "duplicated", "out_of_order"))
    )
    return result
