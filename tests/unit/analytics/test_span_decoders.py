"""The receiver's protobuf decoder and the OTLP/JSON one give the mapping the same spans, so they store the same rows.

The protobuf decoder converts only the attributes the mapping reads (spans.MAPPED_KEYS and tags); these tests
pin that leaving the others out changes no stored value.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spendpilot.analytics.importers import spans
from spendpilot.analytics.importers.otlp import decode_protobuf, json_spans
from spendpilot.analytics.importers.spans import MAPPED_KEYS, TAG_PREFIX, map_export

SAMPLES = sorted((Path(__file__).parents[2] / "samples" / "otlp").glob("*.json"))
ID_FIELDS = {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}


def _base64_ids(node: object) -> object:
    """OTLP/JSON writes ids in hex; protobuf's JSON parser reads base64."""
    if isinstance(node, dict):
        return {key: base64.b64encode(bytes.fromhex(value)).decode() if key in ID_FIELDS and value
                else _base64_ids(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_base64_ids(item) for item in node]
    return node


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda path: path.stem)
def test_protobuf_and_json_exports_of_a_sample_map_to_the_same_rows(sample):
    doc = orjson.loads(sample.read_bytes())
    request = json_format.ParseDict(_base64_ids(doc), ExportTraceServiceRequest())
    from_json, broken = json_spans(doc)
    from_protobuf = decode_protobuf(request.SerializeToString())
    assert not broken
    expected = map_export("org", from_json, api_key_id="key")
    got = map_export("org", from_protobuf, api_key_id="key")
    assert expected.rows and got.rows == expected.rows
    assert got.skipped == expected.skipped
    assert [reason for _, reason in got.rejected] == [reason for _, reason in expected.rejected]


def test_every_attribute_the_mapping_reads_is_one_the_decoder_keeps():
    source = Path(spans.__file__).read_text()
    # Attribute names are dotted lower-case words: "gen_ai.usage.input_tokens", "service.name".
    named = set(re.findall(r"[\"']([a-z_]+(?:\.[a-z0-9_]+)+)[\"']", source))
    assert named, "the mapping names no attributes any more: update this test"
    assert {name for name in named if not name.startswith(TAG_PREFIX)} <= MAPPED_KEYS


def test_list_valued_operation_and_span_kind_map_the_span_instead_of_failing_the_export():
    """A list where a name belongs (`gen_ai.operation.name`, `traceloop.span.kind`) names no operation we know:
    the span is read by its other attributes; the export must not fail (a receiver answering 503 would have
    the exporter send the same export forever)."""
    def kv(key: str, value: dict) -> dict:
        return {"key": key, "value": value}

    def listed(*words: str) -> dict:
        return {"arrayValue": {"values": [{"stringValue": word} for word in words]}}

    span = {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "chat gpt-4o-mini",
            "startTimeUnixNano": "1772442000000000000", "endTimeUnixNano": "1772442001000000000",
            "attributes": [kv("gen_ai.operation.name", listed("chat", "agent")),
                           kv("traceloop.span.kind", listed("workflow")),
                           kv("gen_ai.system", {"stringValue": "openai"}),
                           kv("gen_ai.request.model", {"stringValue": "gpt-4o-mini"}),
                           kv("gen_ai.usage.input_tokens", {"intValue": "120"}),
                           kv("gen_ai.usage.output_tokens", {"intValue": "30"})]}
    doc = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {}, "spans": [span]}]}]}
    request = json_format.ParseDict(_base64_ids(doc), ExportTraceServiceRequest())
    for decoded in (json_spans(doc)[0], decode_protobuf(request.SerializeToString())):
        mapped = map_export("org", decoded, api_key_id="key")
        assert not mapped.rejected
        assert [(row["model"], row["input_tokens"], row["output_tokens"]) for row in mapped.rows] == [
            ("gpt-4o-mini", 120, 30)]
