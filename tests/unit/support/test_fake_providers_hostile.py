"""Each hostile mode of the fake providers, as pydantic-ai, the SDKs and a raw HTTP client observe it."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest
from anthropic import Anthropic, OverloadedError, RateLimitError
from openai import AsyncOpenAI, OpenAI
from pydantic_ai import Agent
from pydantic_ai.exceptions import ModelAPIError, ModelConnectionError, ModelHTTPError
from pydantic_ai.messages import ModelResponse
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.profiles.openai import OpenAIModelProfile
from pydantic_ai.providers.openai_compatible import OpenAICompatibleProvider

from tests.support.fake_providers import FakeProviders, Usage

TEXT = "Your spend rose 18% to $4,210.55 because gpt-4o replaced gpt-4o-mini in the triage feature."
MESSAGES = [{"role": "user", "content": "Why did spend rise?"}]


@pytest.fixture
def fake(fake_providers: FakeProviders) -> FakeProviders:
    fake_providers.configure(text=TEXT, usage=Usage(input_tokens=2011, output_tokens=64, cached_tokens=1024))
    return fake_providers


async def stream_through_pydantic_ai(fake: FakeProviders, profile: OpenAIModelProfile | None = None
                                     ) -> tuple[str, ModelResponse]:
    """Stream one answer the way Spendpilot's openai-compatible setting does: OpenAIChatModel over AsyncOpenAI."""
    client = AsyncOpenAI(api_key="not-needed", base_url=fake.openai_url, max_retries=0, timeout=10)
    provider = OpenAICompatibleProvider("openai-compatible", openai_client=client)
    agent = Agent(OpenAIChatModel("llama3.1", provider=provider, profile=profile))
    try:
        async with agent.run_stream("Why did spend rise?") as result:
            text = "".join([delta async for delta in result.stream_text(delta=True)])
            return text, result.response
    finally:
        await client.close()


async def test_pydantic_ai_streams_text_and_usage(fake):
    text, response = await stream_through_pydantic_ai(fake)
    assert text == TEXT
    assert response.finish_reason == "stop" and response.provider_details["finish_reason"] == "stop"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (2011, 64)
    assert response.usage.cache_read_tokens == 1024
    assert fake.last_request.body["stream"] is True
    assert fake.last_request.body["stream_options"] == {"include_usage": True}


async def test_pydantic_ai_on_a_cut_stream(fake):
    """A stream that ends mid-sentence, cleanly, with no finish_reason, no usage chunk and no [DONE]."""
    fake.queue_variant(mode="cut")
    text, response = await stream_through_pydantic_ai(fake)
    assert TEXT.startswith(text) and 0 < len(text) < len(TEXT)
    # pydantic-ai fills in "stop" for a stream without a finish reason; only the raw details tell them apart.
    assert response.finish_reason == "stop"
    assert "finish_reason" not in (response.provider_details or {})
    assert response.usage.input_tokens == 0 and response.usage.output_tokens == 0


async def test_pydantic_ai_refuses_a_cut_stream_when_the_profile_requires_a_finish_reason(fake):
    fake.queue_variant(mode="cut")
    with pytest.raises(ModelAPIError, match="without a `finish_reason`"):
        await stream_through_pydantic_ai(fake, OpenAIModelProfile(openai_chat_streaming_requires_finish_reason=True))


async def test_pydantic_ai_on_length(fake):
    fake.queue_variant(mode="length")
    text, response = await stream_through_pydantic_ai(fake)
    assert text == TEXT and response.finish_reason == "length"


async def test_pydantic_ai_on_a_malformed_chunk(fake):
    fake.queue_variant(mode="malformed")
    with pytest.raises(ModelAPIError, match="JSON"):
        await stream_through_pydantic_ai(fake)


async def test_pydantic_ai_on_a_dropped_connection(fake):
    fake.queue_variant(mode="drop")
    with pytest.raises(ModelConnectionError):
        await stream_through_pydantic_ai(fake)


@pytest.mark.parametrize("status", [429, 500])
async def test_pydantic_ai_on_an_http_error(fake, status):
    fake.queue_variant(mode="status", status=status, retry_after="7")
    with pytest.raises(ModelHTTPError) as caught:
        await stream_through_pydantic_ai(fake)
    assert caught.value.status_code == status
    assert set(caught.value.body) == {"message", "type", "param", "code"}


def test_cut_and_malformed_streams_on_the_wire(fake):
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
    fake.queue_variant(mode="cut")
    cut = httpx.post(f"{fake.openai_url}/chat/completions", json=body, timeout=10).text
    assert "[DONE]" not in cut and '"finish_reason":"stop"' not in cut
    assert cut.endswith("\n\n")  # the stream ends between events, mid-sentence
    fake.queue_variant(mode="malformed")
    lines = [line for line in httpx.post(f"{fake.openai_url}/chat/completions", json=body, timeout=10).text.split("\n")
             if line.startswith("data: {")]
    broken = []
    for line in lines:
        try:
            json.loads(line[6:])
        except ValueError:
            broken.append(line)
    assert len(broken) == 1 and lines[-1] != broken[0]  # one bad chunk, then the stream carries on


