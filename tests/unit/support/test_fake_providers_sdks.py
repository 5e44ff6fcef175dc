"""The official openai and anthropic SDKs parse everything the fake providers send, usage included."""

from __future__ import annotations

import json

import httpx
import pytest
from anthropic import Anthropic, AsyncAnthropic
from openai import AsyncOpenAI, OpenAI

from tests.support.fake_providers import FakeProviders, Reply, ToolCall, Usage

USAGE = Usage(input_tokens=900, output_tokens=40, cached_tokens=512, cache_write_tokens=64, reasoning_tokens=7)
TEXT = "Caching the 3,100-token prefix would save $212.40 a month."
MESSAGES = [{"role": "user", "content": "Where does the money go?"}]


@pytest.fixture
def fake(fake_providers: FakeProviders) -> FakeProviders:
    fake_providers.configure(text=TEXT, usage=USAGE)
    return fake_providers


def openai_sync(fake: FakeProviders) -> OpenAI:
    return OpenAI(api_key="sk-test-openai", base_url=fake.openai_url, max_retries=0, timeout=10)


def anthropic_sync(fake: FakeProviders) -> Anthropic:
    return Anthropic(api_key="sk-ant-test", base_url=fake.anthropic_url, max_retries=0, timeout=10)


def test_openai_chat_completion_parses_with_usage(fake):
    completion = openai_sync(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert completion.choices[0].message.content == TEXT
    assert completion.choices[0].finish_reason == "stop"
    assert completion.id.startswith("chatcmpl-") and completion.system_fingerprint.startswith("fp_")
    assert completion.model == "gpt-4o-mini" and completion.service_tier == "default" and completion.created > 0
    usage = completion.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (900, 40, 940)
    assert usage.prompt_tokens_details.cached_tokens == 512
    assert usage.completion_tokens_details.reasoning_tokens == 7
    assert completion._request_id.startswith("req_")
    received = fake.last_request
    assert (received.provider, received.method, received.path) == ("openai", "POST", "/v1/chat/completions")
    assert received.headers["authorization"] == "Bearer sk-test-openai"
    assert received.body["messages"] == MESSAGES


async def test_async_openai_chat_stream_with_usage_chunk(fake):
    fake.configure(chunks=["Caching the ", "3,100-token prefix ", "would save $212.40 a month."])
    client = AsyncOpenAI(api_key="sk-test", base_url=fake.openai_url, max_retries=0, timeout=10)
    stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                                  stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    await client.close()

    pieces = [chunk.choices[0].delta.content for chunk in chunks if chunk.choices and chunk.choices[0].delta.content]
    assert pieces == ["Caching the ", "3,100-token prefix ", "would save $212.40 a month."]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == 900
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == 512
    assert len({chunk.id for chunk in chunks}) == 1
    assert fake.last_request.body["stream_options"] == {"include_usage": True}


def test_openai_stream_on_the_wire(fake):
    """Without include_usage no chunk has a usage field; the stream ends with the finish chunk and [DONE]."""
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
    response = httpx.post(f"{fake.openai_url}/chat/completions", json=body, timeout=10)
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    lines = [line for line in response.text.split("\n") if line]
    assert all(line.startswith("data: ") for line in lines) and lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" and "usage" not in chunk for chunk in chunks)
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks) == TEXT


def test_openai_tool_calls_whole_and_streamed(fake):
    call = ToolCall("get_spend", {"days": 30, "group_by": "model"}, id="call_Spend30")
    fake.queue(Reply.calling(call), Reply.calling(call))
    client = openai_sync(fake)

    message = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices[0].message
    assert message.content is None
    assert message.tool_calls[0].id == "call_Spend30" and message.tool_calls[0].function.name == "get_spend"
    assert json.loads(message.tool_calls[0].function.arguments) == {"days": 30, "group_by": "model"}

    with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        final = stream.get_final_completion()
    streamed = final.choices[0]
    assert streamed.finish_reason == "tool_calls"
    assert streamed.message.tool_calls[0].function.name == "get_spend"
    assert json.loads(streamed.message.tool_calls[0].function.arguments) == {"days": 30, "group_by": "model"}


def test_openai_responses_whole_and_streamed(fake):
    client = openai_sync(fake)
    response = client.responses.create(model="gpt-4.1", input="Where does the money go?")
    assert response.id.startswith("resp_") and response.status == "completed" and response.output_text == TEXT
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (900, 40, 940)
    assert response.usage.input_tokens_details.cached_tokens == 512
    assert response.usage.output_tokens_details.reasoning_tokens == 7

    with client.responses.stream(model="gpt-4.1", input="Where does the money go?") as stream:
        events = [event.type for event in stream]
        final = stream.get_final_response()
    assert events[:2] == ["response.created", "response.in_progress"] and events[-1] == "response.completed"
    assert "response.output_text.delta" in events
    assert final.output_text == TEXT and final.usage.input_tokens_details.cached_tokens == 512


def test_openai_responses_function_call(fake):
    fake.queue(Reply.calling(ToolCall("get_spend", {"days": 7})))
    with openai_sync(fake).responses.stream(model="gpt-4.1", input="spend?") as stream:
        final = stream.get_final_response()
    call = final.output[0]
    assert (call.type, call.name, json.loads(call.arguments)) == ("function_call", "get_spend", {"days": 7})


