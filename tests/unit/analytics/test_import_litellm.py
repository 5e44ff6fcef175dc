"""LiteLLM proxy spend logs import through the format registry: detected, mapped, priced as LiteLLM billed them.

The samples (tests/samples/litellm/spend_logs.json and .csv) follow BerriAI/litellm's `LiteLLM_SpendLogs`
table (schema.prisma @029f645f1c81cbd6c6c48fbc8490d91da937066f) and the `/spend/logs` response in LiteLLM's
cost-tracking docs (docs/my-website/docs/proxy/cost_tracking.md); tests/samples/README.md has the details.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from spendpilot.analytics.importers import FORMATS, detect_format, import_usage, normalize_format

SAMPLES = Path(__file__).parents[2] / "samples" / "litellm"
STORED = ("SELECT model, provider, feature, user, input_tokens, output_tokens, cached_input_tokens, latency_ms, "
          "status, cost_usd, priced FROM llm_usage WHERE org_id = {org_id:String} ORDER BY ts")


@pytest.mark.parametrize("name", ["spend_logs.json", "spend_logs.csv"])
async def test_spend_logs_import_as_billed(store, org_id, name):
    path = SAMPLES / name
    assert detect_format(path.read_bytes()[:65536], name).name == "litellm"

    with path.open("rb") as source:
        report = await import_usage(store, org_id, source, filename=name)

    assert report["format"] == "litellm"
    assert (report["imported"], report["duplicates"], report["rejected"]) == (4, 0, [])
    rows = await store.query(STORED, {"org_id": org_id})
    first, second, failed, cache_hit = rows
    # A call the proxy routed to OpenAI, with a cached prompt prefix: LiteLLM billed $0.0001287.
    assert first["model"] == "gpt-4o-mini-2024-07-18" and first["provider"] == "openai"
    assert (first["input_tokens"], first["output_tokens"], first["cached_input_tokens"]) == (1210, 40, 1024)
    assert first["feature"] == "receipt-parser" and first["user"] == "customer-example-77"
    assert first["latency_ms"] == 915 and first["status"] == "ok"
    assert first["cost_usd"] == pytest.approx(0.0001287, abs=1e-9)
    # Anthropic with cache reads and writes: $0.0160158 as LiteLLM billed it.
    assert (second["input_tokens"], second["output_tokens"], second["cached_input_tokens"]) == (6520, 411, 4096)
    assert second["feature"] == "research"
    assert second["cost_usd"] == pytest.approx(0.0160158, abs=1e-9)
    # A 429 from the provider is rate limiting, not a generic error; nothing was billed.
    assert failed["status"] == "rate_limited" and failed["cost_usd"] == 0
    # Served from LiteLLM's own cache: the provider was never called, so nothing is owed.
    assert cache_hit["input_tokens"] == 1210 and cache_hit["cost_usd"] == 0 and cache_hit["priced"] == 1


async def test_re_import_stores_nothing_twice(store, org_id):
    path = SAMPLES / "spend_logs.json"
    with path.open("rb") as source:
        await import_usage(store, org_id, source, filename=path.name)
    with path.open("rb") as source:
        again = await import_usage(store, org_id, source, filename=path.name)
    assert (again["imported"], again["duplicates"]) == (0, 4)


async def test_a_record_that_is_not_a_spend_log_object_is_rejected_with_its_line(store, org_id, tmp_path):
    # JSON Lines keep their line numbers: the sample's records one per line, a stray array on line 3.
    records = (SAMPLES / "spend_logs.json").read_bytes()
    lines = [orjson.dumps(record) for record in orjson.loads(records)]
    lines.insert(2, b"[1, 2]")
    path = tmp_path / "spend_logs.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with path.open("rb") as source:
        report = await import_usage(store, org_id, source, filename=path.name, format="litellm")
    assert report["imported"] == 4
    assert [(r["line"], r["reason"]) for r in report["rejected"]] == [(3, "expected a spend log object")]


def test_the_format_is_one_registry_entry_with_its_aliases():
    litellm = normalize_format("spendlogs")
    assert litellm.name == "litellm" and litellm in FORMATS
    assert normalize_format("LiteLLM") is litellm
