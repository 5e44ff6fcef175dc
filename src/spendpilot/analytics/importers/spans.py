"""OpenTelemetry spans -> llm_usage rows: the one mapping shared by the OTLP/JSON file format and the live receiver.

Both decoders (OTLP/JSON documents and protobuf requests, in importers/otlp.py) turn an export into `Span`s;
`map_export` decides which spans are LLM calls and maps each to a row. Attribute styles understood: the GenAI
semantic conventions (current and deprecated names), OpenLLMetry (`gen_ai.usage.prompt_tokens`, `llm.usage.*`,
`traceloop.*`) and OpenInference (`llm.token_count.*`, `openinference.span.kind`).

Agent frameworks (pydantic-ai, Strands, any `invoke_agent` span) repeat their children's usage on the agent span:
agent, workflow and chain spans never count, and an LLM span whose descendant in the same export is an LLM span
with usage is a wrapper of that call (LangChain over the OpenAI instrumentation), so only the innermost counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from ..rows import RowError, build_row, parse_count

# Each llm_usage field and the attributes that carry it, most specific first.
PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
MODEL_KEYS = ("gen_ai.response.model", "gen_ai.request.model", "llm.response.model_name", "llm.model_name",
              "llm.request.model_name", "embedding.model_name")
INPUT_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt",
              "llm.usage.prompt_tokens")
OUTPUT_KEYS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion",
               "llm.usage.completion_tokens")
CACHE_READ_KEYS = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
                   "llm.token_count.prompt_details.cache_read", "llm.usage.cache_read_input_tokens")
CACHE_WRITE_KEYS = ("gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens",
                    "gen_ai.usage.cache_write_input_tokens", "llm.token_count.prompt_details.cache_write",
                    "llm.usage.cache_creation_input_tokens")
TOTAL_KEYS = ("gen_ai.usage.total_tokens", "llm.usage.total_tokens", "llm.token_count.total")
USER_KEYS = ("enduser.id", "user.id", "traceloop.association.properties.user_id")
TIER_KEYS = ("openai.response.service_tier", "openai.request.service_tier", "gen_ai.openai.response.service_tier",
             "gen_ai.openai.request.service_tier")
USAGE_KEYS = frozenset(INPUT_KEYS + OUTPUT_KEYS)
TAG_PREFIX = "spendpilot.tag."
# Every attribute the mapping reads (besides TAG_PREFIX ones): a decoder may leave out all others, which saves
# converting the prompts, contents and HTTP details instrumentations attach to spans.
MAPPED_KEYS = frozenset(PROVIDER_KEYS + MODEL_KEYS + INPUT_KEYS + OUTPUT_KEYS + CACHE_READ_KEYS + CACHE_WRITE_KEYS
                        + TOTAL_KEYS + USER_KEYS + TIER_KEYS + (
                            "gen_ai.operation.name", "openinference.span.kind", "traceloop.span.kind",
                            "llm.request.type", "error.type", "gen_ai.request.max_tokens", "llm.invocation_parameters",
                            "spendpilot.feature", "service.name", "spendpilot.is_batch", "spendpilot.prompt_hash",
                            "spendpilot.prompt_prefix_hash", "spendpilot.prompt_prefix_tokens"))

# Spans that group calls instead of being one: their usage, when they carry any, repeats their children's.
AGENT_OPERATIONS = frozenset({"invoke_agent", "create_agent", "invoke_workflow", "execute_tool"})
LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings", "completion"})
# OpenInference span kinds that are one model call; every other kind (CHAIN, AGENT, TOOL, ...) is not.
OPENINFERENCE_LLM_KINDS = frozenset({"LLM", "EMBEDDING"})
TRACELOOP_GROUP_KINDS = frozenset({"workflow", "task", "agent", "tool"})

# Names agent frameworks report as the provider although they are not the one who bills.
FRAMEWORK_PROVIDERS = frozenset({"strands-agents", "strands", "pydantic-ai", "pydantic_ai", "langchain",
                                 "langgraph", "llama_index", "llamaindex", "crewai", "autogen", "openai-agents",
                                 "semantic_kernel", "haystack", "dspy", "agno", "mastra"})
# Bedrock model ids and inference profiles: `anthropic.claude-...-v1:0`, `us.anthropic.claude-...`.
BEDROCK_MODEL = re.compile(r"^(?:[a-z]{2,4}(?:-[a-z]+)?\.)?(?:anthropic|amazon|meta|mistral|cohere|ai21|deepseek|"
                           r"writer|qwen|openai|twelvelabs|stability|luma)\.[a-z0-9][\w.:-]*$")
STANDARD_TIERS = frozenset({"", "default", "auto", "standard", "on_demand"})

MAX_TAGS = 32
# UInt32 columns (max_tokens, prompt_prefix_tokens, latency_ms): a larger value would fail the whole insert.
MAX_U32 = 2**32 - 1
# UInt64 token columns: counts are parsed up to 2**63 - 1, and input may add cache counts to that.
MAX_TOKENS = 2**62
MAX_TEXT = 256
# Walking up from a span to its ancestors stops here: real traces are shallow, hostile ones may loop.
MAX_DEPTH = 64

STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2


@dataclass(slots=True)
class Span:
    """One span of an export, whatever its encoding; ids are lower-case hex ('' when absent)."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str
    attrs: dict[str, Any]
    resource: dict[str, Any]
    # How the caller names this span in a report (a JSON path, a line number).
    where: Any = None