def test_openai_embeddings_in_both_encodings(fake):
    client = openai_sync(fake)
    # The SDK asks for base64 by default and decodes it; asking for floats must give the same vector.
    default = client.embeddings.create(model="text-embedding-3-small", input=["gpt-4o", "claude"], dimensions=8)
    floats = client.embeddings.create(model="text-embedding-3-small", input=["gpt-4o", "claude"], dimensions=8,
                                      encoding_format="float")
    assert fake.requests[0].body["encoding_format"] == "base64"
    assert [len(item.embedding) for item in default.data] == [8, 8]
    assert default.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=1e-6)
    assert default.data[0].embedding != default.data[1].embedding
    assert default.usage.prompt_tokens == 900


def test_models_lists(fake):
    assert "gpt-4o-mini" in [model.id for model in openai_sync(fake).models.list()]
    models = list(anthropic_sync(fake).models.list())
    assert models[0].id == "claude-sonnet-4-5-20250929" and models[0].display_name == "Claude Sonnet 4.5"
    assert [received.provider for received in fake.requests] == ["openai", "anthropic"]


def test_anthropic_message_parses_with_usage(fake):
    fake.configure(usage=Usage(input_tokens=31, output_tokens=40, cached_tokens=2048, cache_write_tokens=64,
                               web_search_requests=2))
    message = anthropic_sync(fake).messages.create(model="claude-haiku-4-5", max_tokens=512, messages=MESSAGES)

    assert message.id.startswith("msg_01") and message.model == "claude-haiku-4-5"
    assert message.content[0].text == TEXT and message.stop_reason == "end_turn"
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens) == (31, 40)
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (2048, 64)
    assert usage.server_tool_use.web_search_requests == 2
    assert message._request_id.startswith("req_")
    received = fake.last_request
    assert (received.provider, received.path) == ("anthropic", "/v1/messages")
    assert "sk-ant-test" in (received.headers.get("x-api-key", "") + received.headers.get("authorization", ""))
    assert received.body["max_tokens"] == 512


async def test_async_anthropic_stream_parses_with_usage(fake):
    client = AsyncAnthropic(api_key="sk-ant-test", base_url=fake.anthropic_url, max_retries=0, timeout=10)
    async with client.messages.stream(model="claude-haiku-4-5", max_tokens=512, messages=MESSAGES) as stream:
        events = [event.type async for event in stream]
        message = await stream.get_final_message()
    await client.close()

    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert {"content_block_start", "content_block_delta", "content_block_stop", "message_delta"} <= set(events)
    assert message.content[0].text == TEXT and message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (900, 40)
    assert (message.usage.cache_read_input_tokens, message.usage.cache_creation_input_tokens) == (512, 64)


def test_anthropic_tool_use_whole_and_streamed(fake):
    call = ToolCall("get_spend", {"days": 30}, id="toolu_01Spend")
    fake.queue(Reply(text="Let me look.", tool_calls=[call]), Reply(text="Let me look.", tool_calls=[call]))
    client = anthropic_sync(fake)

    message = client.messages.create(model="claude-haiku-4-5", max_tokens=512, messages=MESSAGES)
    assert message.stop_reason == "tool_use"
    assert [block.type for block in message.content] == ["text", "tool_use"]
    assert (message.content[1].id, message.content[1].input) == ("toolu_01Spend", {"days": 30})

    with client.messages.stream(model="claude-haiku-4-5", max_tokens=512, messages=MESSAGES) as stream:
        streamed = stream.get_final_message()
    assert streamed.stop_reason == "tool_use" and streamed.content[1].input == {"days": 30}


def test_script_runs_in_order_then_the_default(fake):
    fake.queue("first answer", Reply.calling(ToolCall("get_spend")), Reply(text="third", model="gpt-4o-2024-08-06"))
    assert fake.pending == 3
    client = openai_sync(fake)
    answers = [client.chat.completions.create(model="gpt-4o", messages=MESSAGES) for _ in range(4)]

    assert answers[0].choices[0].message.content == "first answer"
    assert answers[1].choices[0].message.tool_calls[0].function.name == "get_spend"
    assert (answers[2].choices[0].message.content, answers[2].model) == ("third", "gpt-4o-2024-08-06")
    assert (answers[3].choices[0].message.content, answers[3].model) == (TEXT, "gpt-4o")
    assert fake.pending == 0 and len(fake.requests_to("/chat/completions")) == 4


def test_unknown_paths_answer_404_in_each_providers_shape(fake):
    openai_error = httpx.post(f"{fake.openai_url}/assistants", json={}, timeout=5)
    anthropic_error = httpx.post(f"{fake.anthropic_url}/v1/complete", json={}, timeout=5)
    assert openai_error.status_code == 404 and set(openai_error.json()["error"]) == {"message", "type", "param", "code"}
    assert anthropic_error.status_code == 404
    assert anthropic_error.json()["type"] == "error" and anthropic_error.json()["error"]["type"] == "not_found_error"
