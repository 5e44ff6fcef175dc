"""A small synthetic usage file in the generic CSV format (SPEC §6), to give bench accounts real data."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta

COLUMNS = (
    "ts", "user", "provider", "model", "feature", "input_tokens", "output_tokens", "cached_input_tokens",
    "latency_ms", "status", "is_batch", "prompt_hash", "prompt_prefix_hash", "prompt_prefix_tokens", "max_tokens",
)

# (feature, provider, model, input tokens, output tokens, share); shaped so that right-sizing,
# caching, batch and retry findings all have evidence.
TRAFFIC = (
    ("support-chat", "openai", "gpt-4o", 400, 120, 0.35),
    ("rag-answer", "openai", "gpt-4o", 6000, 300, 0.25),
    ("nightly-summary", "anthropic", "claude-3-5-sonnet-20241022", 3000, 600, 0.20),
    ("classifier", "openai", "gpt-4o-mini", 300, 5, 0.20),
)


def sample_csv(rows: int, days: int = 30, seed: int = 0) -> bytes:
    """`rows` usage rows spread over the last `days` days, deterministic for a seed."""
    rng = random.Random(seed)
    end = datetime.now(UTC).replace(microsecond=0)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    weights = [t[5] for t in TRAFFIC]
    for index in range(rows):
        feature, provider, model, tokens_in, tokens_out, _ = rng.choices(TRAFFIC, weights)[0]
        ts = end - timedelta(seconds=rng.randint(0, days * 86400 - 1))
        prefix = f"prefix-{feature}" if feature == "rag-answer" else f"prefix-{index}"
        writer.writerow([
            ts.isoformat().replace("+00:00", "Z"), f"user{rng.randint(1, 20)}", provider, model, feature,
            int(tokens_in * rng.uniform(0.7, 1.3)), int(tokens_out * rng.uniform(0.5, 1.5)), 0,
            rng.randint(300, 4000), "error" if rng.random() < 0.04 else "ok",
            "false", f"h{index}", prefix, int(tokens_in * 0.8) if feature == "rag-answer" else 0,
            4096,
        ])
    return out.getvalue().encode()
