"""OpenTelemetry GenAI spans as OTLP/JSON (a trace export document or JSON Lines of them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..rows import RowError, build_row, parse_count, parse_ts
from .jsondoc import iter_documents
from .registry import BATCH_ROWS, ImportFormat, row_batches
from .report import ImportReport
from .source import CountingReader

STATUS_ERROR = (2, "STATUS_CODE_ERROR")


def attr_value(value: Any) -> Any:
    """The Python value of an OTLP AnyValue (intValue arrives as a string in JSON)."""
    if not isinstance(value, dict):
        return value
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        raw = value["intValue"]
        try:
            return int(raw)
        except (TypeError, ValueError):
            return raw
    if "arrayValue" in value:
        values = value["arrayValue"].get("values") if isinstance(value["arrayValue"], dict) else None
        return [attr_value(v) for v in values] if isinstance(values, list) else []
    return None


def attributes(items: Any) -> dict:
    if not isinstance(items, list):
        return {}
    return {
        a["key"]: attr_value(a.get("value")) for a in items if isinstance(a, dict) and isinstance(a.get("key"), str)
    }


def _first(attrs: dict, *keys: str) -> Any:
    for key in keys:
        value = attrs.get(key)
        if value not in (None, ""):
            return value
    return None


def is_genai(attrs: dict) -> bool:
    return any(k.startswith(("gen_ai.usage.", "gen_ai.request.model", "gen_ai.response.model")) for k in attrs)


def _status(span: dict, attrs: dict) -> str:
    status = span.get("status") or {}
    if status.get("code") not in STATUS_ERROR:
        return "ok"
    kind = str(_first(attrs, "error.type", "exception.type") or "") + " " + str(status.get("message") or "")
    kind = kind.lower()
    if "timeout" in kind or "deadline" in kind:
        return "timeout"
    if "rate" in kind and "limit" in kind or "429" in kind:
        return "rate_limited"
    return "error"


def span_row(org_id: str, span: dict, resource: dict) -> dict:
    attrs = attributes(span.get("attributes"))
    model = _first(attrs, "gen_ai.response.model", "gen_ai.request.model")
    if not model:
        raise RowError("span has gen_ai attributes but no gen_ai.request.model or gen_ai.response.model")
    start = parse_count(span.get("startTimeUnixNano"), "startTimeUnixNano", None)
    end = parse_count(span.get("endTimeUnixNano"), "endTimeUnixNano", None)
    if not start:
        raise RowError("missing startTimeUnixNano")
    latency = (end - start) // 1_000_000 if end and end >= start else None
    return build_row(
        org_id,
        ts=parse_ts(start / 1e9, "startTimeUnixNano"),
        model=str(model),
        provider=str(_first(attrs, "gen_ai.provider.name", "gen_ai.system") or ""),
        feature=str(
            _first(attrs, "spendpilot.feature", "feature", "gen_ai.agent.name")
            or resource.get("service.name")
            or ""
        ),
        user=str(_first(attrs, "enduser.id", "user.id", "gen_ai.user.id") or ""),
        input_tokens=parse_count(attrs.get("gen_ai.usage.input_tokens"), "gen_ai.usage.input_tokens"),
        output_tokens=parse_count(attrs.get("gen_ai.usage.output_tokens"), "gen_ai.usage.output_tokens"),
        cached_input_tokens=parse_count(
            _first(attrs, "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens"),
            "gen_ai.usage.cache_read.input_tokens",
        ),
        max_tokens=parse_count(attrs.get("gen_ai.request.max_tokens"), "gen_ai.request.max_tokens", None),
        latency_ms=latency,
        status=_status(span, attrs),
        is_batch=1 if str(_first(attrs, "gen_ai.openai.request.service_tier", "spendpilot.is_batch") or "").lower()
        in ("batch", "true", "1")
        else 0,
        prompt_hash=str(_first(attrs, "spendpilot.prompt_hash") or ""),
        prompt_prefix_hash=str(_first(attrs, "spendpilot.prompt_prefix_hash") or ""),
        prompt_prefix_tokens=parse_count(
            attrs.get("spendpilot.prompt_prefix_tokens"), "spendpilot.prompt_prefix_tokens"
        ),
    )


def parse_otlp(raw: CountingReader, org_id: str, report: ImportReport) -> Iterator[dict]:
    """Rows of GenAI spans; ``line`` is the JSON line, or the span's 1-based position in the file."""
    position = 0
    for doc_line, doc in iter_documents(raw, "OTLP/JSON", report):
        resource_spans = doc.get("resourceSpans") if isinstance(doc, dict) else None
        if not isinstance(resource_spans, list):
            position += 1
            report.reject(doc_line or position, "expected an OTLP export object with 'resourceSpans'")
            continue
        for ri, rs in enumerate(resource_spans):
            if not isinstance(rs, dict):
                position += 1
                report.reject(doc_line or position, f"resourceSpans[{ri}]: expected an object")
                continue
            resource = attributes(_field(_field(rs, "resource", dict), "attributes", list))
            for si, scope in enumerate(_field(rs, "scopeSpans", list)):
                for pi, span in enumerate(_field(scope, "spans", list)):
                    position += 1
                    where = f"resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]"
                    if not isinstance(span, dict):
                        report.reject(doc_line or position, f"{where}: expected an object")
                        continue
                    try:
                        if not is_genai(attributes(span.get("attributes"))):
                            report.skipped += 1
                            continue
                        yield span_row(org_id, span, resource)
                    except RowError as exc:
                        report.reject(doc_line or position, f"{where}: {exc}")
                    except (AttributeError, TypeError, ValueError):
                        # Exporters vary; a span whose parts have unexpected JSON types is a bad row.
                        report.reject(doc_line or position, f"{where}: fields have unexpected JSON types")


def _field(container: Any, key: str, kind: type) -> Any:
    """container[key] if both have the expected JSON types, else an empty value of `kind`."""
    value = container.get(key) if isinstance(container, dict) else None
    return value if isinstance(value, kind) else kind()


FORMAT = ImportFormat(
    name="otlp",
    label="OpenTelemetry GenAI spans as OTLP/JSON (gen_ai.* attributes)",
    sniff=lambda head: head.is_json and head.has_key("resourceSpans"),
    parse=row_batches(parse_otlp, BATCH_ROWS),
    aliases=("otel", "opentelemetry"),
)
