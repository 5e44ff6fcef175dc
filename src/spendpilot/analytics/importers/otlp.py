"""OTLP trace exports decoded into spans: OTLP/JSON (files and the receiver) and protobuf (the receiver).

Both encodings become `spans.Span`s, and `spans.map_export` maps them, so a span imported from a file and the
same span sent live give the same row. OTLP/JSON is the protobuf JSON mapping with hex ids; writers that keep
the proto field names (`resource_spans`, `string_value`, enum names such as `STATUS_CODE_ERROR`) are read too,
as protobuf's own JSON parser accepts both.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from .jsondoc import iter_documents
from .registry import BATCH_ROWS, ImportFormat, row_batches
from .report import ImportReport
from .source import CountingReader
from .spans import MAPPED_KEYS, TAG_PREFIX, Span, map_export

STATUS_CODES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
# AnyValue members in JSON, camelCase as OTLP/JSON writes them and snake_case as protobuf names them.
_SCALARS = ("stringValue", "string_value", "intValue", "int_value", "boolValue", "bool_value", "doubleValue",
            "double_value")


class ExportDecodeError(ValueError):
    """The body is not an OTLP trace export at all (the receiver answers 400)."""


# --- JSON ---------------------------------------------------------------------------------------------------------


def _get(obj: Any, camel: str, snake: str) -> Any:
    if not isinstance(obj, dict):
        return None
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _list(obj: Any, camel: str, snake: str) -> list:
    value = _get(obj, camel, snake)
    return value if isinstance(value, list) else []


def json_value(value: Any) -> Any:
    """The Python value of an OTLP/JSON AnyValue (int64 arrives as a string)."""
    if not isinstance(value, dict):
        return value
    for key in _SCALARS:
        if key in value:
            found = value[key]
            if key.startswith("int") and isinstance(found, str):
                try:
                    return int(found)
                except ValueError:
                    return found
            return found
    array = _get(value, "arrayValue", "array_value")
    if isinstance(array, dict):
        return [json_value(v) for v in array.get("values") or []]
    return None


def json_attributes(items: Any) -> dict:
    if not isinstance(items, list):
        return {}
    return {a["key"]: json_value(a.get("value"))
            for a in items if isinstance(a, dict) and isinstance(a.get("key"), str)}


def _json_id(value: Any) -> str:
    """A trace or span id as lower-case hex: OTLP/JSON writes hex; protobuf's generic JSON writes base64."""
    if not isinstance(value, str) or not value:
        return ""
    text = value.strip()
    if len(text) in (16, 32) and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.lower()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return ""
    # Anything else is not an id: the span has none (the receiver refuses it, a file row keys by value).
    return raw.hex() if len(raw) in (8, 16) else ""


