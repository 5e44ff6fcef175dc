"""Billed cost lines (cost reports: dollars per day and line item, no tokens) as llm_usage rows.

A cost line is stored as a row with no tokens and no requests, its amount as both `cost_usd`
and `stated_cost_usd`, and `tags["kind"] = "cost"`. It counts as spend: an organisation that
only has its bill still sees it. Importing the usage export of the same days as well counts
that spend twice, so every import that puts usage and cost lines of one provider on the same
days says so (see overlap.py).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from ..rows import COST_LINE, UNKNOWN_MODEL, build_row


@lru_cache(maxsize=1024)
def model_from_display_name(provider: str, name: str) -> str:
    """`Claude Haiku 4.5` -> `claude-haiku-4-5`: cost exports name models as the console shows them."""
    from genai_prices.data import providers

    wanted = " ".join(name.lower().replace("claude-", "claude ").split())
    for p in providers:
        if p.id != provider:
            continue
        for model in p.models:
            if model.name and model.name.lower() == wanted:
                return model.id
    return name


def cost_row(org_id: str, *, ts: datetime, provider: str, amount: float, source_id: str, model: str = "",
             feature: str = "", user: str = "", api_key_id: str = "", line: str = "",
             service_tier: str = "") -> dict:
    tags = {"kind": COST_LINE}
    if line:
        tags["line"] = line
    return build_row(org_id, ts=ts, model=model or UNKNOWN_MODEL, provider=provider, feature=feature, user=user,
                     input_tokens=0, output_tokens=0, requests=0, cost_usd=amount, stated_cost_usd=amount,
                     source_id=source_id, api_key_id=api_key_id, tags=tags, service_tier=service_tier)