@dataclass
class ExportOutcome:
    """What one export held: rows of LLM calls, spans that are not LLM calls, and unusable LLM spans."""

    rows: list[dict] = field(default_factory=list)
    skipped: int = 0
    rejected: list[tuple[Span, str]] = field(default_factory=list)


def _first(attrs: dict, keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value
    return None


def _text(value: Any, limit: int = MAX_TEXT) -> str:
    return "" if value is None else str(value)[:limit]


def _label(attrs: dict, key: str) -> str | None:
    """A name-like attribute (an operation, a span kind) when it is a string: a list or a map there names
    nothing we know, and must not fail the whole export (an exporter would send it again forever)."""
    value = attrs.get(key)
    return value if isinstance(value, str) else None


def is_grouping(span: Span) -> bool:
    """An agent, workflow, chain or tool span: never a model call of its own."""
    attrs = span.attrs
    if _label(attrs, "gen_ai.operation.name") in AGENT_OPERATIONS:
        return True
    kind = attrs.get("openinference.span.kind")
    if kind is not None and str(kind).upper() not in OPENINFERENCE_LLM_KINDS:
        return True
    if _label(attrs, "traceloop.span.kind") in TRACELOOP_GROUP_KINDS:
        return True
    # pydantic-ai before the semantic conventions named its agent span "agent run".
    return span.name == "agent run" or span.name.startswith("invoke_agent")


def has_usage(attrs: dict) -> bool:
    return not USAGE_KEYS.isdisjoint(attrs)


def is_llm_call(span: Span) -> bool:
    """A model call: a model and either token usage or an operation that is one (a failed call has no usage)."""
    attrs = span.attrs
    if is_grouping(span) or _first(attrs, MODEL_KEYS) is None:
        return False
    return (has_usage(attrs) or _label(attrs, "gen_ai.operation.name") in LLM_OPERATIONS
            or str(attrs.get("openinference.span.kind", "")).upper() in OPENINFERENCE_LLM_KINDS
            or "llm.request.type" in attrs)


def _wrappers(calls: list[Span], spans: list[Span]) -> set[int]:
    """ids of the calls that have another call with usage below them in the same export."""
    # When no call has a parent, no call is below another (flat exports, as SDKs batch plain calls).
    if len(calls) < 2 or not any(call.parent_span_id for call in calls):
        return set()
    parents = {(s.trace_id, s.span_id): s.parent_span_id for s in spans if s.span_id}
    by_key = {(c.trace_id, c.span_id): c for c in calls if c.span_id}
    covered: set[int] = set()
    for call in calls:
        if not has_usage(call.attrs):
            continue
        parent, seen = call.parent_span_id, 0
        while parent and seen < MAX_DEPTH:
            key = (call.trace_id, parent)
            above = by_key.get(key)
            if above is not None and above is not call:
                covered.add(id(above))
            parent, seen = parents.get(key, ""), seen + 1
    return covered


def map_export(org_id: str, spans: list[Span], api_key_id: str = "") -> ExportOutcome:
    """The rows of an export's LLM calls; every other span is skipped or, if it cannot be used, rejected."""
    outcome = ExportOutcome()
    calls: list[Span] = []
    for span in spans:
        if is_llm_call(span):
            calls.append(span)
        elif has_usage(span.attrs) and not is_grouping(span):
            outcome.rejected.append((span, "span has token usage but no model attribute "
                                           "(gen_ai.request.model, gen_ai.response.model or llm.model_name)"))
        else:
            outcome.skipped += 1
    wrappers = _wrappers(calls, spans)
    resource_tags: dict[int, dict[str, str]] = {}  # spans of one resource share its dict: its tags once
    for call in calls:
        if id(call) in wrappers:
            outcome.skipped += 1
            continue
        try:
            shared = resource_tags.get(id(call.resource))
            if shared is None:
                shared = resource_tags[id(call.resource)] = _tags(call.resource)
            outcome.rows.append(span_row(org_id, call, api_key_id, shared))
        except RowError as exc:
            outcome.rejected.append((call, str(exc)))
        except (TypeError, ValueError, OverflowError):
            outcome.rejected.append((call, "attributes have unexpected value types"))
    return outcome


def provider_of(attrs: dict, model: str) -> str:
    """The provider who bills the call; a framework's own name gives way to what the model id says."""
    reported = str(_first(attrs, PROVIDER_KEYS) or "").strip().lower()
    if _is_bedrock(model):
        return "aws"
    if reported in FRAMEWORK_PROVIDERS:
        return ""  # build_row guesses from the model name
    return reported


@lru_cache(maxsize=4096)
def _is_bedrock(model: str) -> bool:
    return BEDROCK_MODEL.match(model.lower()) is not None


def _tokens(attrs: dict) -> tuple[int, int, int, int]:
    """(input incl. cache, output, cache read, cache write) whether the source counts cache inside input or beside."""
    inputs = parse_count(_first(attrs, INPUT_KEYS), "input tokens")
    output = parse_count(_first(attrs, OUTPUT_KEYS), "output tokens")
    read = parse_count(_first(attrs, CACHE_READ_KEYS), "cache read tokens")
    write = parse_count(_first(attrs, CACHE_WRITE_KEYS), "cache write tokens")
    if read or write:
        total = parse_count(_first(attrs, TOTAL_KEYS), "total tokens", None)
        # Semantic conventions count cache inside input; Bedrock (Strands) and raw Anthropic counts beside it.
        # A reported total that adds cache on top of input says "beside"; without one, cache larger than
        # input can only be beside.
        beside = total == inputs + output + read + write if total is not None else read + write > inputs
        if beside:
            inputs += read + write
    if max(inputs, output) > MAX_TOKENS:
        raise RowError("token counts are implausibly large")
    return inputs, output, read, write


def _status(span: Span) -> str:
    if span.status_code != STATUS_ERROR:
        return "ok"
    kind = f"{span.attrs.get('error.type') or ''} {span.status_message}".lower()
    if "timeout" in kind or "deadline" in kind or "timed out" in kind:
        return "timeout"
    if "429" in kind or "rate" in kind and "limit" in kind:
        return "rate_limited"
    return "error"


def _max_tokens(attrs: dict) -> int | None:
    value = attrs.get("gen_ai.request.max_tokens")
    if value is None:
        params = attrs.get("llm.invocation_parameters")
        if isinstance(params, str) and "max_" in params:
            try:
                decoded = orjson.loads(params)
            except orjson.JSONDecodeError:
                return None
            if isinstance(decoded, dict):
                value = _first(decoded, ("max_tokens", "max_completion_tokens", "max_output_tokens"))
    return _u32(parse_count(value, "gen_ai.request.max_tokens", None), "gen_ai.request.max_tokens")


def _u32(value: int | None, name: str) -> int | None:
    if value is not None and value > MAX_U32:
        raise RowError(f"invalid {name} {value}: larger than 4294967295")
    return value


def _prefix_tokens(attrs: dict) -> int:
    name = "spendpilot.prompt_prefix_tokens"
    return _u32(parse_count(attrs.get(name), name), name) or 0


def _latency_ms(span: Span) -> int | None:
    if span.end_ns < span.start_ns:
        return None
    latency = (span.end_ns - span.start_ns) // 1_000_000
    return latency if latency <= MAX_U32 else None


def _tags(attrs: dict[str, Any]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for key, value in attrs.items():
        if key.startswith(TAG_PREFIX) and value is not None and len(tags) < MAX_TAGS:
            name = key[len(TAG_PREFIX):][:64]
            if name:
                tags[name] = _text(value)
    return tags


def tags_of(span: Span, resource_tags: dict[str, str] | None = None) -> dict[str, str]:
    """`spendpilot.tag.<name>` attributes, the resource's first and the span's over them."""
    base = _tags(span.resource) if resource_tags is None else resource_tags
    own = _tags(span.attrs)
    if not own:
        return dict(base)
    return {**base, **own} if len(base) + len(own) <= MAX_TAGS else dict(list({**base, **own}.items())[:MAX_TAGS])


def span_row(org_id: str, span: Span, api_key_id: str = "", resource_tags: dict[str, str] | None = None) -> dict:
    attrs = span.attrs
    model = _text(_first(attrs, MODEL_KEYS), 200).strip()
    if not model:
        raise RowError("span has no model attribute")
    if span.start_ns <= 0:
        raise RowError("missing start time (startTimeUnixNano)")
    try:
        ts = datetime.fromtimestamp(span.start_ns / 1e9, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise RowError(f"start time {span.start_ns} is out of range") from None
    inputs, output, read, write = _tokens(attrs)
    tier = _text(_first(attrs, TIER_KEYS), 40).lower()
    resource = span.resource
    return build_row(
        org_id,
        ts=ts,
        model=model,
        provider=provider_of(attrs, model),
        feature=_text(attrs.get("spendpilot.feature") or resource.get("spendpilot.feature")
                      or resource.get("service.name"), 200),
        user=_text(_first(attrs, USER_KEYS)),
        input_tokens=inputs,
        output_tokens=output,
        cached_input_tokens=read,
        cache_write_tokens=write,
        max_tokens=_max_tokens(attrs),
        latency_ms=_latency_ms(span),
        status=_status(span),
        is_batch=1 if tier == "batch" or str(attrs.get("spendpilot.is_batch", "")).lower() in ("true", "1") else 0,
        service_tier="" if tier in STANDARD_TIERS else tier,
        prompt_hash=_text(attrs.get("spendpilot.prompt_hash"), 128),
        prompt_prefix_hash=_text(attrs.get("spendpilot.prompt_prefix_hash"), 128),
        prompt_prefix_tokens=_prefix_tokens(attrs),
        source_id=f"{span.trace_id}:{span.span_id}" if span.trace_id and span.span_id else "",
        api_key_id=api_key_id,
        tags=tags_of(span, resource_tags),
    )
