"""POST /v1/traces fed by OpenTelemetry's own SDK and OTLP/HTTP exporter, as an instrumented app would send."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from genai_prices import Usage, calc_price
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from .conftest import MAX_BODY_BYTES, sign_up, stored_rows

SAMPLES = Path(__file__).parents[2] / "samples" / "otlp"
T0 = 1_767_000_000_000_000_000  # 2025-12-29, a fixed instant so latency and ts are known


def price(model: str, provider: str, inputs: int, output: int, cached: int = 0, written: int = 0) -> float:
    """genai-prices' own calculation: the stored cost must be what the price tables say."""
    usage = Usage(input_tokens=inputs, output_tokens=output, cache_read_tokens=cached, cache_write_tokens=written)
    return float(calc_price(usage, model, provider_id=provider).total_price)


def record_spans(build, resource: dict) -> list[ReadableSpan]:
    """Spans made by the OpenTelemetry SDK itself, captured in memory so a test can export them twice."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(resource))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    build(provider.get_tracer("test-app"))
    provider.shutdown()
    return list(memory.get_finished_spans())


def app_spans(tracer) -> None:
    """An HTTP request handled by an agent that made two model calls, as GenAI instrumentations record them."""
    http = tracer.start_span("POST /tickets/summarise", kind=SpanKind.SERVER, start_time=T0,
                             attributes={"http.request.method": "POST", "http.route": "/tickets/summarise"})
    agent = tracer.start_span("invoke_agent triage", start_time=T0 + 1_000_000, attributes={
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "triage",
        "gen_ai.usage.input_tokens": 3200, "gen_ai.usage.output_tokens": 140},
        context=_under(http))
    chat = tracer.start_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, start_time=T0 + 2_000_000, attributes={
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18", "gen_ai.usage.input_tokens": 2000,
        "gen_ai.usage.output_tokens": 100, "gen_ai.usage.cache_read.input_tokens": 1024,
        "gen_ai.request.max_tokens": 512, "enduser.id": "customer-42", "spendpilot.tag.team": "support"},
        context=_under(agent))
    chat.end(end_time=T0 + 902_000_000)
    claude = tracer.start_span("chat claude", kind=SpanKind.CLIENT, start_time=T0 + 903_000_000, attributes={
        "gen_ai.operation.name": "chat", "gen_ai.system": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5-20250929", "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 40, "gen_ai.usage.cache_creation.input_tokens": 800,
        "user.id": "customer-42", "spendpilot.feature": "escalations"}, context=_under(agent))
    claude.end(end_time=T0 + 1_403_000_000)
    db = tracer.start_span("SELECT tickets", kind=SpanKind.CLIENT, start_time=T0 + 1_404_000_000,
                           attributes={"db.system": "postgresql"}, context=_under(http))
    db.end(end_time=T0 + 1_405_000_000)
    agent.end(end_time=T0 + 1_500_000_000)
    http.end(end_time=T0 + 1_600_000_000)


def _under(span):
    from opentelemetry import trace

    return trace.set_span_in_context(span)


def exporter(url: str, key: str, **options) -> OTLPSpanExporter:
    return OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers={"x-spendpilot-key": key}, timeout=30, **options)


def test_sdk_exporter_stores_each_llm_call_once_priced_and_attributed(server, standin):
    org = sign_up(server.url)
    spans = record_spans(app_spans, {"service.name": "helpdesk", "spendpilot.feature": "ticket-summaries"})
    assert exporter(server.url, org.key).export(spans) == SpanExportResult.SUCCESS

    rows = {row["model"]: row for row in stored_rows(standin, org.org_id)}
    # The HTTP and DB spans are not LLM calls; the agent span repeats its children's usage: two rows only.
    assert set(rows) == {"gpt-4o-mini-2024-07-18", "claude-sonnet-4-5-20250929"}
    chat, claude = rows["gpt-4o-mini-2024-07-18"], rows["claude-sonnet-4-5-20250929"]
    chat_span = next(s for s in spans if s.name == "chat gpt-4o-mini")
    assert chat["source_id"] == f"{chat_span.context.trace_id:032x}:{chat_span.context.span_id:016x}"
    assert (chat["provider"], chat["input_tokens"], chat["output_tokens"], chat["cached_input_tokens"]) == (
        "openai", 2000, 100, 1024)
    assert (chat["feature"], chat["user"], chat["tags"], chat["max_tokens"], chat["latency_ms"]) == (
        "ticket-summaries", "customer-42", {"team": "support"}, 512, 900)
    assert chat["status"] == "ok" and chat["api_key_id"] == org.key_id
    assert chat["cost_usd"] == pytest.approx(price("gpt-4o-mini-2024-07-18", "openai", 2000, 100, cached=1024),
                                             abs=1e-12)
    # The span's own feature wins over the resource's; cache writes are priced at the write rate.
    assert (claude["provider"], claude["feature"], claude["user"]) == ("anthropic", "escalations", "customer-42")
    assert (claude["input_tokens"], claude["cache_write_tokens"], claude["output_tokens"]) == (1200, 800, 40)
    assert claude["cost_usd"] == pytest.approx(
        price("claude-sonnet-4-5-20250929", "anthropic", 1200, 40, written=800), abs=1e-12)

    # The summary sees them at once: a 200 means stored.
    summary = httpx.get(f"{server.url}/api/usage/summary", params={"group_by": "model", "from": "2025-12-29"},
                        headers=org.auth).json()
    assert summary["total_requests"] == 2
    assert summary["total_usd"] == pytest.approx(chat["cost_usd"] + claude["cost_usd"], abs=1e-6)


def test_re_exporting_the_same_spans_stores_them_once(server, standin):
    org = sign_up(server.url)
    spans = record_spans(app_spans, {"service.name": "helpdesk"})
    sender = exporter(server.url, org.key, compression=Compression.Gzip)
    assert sender.export(spans) == SpanExportResult.SUCCESS
    assert sender.export(spans) == SpanExportResult.SUCCESS
    assert sender.export(spans[:2]) == SpanExportResult.SUCCESS
    rows = stored_rows(standin, org.org_id)
    assert len(rows) == 2
    assert {row["feature"] for row in rows} == {"helpdesk", "escalations"}


def test_a_key_without_the_ingest_scope_or_a_made_up_one_is_refused(server, standin):
    reader = sign_up(server.url, scopes=("read",))
    spans = record_spans(app_spans, {"service.name": "helpdesk"})
    assert exporter(server.url, reader.key).export(spans) == SpanExportResult.FAILURE
    assert exporter(server.url, "sp_" + "x" * 43).export(spans) == SpanExportResult.FAILURE
    assert stored_rows(standin, reader.org_id) == []
    body = encode_spans(spans).SerializeToString()
    refused = httpx.post(f"{server.url}/v1/traces", content=body,
                         headers={"content-type": "application/x-protobuf", "authorization": f"Bearer {reader.key}"})
    assert refused.status_code == 401
    status = status_pb2.Status.FromString(refused.content)
    assert status.code == 16 and "ingest" in status.message
    missing = httpx.post(f"{server.url}/v1/traces", content=b"{}", headers={"content-type": "application/json"})
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_api_key"


def test_partial_success_counts_llm_spans_that_cannot_be_used(server, standin, org):
    def spans(tracer):
        tracer.start_span("chat", start_time=T0, attributes={
            "gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 10}).end(end_time=T0 + 10**6)
        tracer.start_span("chat gpt-4o", start_time=T0, attributes={
            "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 5}).end(end_time=T0 + 10**6)
        tracer.start_span("GET /health", start_time=T0).end(end_time=T0 + 10**6)

    body = encode_spans(record_spans(spans, {"service.name": "svc"})).SerializeToString()
    answer = httpx.post(f"{server.url}/v1/traces", content=body,
                        headers={"content-type": "application/x-protobuf", "x-spendpilot-key": org.key})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/x-protobuf"
    response = ExportTraceServiceResponse.FromString(answer.content)
    assert response.partial_success.rejected_spans == 1
    assert "no model" in response.partial_success.error_message
    assert [row["model"] for row in stored_rows(standin, org.org_id)] == ["gpt-4o"]


def test_json_exports_are_answered_in_json_and_read_like_the_file_import(server, standin, org):
    doc = (SAMPLES / "genai_semconv_current.json").read_bytes()
    answer = httpx.post(f"{server.url}/v1/traces", content=gzip.compress(doc),
                        headers={"content-type": "application/json", "content-encoding": "gzip",
                                 "authorization": f"Bearer {org.key}"})
    assert answer.status_code == 200 and answer.json() == {}
    snake = (SAMPLES / "genai_semconv_current_snake_case.json").read_bytes()
    again = httpx.post(f"{server.url}/v1/traces", content=snake,
                       headers={"content-type": "application/json", "x-spendpilot-key": org.key})
    assert again.status_code == 200
    rows = stored_rows(standin, org.org_id)
    # The same four calls as the file import finds (tests/samples/README.md), once although sent twice.
    assert sorted((r["model"], r["input_tokens"], r["status"]) for r in rows) == [
        ("claude-3-5-sonnet-20240620", 1167, "ok"), ("claude-3-5-sonnet-20240620", 1167, "ok"),
        ("gpt-5-mini", 0, "rate_limited"), ("gpt-5-mini-2025-08-07", 2048, "ok")]
    assert sum(Decimal(str(r["cost_usd"])) for r in rows) == pytest.approx(
        # The flex-tier call is billed at the flex price (half the standard $0.0009016).
        Decimal("0.00773325") + Decimal("0.0038109") + Decimal("0.0004508"), abs=Decimal("1e-9"))


@pytest.mark.parametrize(("body", "headers", "status", "code"), [
    (b"not protobuf", {"content-type": "application/x-protobuf"}, 400, "invalid_export"),
    (b"{not json", {"content-type": "application/json"}, 400, "invalid_export"),
    (b'{"resourceSpans": 3}', {"content-type": "application/json"}, 400, "invalid_export"),
    (b"\x1f\x8b broken", {"content-type": "application/json", "content-encoding": "gzip"}, 400, "invalid_gzip"),
    (b"{}", {"content-type": "text/plain"}, 415, "unsupported_media_type"),
    (b"{}", {"content-type": "application/json", "content-encoding": "br"}, 415, "unsupported_media_type"),
    (b"x" * (MAX_BODY_BYTES + 1), {"content-type": "application/json"}, 413, "too_large"),
    (gzip.compress(b" " * (MAX_BODY_BYTES + 1)), {"content-type": "application/json", "content-encoding": "gzip"},
     413, "too_large"),
])
def test_bad_exports_get_a_clear_4xx_and_store_nothing(server, standin, org, body, headers, status, code):
    answer = httpx.post(f"{server.url}/v1/traces", content=body, headers={**headers, "x-spendpilot-key": org.key})
    assert answer.status_code == status
    if headers["content-type"] == "application/x-protobuf":
        assert status_pb2.Status.FromString(answer.content).message
    else:
        assert answer.json()["error"]["code"] == code
    assert stored_rows(standin, org.org_id) == []


def test_the_org_socket_hears_usage_updated_when_spans_are_stored(server, org):
    import asyncio

    import websockets

    async def scenario() -> dict:
        async with websockets.connect(server.ws_url, additional_headers=org.auth) as ws:
            assert json.loads(await ws.recv())["type"] == "connection_ready"
            spans = record_spans(app_spans, {"service.name": "helpdesk"})
            result = await asyncio.to_thread(exporter(server.url, org.key).export, spans)
            assert result == SpanExportResult.SUCCESS
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if frame["type"] == "usage_updated":
                    return frame

    frame = asyncio.run(scenario())
    assert frame["data"] == {"rows": 2, "sources": ["otlp"]}
    assert "run_id" not in frame
