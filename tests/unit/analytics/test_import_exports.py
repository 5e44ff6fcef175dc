"""Provider exports and OTLP spans: detection, mapping, pricing and rejected records."""

from __future__ import annotations

import io
import json

import pytest
from genai_prices import Usage, calc_price

from spendpilot.analytics.importers import import_usage
from spendpilot.analytics.pricing import model_price
from spendpilot.analytics.queries import usage_summary

STORED = (
    "SELECT toString(ts) AS ts, user, provider, model, feature, input_tokens, output_tokens, "
    "cached_input_tokens, latency_ms, status, is_batch, max_tokens, cost_usd, requests, priced "
    "FROM llm_usage WHERE org_id = {org_id:String} ORDER BY ts, model"
)


def exact(model: str, provider: str, inp: int, out: int, cached: int = 0) -> float:
    usage = Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=cached)
    return float(calc_price(usage, model, provider_id=provider).total_price)


async def run(store, org_id, doc, **kw) -> dict:
    data = doc if isinstance(doc, bytes) else json.dumps(doc, indent=2).encode()
    return await import_usage(store, org_id, io.BytesIO(data), **kw)


OPENAI_PAGE = {
    "object": "page",
    "data": [
        {
            "object": "bucket",
            "start_time": 1740787200,  # 2025-03-01
            "end_time": 1740873600,
            "results": [
                {"object": "organization.usage.completions.result", "input_tokens": 100000,
                 "output_tokens": 20000, "input_cached_tokens": 40000, "num_model_requests": 50,
                 "model": "gpt-4o", "batch": False, "project_id": "proj_a", "user_id": None,
                 "api_key_id": "key_1"},
                {"object": "organization.usage.completions.result", "input_tokens": 10,
                 "output_tokens": 1, "input_cached_tokens": 0, "num_model_requests": 1,
                 "model": None, "batch": None, "project_id": None, "user_id": None, "api_key_id": None},
            ],
        },
        {
            "object": "bucket",
            "start_time": 1740873600,  # 2025-03-02
            "end_time": 1740960000,
            "results": [
                {"object": "organization.usage.completions.result", "input_tokens": 60000,
                 "output_tokens": 6000, "input_cached_tokens": 0, "num_model_requests": 30,
                 "model": "gpt-4o-mini-2024-07-18", "batch": True, "project_id": "proj_b",
                 "user_id": "user_9", "api_key_id": None},
                {"object": "organization.usage.completions.result", "input_tokens": -3,
                 "output_tokens": 1, "input_cached_tokens": 0, "num_model_requests": 1,
                 "model": "gpt-4o", "batch": False},
            ],
        },
    ],
    "has_more": False,
    "next_page": None,
}


async def test_openai_usage_export(store, org_id):
    report = await run(store, org_id, OPENAI_PAGE)
    assert report["format"] == "openai"
    assert report["imported"] == 2
    assert [r["line"] for r in report["rejected"]] == [2, 4]
    assert "data[0].results[1]: missing model" in report["rejected"][0]["reason"]
    assert "data[1].results[1]: invalid input_tokens -3" in report["rejected"][1]["reason"]
    rows = await store.query(STORED, {"org_id": org_id})
    a, b = rows
    assert (a["ts"], a["feature"], a["user"], a["requests"]) == ("2025-03-01 00:00:00.000", "proj_a", "key_1", 50)
    assert a["cost_usd"] == pytest.approx(exact("gpt-4o", "openai", 100000, 20000, 40000), rel=1e-9)
    assert (b["is_batch"], b["user"], b["requests"]) == (1, "user_9", 30)
    assert b["cost_usd"] == pytest.approx(exact("gpt-4o-mini", "openai", 60000, 6000) * 0.5, rel=1e-9)
    summary = await usage_summary(store, org_id)
    assert summary["total_requests"] == 80


