"""OpenAI's wire format for the fake providers: chat completions, Responses, embeddings, models, errors.

Shapes are those of recorded OpenAI answers:
- chat completion: pydantic/pydantic-ai tests/models/cassettes/test_openai/test_openai_instructions_with_tool_calls.yaml
- chat stream (text, tool calls, usage chunk, [DONE]): pydantic/pydantic-ai
  tests/models/cassettes/test_openai/test_run_stream_sync_streams_real_model.yaml
- Responses (plain and streamed): pydantic/pydantic-ai tests/models/cassettes/test_openai_responses/
  test_openai_responses_model_simple_response.yaml and test_openai_conversation_id_streaming_provider_details.yaml
- embeddings: openai/openai-python src/openai/types/create_embedding_response.py; the SDK asks for base64 unless told
  otherwise and decodes float32 (src/openai/lib/_parsing/_embeddings.py)
- models: tests/unit/agents/recordings/openai_models.json
- errors: pydantic/pydantic-ai tests/models/cassettes/test_openai_responses/test_openai_responses_model_http_error.yaml,
  messages from https://platform.openai.com/docs/guides/error-codes
"""

from __future__ import annotations

import base64
import hashlib
import struct
import time

from .fake_wire import Reply, StreamPlan, argument_fragments, random_id, sse

DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"
DEFAULT_EMBEDDING_DIMENSIONS = 1536
HEX = "0123456789abcdef"

# (type, code, message) by status, as OpenAI words them.
ERRORS = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key",
          "Incorrect API key provided: sk-fake. You can find your API key at https://platform.openai.com/account/api-keys."),
    403: ("invalid_request_error", "unsupported_country_region_territory",
          "Country, region, or territory not supported"),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."),
    429: ("requests", "rate_limit_exceeded",
          "Rate limit reached for requests per min (RPM): Limit 500, Used 500, Requested 1. "
          "Please try again in 120ms."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def error(status: int, message: str | None = None) -> dict:
    kind, code, usual = ERRORS.get(status, ("server_error" if status >= 500 else "invalid_request_error", None,
                                            f"Request failed with status {status}."))
    return {"error": {"message": message or usual, "type": kind, "param": None, "code": code}}


def headers() -> dict[str, str]:
    return {"x-request-id": random_id("req_", 32, HEX), "openai-version": "2020-10-01", "openai-processing-ms": "212"}


def _model(reply: Reply, body: dict) -> str:
    return reply.model or body.get("model") or DEFAULT_MODEL


def _call_id(call) -> str:
    return call.id or random_id("call_", 24)


def chat_usage(reply: Reply) -> dict:
    u = reply.usage
    return {"prompt_tokens": u.input_tokens, "completion_tokens": u.output_tokens,
            "total_tokens": u.input_tokens + u.output_tokens,
            "prompt_tokens_details": {"cached_tokens": u.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}


def _finish_reason(reply: Reply) -> str:
    if reply.mode == "length":
        return "length"
    return "tool_calls" if reply.tool_calls else "stop"


def chat_completion(reply: Reply, body: dict) -> dict:
    message: dict = {"role": "assistant", "content": reply.text or None, "refusal": None, "annotations": []}
    if reply.tool_calls:
        message["tool_calls"] = [{"id": _call_id(call), "type": "function",
                                  "function": {"name": call.name, "arguments": call.arguments_json}}
                                 for call in reply.tool_calls]
    return {"id": random_id("chatcmpl-", 29), "object": "chat.completion", "created": int(time.time()),
            "model": _model(reply, body),
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": _finish_reason(reply)}],
            "usage": chat_usage(reply), "service_tier": "default", "system_fingerprint": random_id("fp_", 10, HEX)}


def chat_stream(reply: Reply, body: dict) -> StreamPlan:
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    envelope = {"id": random_id("chatcmpl-", 29), "object": "chat.completion.chunk", "created": int(time.time()),
                "model": _model(reply, body), "service_tier": "default",
                "system_fingerprint": random_id("fp_", 10, HEX)}

    def chunk(delta: dict | None, finish_reason: str | None = None) -> bytes:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None,
                                             "finish_reason": finish_reason}]
        # Chunks carry "usage": null only when the usage chunk was asked for, as OpenAI sends them.
        usage = {"usage": None} if include_usage else {}
        return sse({**envelope, "choices": choices, **usage, "obfuscation": random_id("", 6)})

    tool_headers = [{"index": i, "id": _call_id(call), "type": "function",
                     "function": {"name": call.name, "arguments": ""}} for i, call in enumerate(reply.tool_calls)]
    first: dict = {"role": "assistant", "content": "" if reply.text else None, "refusal": None}
    if not reply.text and tool_headers:
        # OpenAI names the first tool call in the role chunk when there is no text.
        first["tool_calls"] = [tool_headers[0]]
    body_frames = [chunk({"content": piece}) for piece in reply.text_chunks()]
    for i, call in enumerate(reply.tool_calls):
        if reply.text or i:
            body_frames.append(chunk({"tool_calls": [tool_headers[i]]}))
        body_frames += [chunk({"tool_calls": [{"index": i, "function": {"arguments": fragment}}]})
                        for fragment in argument_fragments(call.arguments_json)]
    tail = [chunk({}, _finish_reason(reply))]
    if include_usage:
        tail.append(sse({**envelope, "choices": [], "usage": chat_usage(reply), "obfuscation": random_id("", 6)}))
    tail.append(b"data: [DONE]\n\n")
    malformed = f'data: {{"id":"{envelope["id"]}","object":"chat.completion.chunk","choices":[{{"index":0,'.encode()
    return StreamPlan(head=[chunk(first)], body=body_frames, tail=tail, malformed=malformed + b"\n\n")