def _json_nanos(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0


def _json_status(span: dict) -> tuple[int, str]:
    status = _get(span, "status", "status")
    if not isinstance(status, dict):
        return 0, ""
    code = status.get("code", 0)
    if isinstance(code, str):
        code = STATUS_CODES.get(code, int(code) if code.isdigit() else 0)
    return (code if isinstance(code, int) else 0), str(status.get("message") or "")


def json_spans(doc: Any) -> tuple[list[Span], list[tuple[int, str]]]:
    """The spans of one OTLP/JSON export document, and the parts of it that are not spans at all.

    Each span's `where` is (its path in the document, its 0-based position among the document's spans);
    a broken part is reported with its position too.
    """
    resource_spans = _get(doc, "resourceSpans", "resource_spans")
    if not isinstance(resource_spans, list):
        raise ExportDecodeError("expected an OTLP export object with 'resourceSpans'")
    found: list[Span] = []
    broken: list[tuple[int, str]] = []
    ordinal = 0
    for ri, rs in enumerate(resource_spans):
        if not isinstance(rs, dict):
            broken.append((ordinal, f"resourceSpans[{ri}]: expected an object"))
            ordinal += 1
            continue
        resource = json_attributes(_list(_get(rs, "resource", "resource"), "attributes", "attributes"))
        for si, scope in enumerate(_list(rs, "scopeSpans", "scope_spans")):
            for pi, span in enumerate(_list(scope, "spans", "spans")):
                where = f"resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]"
                if not isinstance(span, dict):
                    broken.append((ordinal, f"{where}: expected an object"))
                    ordinal += 1
                    continue
                code, message = _json_status(span)
                name = span.get("name")
                found.append(Span(
                    trace_id=_json_id(_get(span, "traceId", "trace_id")),
                    span_id=_json_id(_get(span, "spanId", "span_id")),
                    parent_span_id=_json_id(_get(span, "parentSpanId", "parent_span_id")),
                    name=name if isinstance(name, str) else "",
                    start_ns=_json_nanos(_get(span, "startTimeUnixNano", "start_time_unix_nano")),
                    end_ns=_json_nanos(_get(span, "endTimeUnixNano", "end_time_unix_nano")),
                    status_code=code, status_message=message,
                    attrs=json_attributes(span.get("attributes")), resource=resource,
                    where=(where, ordinal)))
                ordinal += 1
    return found, broken


# --- protobuf -----------------------------------------------------------------------------------------------------


_PROTO_SCALARS = frozenset({"string_value", "int_value", "bool_value", "double_value"})


def proto_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind in _PROTO_SCALARS:
        return getattr(value, kind)
    if kind == "array_value":
        return [proto_value(v) for v in value.array_value.values]
    return None  # kvlist and bytes values carry nothing the mapping reads


def _proto_attributes(items: Any) -> dict[str, Any]:
    # The hot loop of the receiver (every attribute of every span): only the attributes the mapping reads are
    # converted (reading an AnyValue costs more than its key), scalars inline, the rest via proto_value.
    attrs: dict[str, Any] = {}
    for item in items:
        key = item.key
        if key in MAPPED_KEYS or key.startswith(TAG_PREFIX):
            value = item.value
            kind = value.WhichOneof("value")
            attrs[key] = getattr(value, kind) if kind in _PROTO_SCALARS else proto_value(value)
    return attrs


def proto_spans(request: ExportTraceServiceRequest) -> list[Span]:
    found: list[Span] = []
    for rs in request.resource_spans:
        resource = _proto_attributes(rs.resource.attributes)
        for scope in rs.scope_spans:
            for span in scope.spans:
                status = span.status
                # Positional: the receiver builds one per span, and keywords cost more (see Span's field order).
                found.append(Span(span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex(), span.name,
                                  span.start_time_unix_nano, span.end_time_unix_nano, status.code, status.message,
                                  _proto_attributes(span.attributes), resource))
    return found


def decode_protobuf(body: bytes) -> list[Span]:
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except Exception as exc:  # the protobuf runtime raises its own DecodeError; any failure means "not a request"
        raise ExportDecodeError("the body is not a protobuf ExportTraceServiceRequest") from exc
    return proto_spans(request)


# --- the file format ----------------------------------------------------------------------------------------------


def parse_otlp(raw: CountingReader, org_id: str, report: ImportReport) -> Iterator[dict]:
    """Rows of a file of OTLP/JSON exports (one document, or JSON Lines of them).

    ``line`` is the JSON line of a JSON Lines file, else the span's 1-based position in the file.
    """
    seen = 0  # spans (and broken parts) before the current document
    for doc_line, doc in iter_documents(raw, "OTLP/JSON", report):
        try:
            found, broken = json_spans(doc)
        except ExportDecodeError as exc:
            seen += 1
            report.reject(doc_line or seen, str(exc))
            continue
        for ordinal, reason in broken:
            report.reject(doc_line or seen + ordinal + 1, reason)
        outcome = map_export(org_id, found)
        report.skipped += outcome.skipped
        for span, reason in outcome.rejected:
            path, ordinal = span.where
            report.reject(doc_line or seen + ordinal + 1, f"{path}: {reason}")
        seen += len(found) + len(broken)
        yield from outcome.rows


FORMAT = ImportFormat(
    name="otlp",
    label="OpenTelemetry GenAI spans as OTLP/JSON (gen_ai.*, OpenInference llm.*, OpenLLMetry attributes)",
    sniff=lambda head: head.is_json and head.has_key("resourceSpans", "resource_spans"),
    parse=row_batches(parse_otlp, BATCH_ROWS),
    aliases=("otel", "opentelemetry"),
)
