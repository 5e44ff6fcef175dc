"""Anthropic's wire format for the fake providers: messages (plain and streamed), models, errors.

Shapes are those of recorded Anthropic answers:
- message with cache usage: pydantic/pydantic-ai
  tests/models/cassettes/test_anthropic/test_anthropic_cache_real_api.yaml
- stream events, tool_use with input_json_delta: anthropics/anthropic-sdk-python
  tests/lib/streaming/fixtures/basic_response.txt and tool_use_response.txt
- message_delta usage with cache counts and server_tool_use.web_search_requests: pydantic/pydantic-ai
  tests/models/cassettes/test_anthropic/test_anthropic_model_web_search_tool_stream.yaml
- models: https://platform.claude.com/docs/en/api/ruby/models/list (response 200) and anthropics/anthropic-sdk-python
  src/anthropic/types/model_info.py
- errors: pydantic/pydantic-ai tests/models/cassettes/test_anthropic/test_anthropic_count_tokens_error.yaml,
  types by status from https://docs.claude.com/en/api/errors
"""

from __future__ import annotations

import json

from .fake_wire import Reply, StreamPlan, ToolCall, argument_fragments, random_id, sse

DEFAULT_MODEL = "claude-sonnet-4-5-20250929"
# Anthropic ids look like base58 after their "01" prefix: msg_01UUPT9QdZnZSRzcQJkjG25U.
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

# (type, message) by status, as Anthropic words them.
ERRORS = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "Not found"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


def error(status: int, message: str | None = None) -> dict:
    kind, usual = ERRORS.get(status, ("api_error" if status >= 500 else "invalid_request_error",
                                      f"Request failed with status {status}."))
    return {"type": "error", "error": {"type": kind, "message": message or usual},
            "request_id": random_id("req_011C", 20, BASE58)}


def headers() -> dict[str, str]:
    return {"request-id": random_id("req_011C", 20, BASE58), "anthropic-organization-id": "org-fake"}


def _model(reply: Reply, body: dict) -> str:
    return reply.model or body.get("model") or DEFAULT_MODEL


def _stop_reason(reply: Reply) -> str:
    if reply.mode == "length":
        return "max_tokens"
    return "tool_use" if reply.tool_calls else "end_turn"


def _input(call: ToolCall) -> dict:
    if isinstance(call.arguments, dict):
        return call.arguments
    try:
        return json.loads(call.arguments)
    except ValueError:
        # Arguments that are not JSON are sent as-is in a stream; a whole message can only carry an object.
        return {}


def _tool_id(call: ToolCall) -> str:
    return call.id or random_id("toolu_01", 22, BASE58)


def usage(reply: Reply, *, output_tokens: int | None = None) -> dict:
    u = reply.usage
    result = {"input_tokens": u.input_tokens, "cache_creation_input_tokens": u.cache_write_tokens,
              "cache_read_input_tokens": u.cached_tokens,
              "cache_creation": {"ephemeral_5m_input_tokens": u.cache_write_tokens, "ephemeral_1h_input_tokens": 0},
              "output_tokens": u.output_tokens if output_tokens is None else output_tokens,
              "service_tier": "standard"}
    if u.web_search_requests is not None:
        result["server_tool_use"] = {"web_search_requests": u.web_search_requests, "web_fetch_requests": 0}
    return result


def message(reply: Reply, body: dict) -> dict:
    content: list[dict] = [{"type": "text", "text": reply.text}] if reply.text else []
    content += [{"type": "tool_use", "id": _tool_id(call), "name": call.name, "input": _input(call)}
                for call in reply.tool_calls]
    return {"id": random_id("msg_01", 22, BASE58), "type": "message", "role": "assistant",
            "model": _model(reply, body), "content": content, "stop_reason": _stop_reason(reply),
            "stop_sequence": None, "usage": usage(reply)}


def message_stream(reply: Reply, body: dict) -> StreamPlan:
    def event(data: dict) -> bytes:
        return sse(data, event=data["type"])

    # message_start carries the input counts and one output token; message_delta the cumulative totals.
    start = {**message(reply, body), "content": [], "stop_reason": None, "usage": usage(reply, output_tokens=1)}
    head = [event({"type": "message_start", "message": start})]
    body_frames: list[bytes] = []
    index = 0
    if reply.text:
        head.append(event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}))
        head.append(event({"type": "ping"}))
        body_frames += [event({"type": "content_block_delta", "index": 0,
                               "delta": {"type": "text_delta", "text": piece}}) for piece in reply.text_chunks()]
        body_frames.append(event({"type": "content_block_stop", "index": 0}))
        index = 1
    for offset, call in enumerate(reply.tool_calls):
        block = {"type": "tool_use", "id": _tool_id(call), "name": call.name, "input": {}}
        body_frames.append(event({"type": "content_block_start", "index": index + offset, "content_block": block}))
        for fragment in ["", *argument_fragments(call.arguments_json)]:
            body_frames.append(event({"type": "content_block_delta", "index": index + offset,
                                      "delta": {"type": "input_json_delta", "partial_json": fragment}}))
        body_frames.append(event({"type": "content_block_stop", "index": index + offset}))
    final_usage = {key: value for key, value in usage(reply).items()
                   if key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens",
                              "output_tokens", "server_tool_use")}
    tail = [event({"type": "message_delta", "delta": {"stop_reason": _stop_reason(reply), "stop_sequence": None},
                   "usage": final_usage}),
            event({"type": "message_stop"})]
    malformed = (b'event: content_block_delta\n'
                 b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\n\n')
    return StreamPlan(head=head, body=body_frames, tail=tail, malformed=malformed)


def models(model_ids: list[str]) -> dict:
    data = [{"type": "model", "id": model_id, "display_name": _display_name(model_id),
             "created_at": "2025-09-29T00:00:00Z", "lifecycle": "active"} for model_id in model_ids]
    return {"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None}


def _display_name(model_id: str) -> str:
    # "claude-sonnet-4-5-20250929" reads "Claude Sonnet 4.5".
    words = [word for word in model_id.split("-") if not (word.isdigit() and len(word) == 8)]
    names = [word.capitalize() for word in words if not word.isdigit()]
    version = ".".join(word for word in words if word.isdigit())
    return " ".join(names + ([version] if version else []))