def responses_usage(reply: Reply) -> dict:
    u = reply.usage
    return {"input_tokens": u.input_tokens, "input_tokens_details": {"cached_tokens": u.cached_tokens},
            "output_tokens": u.output_tokens, "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
            "total_tokens": u.input_tokens + u.output_tokens}


def _response_items(reply: Reply) -> list[dict]:
    items = []
    if reply.text:
        items.append({"id": random_id("msg_", 48, HEX), "type": "message", "status": "completed", "role": "assistant",
                      "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": reply.text}]})
    items += [{"id": random_id("fc_", 48, HEX), "type": "function_call", "status": "completed",
               "arguments": call.arguments_json, "call_id": _call_id(call), "name": call.name}
              for call in reply.tool_calls]
    return items


def response(reply: Reply, body: dict, items: list[dict] | None = None, *, final: bool = True,
             response_id: str | None = None) -> dict:
    """A Responses API object; `final=False` gives the in-progress one that opens a stream."""
    created = int(time.time())
    incomplete = reply.mode == "length"
    status = ("incomplete" if incomplete else "completed") if final else "in_progress"
    return {"id": response_id or random_id("resp_", 48, HEX), "object": "response",
            "created_at": created, "status": status, "background": False,
            "completed_at": created if final else None, "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if incomplete and final else None,
            "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": None, "model": _model(reply, body),
            "output": (_response_items(reply) if items is None else items) if final else [],
            "parallel_tool_calls": True, "previous_response_id": body.get("previous_response_id"),
            "prompt_cache_key": None, "reasoning": {"effort": None, "summary": None}, "safety_identifier": None,
            "service_tier": "default", "store": True, "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"}, "tool_choice": "auto",
            "tools": body.get("tools", []), "top_logprobs": 0, "top_p": 1.0, "truncation": "disabled",
            "usage": responses_usage(reply) if final else None, "user": None, "metadata": body.get("metadata", {})}


def responses_stream(reply: Reply, body: dict) -> StreamPlan:
    response_id = random_id("resp_", 48, HEX)
    items = _response_items(reply)
    opening = response(reply, body, final=False, response_id=response_id)
    events: list[dict] = [{"type": "response.created", "response": opening},
                          {"type": "response.in_progress", "response": opening}]
    head_count = len(events)
    for index, item in enumerate(items):
        opened = {**item, "status": "in_progress"}
        if item["type"] == "message":
            opened["content"] = []
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
            events += [{"type": "response.output_item.added", "item": opened, "output_index": index},
                       {"type": "response.content_part.added", "content_index": 0, "item_id": item["id"],
                        "output_index": index, "part": part}]
            events += [{"type": "response.output_text.delta", "content_index": 0, "delta": piece,
                        "item_id": item["id"], "logprobs": [], "obfuscation": random_id("", 10), "output_index": index}
                       for piece in reply.text_chunks()]
            events += [{"type": "response.output_text.done", "content_index": 0, "item_id": item["id"],
                        "logprobs": [], "output_index": index, "text": reply.text},
                       {"type": "response.content_part.done", "content_index": 0, "item_id": item["id"],
                        "output_index": index, "part": {**part, "text": reply.text}}]
        else:
            opened["arguments"] = ""
            events.append({"type": "response.output_item.added", "item": opened, "output_index": index})
            events += [{"type": "response.function_call_arguments.delta", "delta": fragment, "item_id": item["id"],
                        "obfuscation": random_id("", 10), "output_index": index}
                       for fragment in argument_fragments(item["arguments"])]
            events.append({"type": "response.function_call_arguments.done", "arguments": item["arguments"],
                           "item_id": item["id"], "name": item["name"], "output_index": index})
        events.append({"type": "response.output_item.done", "item": item, "output_index": index})
    finished = "response.incomplete" if reply.mode == "length" else "response.completed"
    events.append({"type": finished, "response": response(reply, body, items, response_id=response_id)})
    frames = [sse({**event, "sequence_number": number}, event=event["type"]) for number, event in enumerate(events)]
    malformed = b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"\n\n'
    return StreamPlan(head=frames[:head_count], body=frames[head_count:-1], tail=frames[-1:], malformed=malformed)


def _vector(text: str, dimensions: int) -> list[float]:
    """A vector drawn from the text's hash: the same text always gets the same vector, others a different one."""
    seed = hashlib.sha256(text.encode()).digest()
    return [round((seed[i % len(seed)] - 127.5) / 127.5 / (1 + i // len(seed)), 6) for i in range(dimensions)]


def embeddings(reply: Reply, body: dict) -> dict:
    inputs = body.get("input", "")
    inputs = [inputs] if isinstance(inputs, str) else list(inputs)
    dimensions = int(body.get("dimensions") or DEFAULT_EMBEDDING_DIMENSIONS)
    data = []
    for index, text in enumerate(inputs):
        vector = _vector(str(text), dimensions)
        if body.get("encoding_format") == "base64":
            encoded = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        else:
            data.append({"object": "embedding", "index": index, "embedding": vector})
    model = reply.model or body.get("model") or "text-embedding-3-small"
    return {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": reply.usage.input_tokens, "total_tokens": reply.usage.input_tokens}}


def models(model_ids: list[str]) -> dict:
    return {"object": "list", "data": [{"id": model_id, "object": "model", "created": 1721172741,
                                        "owned_by": "system"} for model_id in model_ids]}
