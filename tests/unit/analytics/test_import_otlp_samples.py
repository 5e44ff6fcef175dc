"""The OTLP span mapping on realistic exports of each instrumentation style (tests/samples/otlp, sources in
tests/samples/README.md): what a file import stores must be what the README says a correct importer stores.

Each test names the sample it reads; the samples cite the instrumentation source and version they follow.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from spendpilot.analytics.importers import import_usage

SAMPLES = Path(__file__).parents[2] / "samples" / "otlp"
ROWS = ("SELECT source_id, provider, model, feature, user, input_tokens, output_tokens, cached_input_tokens, "
        "cache_write_tokens, cost_usd, status, service_tier, max_tokens, tags, latency_ms "
        "FROM llm_usage WHERE org_id = {org_id:String} ORDER BY ts, source_id")


async def imported(store, org_id: str, name: str) -> tuple[dict, list[dict]]:
    report = await import_usage(store, org_id, io.BytesIO((SAMPLES / name).read_bytes()), filename=name)
    return report, await store.query(ROWS, {"org_id": org_id})


async def test_current_semantic_conventions(store, org_id):
    """genai_semconv_current.json: open-telemetry/semantic-conventions docs/gen-ai (953276ff); 4 calls, 1 HTTP span.
    Cache writes (gen_ai.usage.cache_creation.input_tokens) are priced at the write rate (issue 11, item 9)."""
    report, rows = await imported(store, org_id, "genai_semconv_current.json")
    assert (report["imported"], report["skipped"], report["rejected_count"]) == (4, 1, 0)
    write, read, limited, flex = sorted(rows, key=lambda r: r["source_id"], reverse=True)
    assert (write["input_tokens"], write["cache_write_tokens"], write["output_tokens"]) == (1167, 1163, 224)
    assert write["cost_usd"] == pytest.approx(0.00773325, abs=1e-12)  # $0.0035 less if writes were plain input
    assert (read["cached_input_tokens"], read["cost_usd"]) == (1163, pytest.approx(0.0038109, abs=1e-12))
    assert (limited["model"], limited["status"], limited["input_tokens"], limited["cost_usd"]) == (
        "gpt-5-mini", "rate_limited", 0, 0)
    assert (flex["model"], flex["service_tier"], flex["cached_input_tokens"], flex["max_tokens"]) == (
        "gpt-5-mini-2025-08-07", "flex", 1024, 2000)
    assert flex["cost_usd"] == pytest.approx(0.0009016, abs=1e-12)
    assert {r["feature"] for r in rows} == {"ticket-summaries"}  # resource spendpilot.feature over service.name
    assert {r["user"] for r in rows} == {"user-example-001"}
    assert write["tags"] == {"team": "support"} and write["latency_ms"] == 4150
    assert write["source_id"] == "5b8efff798038103d269b633813fc60c:eee19b7ec3c1b173"


async def test_snake_case_copy_of_the_same_export_is_the_same_four_calls(store, org_id):
    """genai_semconv_current_snake_case.json: MessageToJson(preserving_proto_field_name=True) of the export above."""
    await imported(store, org_id, "genai_semconv_current.json")
    report, rows = await imported(store, org_id, "genai_semconv_current_snake_case.json")
    assert (report["imported"], report["duplicates"], report["skipped"]) == (0, 4, 1)
    assert len(rows) == 4


async def test_openinference_spans_are_read(store, org_id):
    """openinference_langchain.json: Arize-ai/openinference semconv (0101ec16); issue 11, item 4 (imported 0)."""
    report, rows = await imported(store, org_id, "openinference_langchain.json")
    assert (report["imported"], report["skipped"], report["rejected_count"]) == (2, 1, 0)
    embedding, llm = rows
    assert (embedding["model"], embedding["provider"], embedding["input_tokens"]) == (
        "text-embedding-3-small", "openai", 8)
    assert embedding["cost_usd"] == pytest.approx(0.00000016, abs=1e-14)
    assert (llm["model"], llm["provider"], llm["input_tokens"], llm["cached_input_tokens"], llm["output_tokens"]) == (
        "claude-3-5-sonnet-20240620", "anthropic", 1167, 1163, 230)
    assert llm["cost_usd"] == pytest.approx(0.0038109, abs=1e-12)
    assert (llm["user"], llm["feature"], llm["max_tokens"]) == ("user-example-003", "rag-service", 1024)


async def test_openllmetry_prompt_and_completion_token_names(store, org_id):
    """openllmetry_0_34.json: traceloop/openllmetry 0.34.1 (d59110b7); issue 11, item 5 (0 tokens, $0)."""
    report, rows = await imported(store, org_id, "openllmetry_0_34.json")
    assert (report["imported"], report["skipped"], report["rejected_count"]) == (3, 2, 0)
    by_model = {r["model"]: r for r in rows if r["provider"] == "openai"}
    joke = by_model["gpt-3.5-turbo-0125"]
    assert (joke["input_tokens"], joke["output_tokens"], joke["user"], joke["feature"]) == (
        15, 19, "user-example-002", "joke-service")
    assert joke["cost_usd"] == pytest.approx(0.000036, abs=1e-12)
    claude = sorted((r for r in rows if r["provider"] == "anthropic"), key=lambda r: r["source_id"])
    # "Anthropic" as OpenLLMetry capitalised it; prompt_tokens already include the cache tokens (4 + 1,163).
    assert [(r["input_tokens"], r["cache_write_tokens"], r["cached_input_tokens"]) for r in claude] == [
        (1167, 1163, 0), (1167, 0, 1163)]
    assert [r["cost_usd"] for r in claude] == [pytest.approx(0.00773325, abs=1e-12),
                                               pytest.approx(0.0038109, abs=1e-12)]
    assert {r["feature"] for r in claude} == {"news-summarizer"}


async def test_pydantic_ai_agent_span_is_not_counted_twice(store, org_id):
    """pydantic_ai_agent_run.json: pydantic/pydantic-ai tests/test_logfire.py (76ee86d7); issue 11, item 6."""
    report, rows = await imported(store, org_id, "pydantic_ai_agent_run.json")
    assert (report["imported"], report["skipped"]) == (2, 2)  # the agent span and the tool span
    assert [(r["input_tokens"], r["cached_input_tokens"], r["output_tokens"]) for r in rows] == [
        (1021, 0, 48), (1310, 1024, 95)]
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(0.0030325 + 0.002945, abs=1e-12)


async def test_strands_agent_on_bedrock_counts_the_chat_span_priced_as_bedrock(store, org_id):
    """strands_bedrock_agent.json: strands-agents/sdk-python tracer.py (006ad58f); issue 11, item 6: the agent span
    repeats the chat span's usage, `strands-agents` is the framework, not who bills, and Bedrock counts cache
    reads beside input."""
    report, rows = await imported(store, org_id, "strands_bedrock_agent.json")
    assert (report["imported"], report["skipped"]) == (1, 2)
    [row] = rows
    assert (row["provider"], row["model"]) == ("aws", "us.anthropic.claude-3-7-sonnet-20250219-v1:0")
    assert (row["input_tokens"], row["cached_input_tokens"], row["output_tokens"]) == (5040, 3200, 312)
    assert row["cost_usd"] == pytest.approx(0.01116, abs=1e-12)
    assert row["source_id"].endswith(":1a2b3c4d5e6f7003")