async def test_openai_export_as_json_lines_of_pages_keeps_line_numbers(store, org_id):
    page2 = {"object": "page", "data": [{"start_time": 1740873600, "results": [
        {"object": "organization.usage.completions.result", "input_tokens": 5, "output_tokens": 1,
         "num_model_requests": 1, "model": "gpt-4o"}]}]}
    data = (json.dumps(OPENAI_PAGE) + "\n" + json.dumps(page2) + "\n").encode()
    report = await run(store, org_id, data)
    assert report["imported"] == 3
    assert [r["line"] for r in report["rejected"]] == [1, 1]


async def test_openai_csv_export(store, org_id):
    text = (
        b"start_time,end_time,input_tokens,output_tokens,input_cached_tokens,num_model_requests,model,batch,project_id\n"
        b"1740787200,1740873600,1000,100,0,4,gpt-4.1,false,proj_a\n"
        b"1740787200,1740873600,1000,100,0,4,,false,proj_a\n"
    )
    report = await run(store, org_id, text, filename="usage.csv")
    assert report["format"] == "openai"
    assert report["imported"] == 1
    assert report["rejected"][0]["line"] == 3
    rows = await store.query(STORED, {"org_id": org_id})
    assert rows[0]["requests"] == 4
    assert rows[0]["cost_usd"] == pytest.approx(exact("gpt-4.1", "openai", 1000, 100), rel=1e-9)


ANTHROPIC_REPORT = {
    "data": [
        {
            "starting_at": "2025-03-01T00:00:00Z",
            "ending_at": "2025-03-02T00:00:00Z",
            "results": [
                {"uncached_input_tokens": 10000,
                 "cache_creation": {"ephemeral_1h_input_tokens": 1000, "ephemeral_5m_input_tokens": 2000},
                 "cache_read_input_tokens": 50000, "output_tokens": 3000, "server_tool_use": {"web_search_requests": 0},
                 "model": "claude-sonnet-4-5-20250929", "service_tier": "standard", "context_window": "0-200k",
                 "workspace_id": "wrk_1", "api_key_id": "apikey_1"},
                {"uncached_input_tokens": 4000, "cache_creation": None, "cache_read_input_tokens": 0,
                 "output_tokens": 400, "model": "claude-haiku-4-5", "service_tier": "batch",
                 "workspace_id": None, "api_key_id": None},
                {"uncached_input_tokens": 1, "output_tokens": 1, "model": "", "service_tier": "standard"},
            ],
        }
    ],
    "has_more": False,
    "next_page": None,
}


async def test_anthropic_usage_report(store, org_id):
    report = await run(store, org_id, ANTHROPIC_REPORT)
    assert report["format"] == "anthropic"
    assert report["imported"] == 2
    assert report["rejected"] == [
        {"line": 3, "reason": "data[0].results[2]: missing model (request the report grouped by model)"}
    ]
    rows = await store.query(STORED, {"org_id": org_id})
    sonnet = next(r for r in rows if r["model"].startswith("claude-sonnet"))
    haiku = next(r for r in rows if r["model"] == "claude-haiku-4-5")
    # Every input token is counted; cache reads are the cached part.
    assert (sonnet["input_tokens"], sonnet["cached_input_tokens"]) == (63000, 50000)
    assert (sonnet["feature"], sonnet["user"], sonnet["requests"]) == ("wrk_1", "apikey_1", 0)
    rates = model_price("anthropic", "claude-sonnet-4-5")
    expected = (
        10000 * rates["input_mtok"]
        + 50000 * rates["cache_read_mtok"]
        + 2000 * rates["cache_write_mtok"]
        + 1000 * 2 * rates["input_mtok"]
        + 3000 * rates["output_mtok"]
    ) / 1e6
    assert sonnet["cost_usd"] == pytest.approx(expected, rel=1e-9)
    assert haiku["is_batch"] == 1
    assert haiku["cost_usd"] == pytest.approx(exact("claude-haiku-4-5", "anthropic", 4000, 400) * 0.5, rel=1e-9)


