"""Realistic demo usage with planted, known waste that every analysis should find."""

from __future__ import annotations

import asyncio
import csv
import random
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from pathlib import Path

from .pricing import pricer
from .store import AnalyticsStore

UTC = UTC

def _priced(provider: str, model: str) -> Callable[..., float]:
    """The price function of a demo model (every demo model is in the price tables)."""
    fn = pricer(provider, model)
    if fn is None:
        raise LookupError(f"demo model {provider}/{model} has no price")
    return fn


# Kinds of planted waste; generate_usage(planted=...) picks which to plant.
PLANTED_ALL = frozenset(
    {"model_rightsizing", "prompt_caching", "batch_api", "retry_waste", "oversized_outputs", "anomalies"}
)

# Columns of the generic CSV format, in file order.
CSV_COLUMNS = [
    "ts", "user", "provider", "model", "feature", "input_tokens", "output_tokens",
    "cached_input_tokens", "latency_ms", "status", "is_batch", "prompt_hash",
    "prompt_prefix_hash", "prompt_prefix_tokens", "max_tokens", "cost_usd",
]


@dataclass(frozen=True)
class Feature:
    name: str
    provider: str
    model: str
    share: float  # of all rows
    input_range: tuple[int, int]  # tokens beyond the prefix
    output_range: tuple[int, int]
    prefix_tokens: int
    max_tokens: int | None
    users: int
    burst: tuple[int, int]  # calls per session, e.g. a folder of documents summarised in a row
    # Hour weights: daytime for interactive traffic, a fixed slot for scheduled jobs.
    hours: tuple[int, ...]
    # The team that owns it, carried as the tag `team` (attribution by team).
    team: str = ""


_DAYTIME = tuple(range(7, 22)) * 3 + tuple(range(0, 24))  # busy 07-22 UTC, some at night


def _features(planted: frozenset[str]) -> list[Feature]:
    rightsize = "model_rightsizing" in planted
    return [
        # Short classification-like tickets: gpt-4o where gpt-4o-mini would do.
        Feature("support-bot", "openai", "gpt-4o" if rightsize else "gpt-4o-mini", 0.28,
                (150, 600), (20, 140), 300, 256, 40, (1, 1), _DAYTIME, team="support"),
        # A 2,800-token system prompt repeated on every call.
        Feature("doc-summarizer", "anthropic", "claude-sonnet-4-5", 0.18,
                (1500, 6000), (300, 700), 2800, 1024, 25, (4, 12), _DAYTIME, team="knowledge"),
        # A scheduled job that nobody waits for, run between 02:00 and 04:00 UTC.
        Feature("nightly-report", "openai", "gpt-4.1", 0.10,
                (2000, 5000), (500, 1500), 800, 2048, 1, (1, 1), (2, 3), team="data"),
        Feature("code-review", "anthropic", "claude-opus-4-1", 0.10,
                (2000, 7000), (400, 1200), 1200, None, 15, (1, 1), _DAYTIME, team="platform"),
        # Reranking with max_tokens 4096 for ~150-token answers and a runaway tail.
        Feature("search-rerank", "google", "gemini-2.5-pro", 0.16,
                (1200, 3000), (80, 220), 900, 4096, 60, (1, 1), _DAYTIME, team="search"),
        Feature("chat-assistant", "openai", "gpt-4o-mini", 0.18,
                (300, 2500), (100, 600), 400, 4096, 80, (1, 1), _DAYTIME, team="product"),
    ]


def _hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016x}"


def _int(rng: random.Random, lo: int, hi: int) -> int:
    # random.randint is several times slower than this, and generation runs at every first start.
    return lo + int(rng.random() * (hi - lo + 1))