def test_slow_delays_the_first_byte_and_a_client_timeout_fires(fake):
    fake.queue_variant(mode="slow", slow_s=0.6)
    started = time.monotonic()
    with httpx.stream("POST", f"{fake.openai_url}/chat/completions", json={"messages": MESSAGES}, timeout=5) as answer:
        waited = time.monotonic() - started
        assert answer.status_code == 200 and answer.read()
    assert waited >= 0.55
    fake.queue_variant(mode="slow", slow_s=30)
    client = OpenAI(api_key="k", base_url=fake.openai_url, max_retries=0, timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


def test_chunk_delay_paces_the_stream(fake):
    fake.configure(chunks=["one ", "two ", "three"], chunk_delay_s=0.15)
    client = OpenAI(api_key="k", base_url=fake.openai_url, max_retries=0, timeout=10)
    started = time.monotonic()
    chunks = list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    # Five chunks (role, three pieces, finish) with a pause between each: a lower bound, safe on a busy machine.
    assert len(chunks) == 5 and time.monotonic() - started >= 0.15 * 4


def test_stop_does_not_wait_for_a_slow_answer(fake):
    fake.queue_variant(mode="slow", slow_s=60)
    client = OpenAI(api_key="k", base_url=fake.openai_url, max_retries=0, timeout=0.2)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="m", messages=MESSAGES)
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 5


def test_openai_sdk_retries_a_429_after_retry_after(fake):
    fake.queue_variant(mode="status", status=429, retry_after="0.2")
    client = OpenAI(api_key="k", base_url=fake.openai_url, max_retries=1, timeout=10)
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.choices[0].message.content == TEXT
    assert len(fake.requests) == 2 and fake.requests[1].headers["x-stainless-retry-count"] == "1"


def test_openai_sdk_on_whole_bodies_that_break(fake):
    client = OpenAI(api_key="k", base_url=fake.openai_url, max_retries=0, timeout=10)
    for mode in ("cut", "malformed"):
        fake.queue_variant(mode=mode)
        with pytest.raises(json.JSONDecodeError):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    fake.queue_variant(mode="drop")
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    fake.queue_variant(mode="length")
    assert client.chat.completions.create(model="m", messages=MESSAGES).choices[0].finish_reason == "length"


def test_openai_responses_cut_and_length(fake):
    client = OpenAI(api_key="k", base_url=fake.openai_url, max_retries=0, timeout=10)
    fake.queue_variant(mode="cut")
    events = list(client.responses.create(model="gpt-4.1", input="spend?", stream=True))
    assert events[0].type == "response.created" and events[-1].type == "response.output_text.delta"
    fake.queue_variant(mode="length")
    last = list(client.responses.create(model="gpt-4.1", input="spend?", stream=True))[-1]
    assert last.type == "response.incomplete" and last.response.incomplete_details.reason == "max_output_tokens"


def test_anthropic_sdk_on_each_mode(fake):
    client = Anthropic(api_key="sk-ant", base_url=fake.anthropic_url, max_retries=0, timeout=10)

    def stream_once():
        with client.messages.stream(model="claude-haiku-4-5", max_tokens=256, messages=MESSAGES) as stream:
            return "".join(stream.text_stream), stream.get_final_message()

    fake.queue_variant(mode="cut")
    text, message = stream_once()
    assert TEXT.startswith(text) and len(text) < len(TEXT) and message.stop_reason is None
    fake.queue_variant(mode="length")
    assert stream_once()[1].stop_reason == "max_tokens"
    fake.queue_variant(mode="malformed")
    with pytest.raises(json.JSONDecodeError):
        stream_once()
    fake.queue_variant(mode="drop")
    # The SDK lets its HTTP client's error through unwrapped (httpx2.RemoteProtocolError in anthropic 2.x).
    with pytest.raises(Exception) as dropped:
        stream_once()
    assert type(dropped.value).__name__ == "RemoteProtocolError"
    fake.queue_variant(mode="status", status=529)
    with pytest.raises(OverloadedError):
        stream_once()
    fake.queue_variant(mode="status", status=429, retry_after="3")
    with pytest.raises(RateLimitError) as caught:
        client.messages.create(model="claude-haiku-4-5", max_tokens=256, messages=MESSAGES)
    assert caught.value.response.headers["retry-after"] == "3"
    assert caught.value.body["error"]["type"] == "rate_limit_error"


def test_health_probe_follows_the_default_not_the_script(fake):
    client = OpenAI(api_key="k", base_url=fake.openai_url, max_retries=0, timeout=10)
    fake.queue_variant(mode="status", status=500)
    assert list(client.models.list())  # the probe leaves the scripted failure for the next POST
    assert fake.pending == 1
    fake.configure(mode="status", status=503)
    with pytest.raises(openai.InternalServerError):
        client.models.list()


def test_stopped_fake_and_unreachable_url_refuse_connections(fake, unreachable_upstream_url):
    fake.stop()
    for base_url in (fake.openai_url, f"{unreachable_upstream_url}/v1"):
        client = OpenAI(api_key="k", base_url=base_url, max_retries=0, timeout=5)
        with pytest.raises(openai.APIConnectionError):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{fake.anthropic_url}/v1/models", timeout=5)


def test_settings_helpers_point_spendpilot_at_the_fake(fake, tmp_path):
    from spendpilot.agents.providers import parse_llm_setting
    from spendpilot.config import Settings

    choice = parse_llm_setting(Settings(llm=fake.llm_setting("qwen3"), data_dir=tmp_path))
    assert (choice.provider.name, choice.model, choice.base_url) == ("openai-compatible", "qwen3", fake.openai_url)
    env = fake.gateway_env()
    assert env["SPENDPILOT_GATEWAY_OPENAI_URL"].endswith("/v1")
    assert not env["SPENDPILOT_GATEWAY_ANTHROPIC_URL"].endswith("/v1")