def _attr(key, value):
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def _span(name, start_ms, dur_ms, attrs, code=0, message=""):
    base = 1740823200000 + start_ms  # 2025-03-01 10:00:00 UTC
    return {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": f"{start_ms:016x}",
        "name": name,
        "startTimeUnixNano": str(base * 1_000_000),
        "endTimeUnixNano": str((base + dur_ms) * 1_000_000),
        "attributes": [_attr(k, v) for k, v in attrs.items()],
        "status": {"code": code, "message": message},
    }


OTLP = {
    "resourceSpans": [
        {
            "resource": {"attributes": [_attr("service.name", "support-bot")]},
            "scopeSpans": [
                {
                    "scope": {"name": "openai.instrumentation"},
                    "spans": [
                        _span("chat gpt-4o", 0, 1250, {
                            "gen_ai.operation.name": "chat", "gen_ai.system": "openai",
                            "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
                            "gen_ai.usage.input_tokens": 800, "gen_ai.usage.output_tokens": 120,
                            "gen_ai.request.max_tokens": 4096, "enduser.id": "u1"}),
                        _span("http GET", 10, 5, {"http.method": "GET"}),
                        _span("chat gemini", 20, 30000, {
                            "gen_ai.provider.name": "gcp.gemini", "gen_ai.request.model": "gemini-2.5-flash",
                            "gen_ai.usage.input_tokens": 500, "gen_ai.usage.output_tokens": 0,
                            "error.type": "timeout"}, code=2, message="deadline exceeded"),
                        _span("chat ???", 30, 10, {"gen_ai.usage.input_tokens": 5}),
                        _span("chat claude", 40, 900, {
                            "gen_ai.system": "anthropic", "gen_ai.request.model": "claude-haiku-4-5",
                            "gen_ai.usage.input_tokens": 300, "gen_ai.usage.output_tokens": 30,
                            "spendpilot.feature": "triage"}, code=2, message="overloaded"),
                    ],
                }
            ],
        }
    ]
}


async def test_otlp_genai_spans(store, org_id):
    report = await run(store, org_id, OTLP, filename="traces.json")
    assert report["format"] == "otlp"
    assert report["imported"] == 3
    assert report["skipped"] == 1  # the HTTP span is not LLM usage
    assert len(report["rejected"]) == 1 and report["rejected"][0]["line"] == 4
    assert "spans[3]" in report["rejected"][0]["reason"] and "gen_ai.request.model" in report["rejected"][0]["reason"]
    rows = await store.query(STORED, {"org_id": org_id})
    gpt, gemini, claude = rows
    assert (gpt["ts"], gpt["model"], gpt["provider"]) == ("2025-03-01 10:00:00.000", "gpt-4o-2024-08-06", "openai")
    assert (gpt["latency_ms"], gpt["max_tokens"], gpt["status"], gpt["user"]) == (1250, 4096, "ok", "u1")
    assert gpt["feature"] == "support-bot"  # from the resource's service.name
    assert gpt["cost_usd"] == pytest.approx(exact("gpt-4o", "openai", 800, 120), rel=1e-9)
    assert (gemini["provider"], gemini["status"], gemini["latency_ms"]) == ("google", "timeout", 30000)
    assert (claude["status"], claude["feature"]) == ("error", "triage")


async def test_otlp_json_lines(store, org_id):
    line = json.dumps(OTLP)
    report = await run(store, org_id, (line + "\n" + "{broken\n" + line + "\n").encode())
    assert report["imported"] == 3  # the third line repeats the first: duplicates
    assert report["duplicates"] == 3
    # JSON Lines keep their line numbers: the model-less span on lines 1 and 3, the bad line 2.
    assert [r["line"] for r in report["rejected"]] == [1, 2, 3]
    assert report["rejected"][1]["reason"].startswith("invalid JSON")


async def test_named_format_overrides_detection(store, org_id):
    # A JSON Lines file whose first record looks generic, imported as named.
    report = await run(store, org_id, OTLP, format="otel")
    assert report["format"] == "otlp" and report["imported"] == 3