def generate_usage(
    org_id: str,
    rows: int,
    days: int = 90,
    seed: int = 7,
    end: date | None = None,
    *,
    planted: Collection[str] = PLANTED_ALL,
) -> Iterator[dict]:
    """Yield about ``rows`` priced llm_usage rows over ``days`` days ending ``end``, in time order.

    Deterministic for a given seed and end. ``planted`` chooses the waste to plant; an
    empty set yields the same traffic shape with none of it.
    """
    planted = frozenset(planted)
    unknown = planted - PLANTED_ALL
    if unknown:
        raise ValueError(f"unknown planted waste: {sorted(unknown)}")
    rng = random.Random(seed)
    end = end or datetime.now(tz=UTC).date()
    first = end - timedelta(days=days - 1)
    features = _features(planted)
    prefix_hash = {f.name: _hex(rng) for f in features}
    code_review = next(f for f in features if f.name == "code-review")

    # Weekdays carry more traffic than weekends; anomaly days add a burst of code review.
    weights = [1.0 if (first + timedelta(d)).weekday() < 5 else 0.55 for d in range(days)]
    anomaly_days = set()
    if "anomalies" in planted and days >= 14:
        anomaly_days = {days // 3, (2 * days) // 3 + 1}
    burst_rows = int(rows * 0.012) if anomaly_days else 0
    base_rows = rows - burst_rows * len(anomaly_days)
    total_w = sum(weights)
    # A pick yields a whole session of calls, so weight sessions by 1 / mean session size.
    feature_w = [f.share / ((f.burst[0] + f.burst[1]) / 2) for f in features]
    rows_per_pick = sum(f.share for f in features) / sum(feature_w)

    for d in range(days):
        day = first + timedelta(days=d)
        day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        n = round(base_rows * weights[d] / total_w / rows_per_pick)
        picks = rng.choices(features, feature_w, k=n)
        if d in anomaly_days:
            picks += [code_review] * burst_rows
        batch: list[dict] = []
        for f in picks:
            hour = f.hours[int(rng.random() * len(f.hours))]
            ts = day_start + timedelta(milliseconds=hour * 3_600_000 + int(rng.random() * 3_600_000))
            for _ in range(_int(rng, *f.burst)):
                batch.extend(_calls(org_id, f, ts, rng, planted, prefix_hash[f.name]))
                ts += timedelta(milliseconds=_int(rng, 5_000, 40_000))
        batch.sort(key=lambda r: r["ts"])
        yield from batch


def _calls(
    org_id: str, f: Feature, ts: datetime, rng: random.Random, planted: frozenset[str], prefix_hash: str
) -> list[dict]:
    """One logical call: a single row, or a failed attempt followed by its retry."""
    out_tokens = _int(rng, *f.output_range)
    if f.name == "search-rerank" and "oversized_outputs" in planted and rng.random() < 0.04:
        out_tokens = _int(rng, 2500, f.max_tokens or 4096)  # runaway generation
    input_tokens = f.prefix_tokens + _int(rng, *f.input_range)
    cached = 0
    if f.name == "doc-summarizer":
        cached = 0 if "prompt_caching" in planted else (f.prefix_tokens if rng.random() < 0.92 else 0)
    elif f.name == "code-review" and rng.random() < 0.85:
        cached = f.prefix_tokens
    is_batch = 1 if f.name == "nightly-report" and "batch_api" not in planted else 0
    user = "scheduler" if f.users == 1 else f"user-{int(rng.random() * f.users):03d}"
    prompt_hash = _hex(rng)
    fail_rate = 0.08 if f.name == "code-review" and "retry_waste" in planted else 0.003
    rows = []
    if rng.random() < fail_rate:
        status = "timeout" if rng.random() < 0.6 else "error"
        partial = _int(rng, 0, out_tokens) if status == "timeout" else 0
        latency = _int(rng, 30_000, 60_000) if status == "timeout" else _int(rng, 200, 2_000)
        rows.append(_row(org_id, f, ts, user, input_tokens, partial, cached, latency, status,
                         is_batch, prompt_hash, prefix_hash))
        ts = ts + timedelta(seconds=_int(rng, 2, 60))
    latency = 250 + out_tokens * _int(rng, 8, 20) + _int(rng, 0, 400)
    rows.append(_row(org_id, f, ts, user, input_tokens, out_tokens, cached, latency, "ok",
                     is_batch, prompt_hash, prefix_hash))
    return rows


def _row(org_id: str, f: Feature, ts: datetime, user: str, input_tokens: int, output_tokens: int,
         cached: int, latency: int, status: str, is_batch: int, prompt_hash: str, prefix_hash: str) -> dict:
    return {
        "ts": ts,
        "org_id": org_id,
        "user": user,
        "provider": f.provider,
        "model": f.model,
        "feature": f.name,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_input_tokens": cached,
        "latency_ms": latency,
        "status": status,
        "is_batch": is_batch,
        "prompt_hash": prompt_hash,
        "prompt_prefix_hash": prefix_hash,
        "prompt_prefix_tokens": f.prefix_tokens,
        "max_tokens": f.max_tokens,
        "cost_usd": _priced(f.provider, f.model)(input_tokens, output_tokens, cached, 0, bool(is_batch), 1),
        "requests": 1,
        "priced": 1,
        "tags": {"team": f.team},
    }


async def seed_demo(store: AnalyticsStore, org_id: str, rows: int = 60_000, *, batch_size: int = 15_000) -> int:
    """Insert the demo data set for an org; returns the number of rows stored."""
    rows_iter = generate_usage(org_id, rows)

    def next_batch() -> list[dict]:
        return list(islice(rows_iter, batch_size))

    inserted = 0
    # Generation is CPU work in a worker thread, off the event loop that may be serving
    # requests; the next batch is generated while the engine stores the previous one.
    pending = asyncio.ensure_future(asyncio.to_thread(next_batch))
    while batch := await pending:
        pending = asyncio.ensure_future(asyncio.to_thread(next_batch))
        inserted += await store.insert_rows(batch)
    return inserted


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value


def write_demo_file(path: Path | str, rows: int, *, org_id: str = "demo", seed: int = 7, days: int = 90) -> int:
    """Write the demo data set as a generic-format CSV file; returns the rows written."""
    written = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for row in generate_usage(org_id, rows, days=days, seed=seed):
            writer.writerow([_csv_value(row[c]) for c in CSV_COLUMNS])
            written += 1
    return written
