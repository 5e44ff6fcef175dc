"""Importing the real and documented samples of tests/samples/ (their sources are in its README)."""

from __future__ import annotations

import io
from pathlib import Path

from spendpilot.analytics.importers import import_usage

SAMPLES = Path(__file__).parents[2] / "samples"
STORED = (
    "SELECT toString(ts) AS ts, user, provider, model, feature, input_tokens, output_tokens, cached_input_tokens, "
    "cache_write_tokens, latency_ms, status, is_batch, service_tier, max_tokens, cost_usd, stated_cost_usd, requests, "
    "priced, source_id, api_key_id, tags FROM llm_usage WHERE org_id = {org_id:String} ORDER BY ts, model, source_id"
)


async def import_sample(store, org_id: str, name: str, **kw) -> dict:
    path = SAMPLES / name
    with path.open("rb") as source:
        return await import_usage(store, org_id, source, filename=path.name, **kw)


async def import_bytes(store, org_id: str, data: bytes, **kw) -> dict:
    return await import_usage(store, org_id, io.BytesIO(data), **kw)


async def stored(store, org_id: str) -> list[dict]:
    return await store.query(STORED, {"org_id": org_id})
