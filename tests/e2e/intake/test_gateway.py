"""The gateway with the official openai and anthropic SDKs as clients and the fake providers as upstream."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price

from tests.support.fake_providers import Reply, ToolCall, Usage
from tests.support.server import RunningServer, free_port

from .conftest import Org, sign_up, stored_rows

PROVIDER_KEY = "sk-test-provider-key-never-stored"
ANTHROPIC_KEY = "sk-ant-test-provider-key-never-stored"
SYSTEM = "You are the billing assistant of Example Corp. Answer in one sentence."
TOOLS = [{"type": "function", "function": {"name": "get_invoice", "description": "Fetch an invoice",
                                           "parameters": {"type": "object", "properties": {"id": {"type": "string"}}}}}]


def recording_transport(http: ModuleType) -> Any:
    """A transport for `http` (httpx for openai, httpx2 for anthropic) that keeps every response body exactly as
    the SDK read it, in `.bodies`."""

    class Recording(http.BaseTransport):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            self.inner = http.HTTPTransport()
            self.bodies: list[bytearray] = []

        def handle_request(self, request: Any) -> Any:
            response = self.inner.handle_request(request)
            record = bytearray()
            self.bodies.append(record)
            stream = response.stream

            class Recorded(http.SyncByteStream):  # type: ignore[name-defined,misc]
                def __iter__(self):
                    for chunk in stream:
                        record.extend(chunk)
                        yield chunk

                def close(self) -> None:
                    stream.close()

            return http.Response(response.status_code, headers=response.headers, stream=Recorded(),
                                 extensions=response.extensions)

    return Recording()


def attribution(org: Org) -> dict[str, str]:
    return {"x-spendpilot-key": org.key, "x-spendpilot-feature": "billing-assistant",
            "x-spendpilot-user": "customer-7", "x-spendpilot-tags": "team=payments, env=prod"}


def openai_client(server, org: Org, transport: Any = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/gateway/openai/v1", api_key=PROVIDER_KEY, max_retries=0,
                         default_headers=attribution(org),
                         http_client=httpx.Client(transport=transport or recording_transport(httpx)))


def anthropic_client(server, org: Org, transport: Any = None) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=f"{server.url}/gateway/anthropic", api_key=ANTHROPIC_KEY, max_retries=0,
                               default_headers=attribution(org),
                               http_client=httpx2.Client(transport=transport or recording_transport(httpx2)))


def price(model: str, provider: str, inputs: int, output: int, cached: int = 0, written: int = 0) -> float:
    usage = PriceUsage(input_tokens=inputs, output_tokens=output, cache_read_tokens=cached,
                       cache_write_tokens=written)
    return float(calc_price(usage, model, provider_id=provider).total_price)


def test_openai_chat_passes_through_unchanged_and_is_stored_with_its_usage(server, standin, upstreams, org):
    upstreams.fake.configure(usage=Usage(input_tokens=1800, output_tokens=95, cached_tokens=1024))
    recording = recording_transport(httpx)
    client = openai_client(server, org, recording)
    completion = client.chat.completions.create(
        model="gpt-4o-mini", max_tokens=300, tools=TOOLS,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "What is invoice 7 about?"}])

    sent = upstreams.openai.last
    assert bytes(recording.bodies[-1]) == bytes(sent.body)  # byte for byte what the upstream sent
    assert completion.choices[0].message.content == upstreams.fake.default.text
    arrived = upstreams.fake.last_request
    assert arrived.headers["authorization"] == f"Bearer {PROVIDER_KEY}"
    assert not [name for name in arrived.headers if name.startswith("x-spendpilot")]
    assert arrived.raw_body == sent.request_body  # the request body too, unchanged

    [row] = stored_rows(standin, org.org_id)
    assert (row["provider"], row["model"], row["status"]) == ("openai", "gpt-4o-mini", "ok")
    assert (row["input_tokens"], row["output_tokens"], row["cached_input_tokens"]) == (1800, 95, 1024)
    assert (row["feature"], row["user"], row["tags"]) == ("billing-assistant", "customer-7",
                                                          {"team": "payments", "env": "prod"})
    assert row["max_tokens"] == 300 and row["api_key_id"] == org.key_id
    assert row["cost_usd"] == pytest.approx(price("gpt-4o-mini", "openai", 1800, 95, cached=1024), abs=1e-12)
    # The cacheable prefix (system message and tools) is known by hash and size only.
    assert len(row["prompt_prefix_hash"]) == 32 and row["prompt_prefix_tokens"] > 0
    assert row["source_id"].startswith("gateway:")


def test_same_prefix_same_hash_whatever_the_question(server, standin, upstreams, org):
    client = openai_client(server, org)
    for question in ("first question", "a different one"):
        client.chat.completions.create(model="gpt-4o-mini", tools=TOOLS, messages=[
            {"role": "system", "content": SYSTEM}, {"role": "user", "content": question}])
    client.chat.completions.create(model="gpt-4o-mini", messages=[
        {"role": "system", "content": "Another system prompt"}, {"role": "user", "content": "first question"}])
    rows = stored_rows(standin, org.org_id)
    assert len({r["prompt_prefix_hash"] for r in rows[:2]}) == 1
    assert rows[2]["prompt_prefix_hash"] != rows[0]["prompt_prefix_hash"]
    assert len({r["prompt_hash"] for r in rows}) == 3


def test_openai_stream_relays_every_chunk_and_keeps_the_usage_chunk_it_asked_for(server, standin, upstreams, org):
    upstreams.fake.configure(usage=Usage(input_tokens=640, output_tokens=33, cached_tokens=0))
    recording = recording_transport(httpx)
    client = openai_client(server, org, recording)
    stream = client.chat.completions.create(model="gpt-4o", stream=True,
                                            messages=[{"role": "user", "content": "Stream it"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == upstreams.fake.default.text
    # The client did not ask for usage, so it gets no usage chunk; the gateway asked the upstream for one.
    assert all(c.usage is None and c.choices for c in chunks)
    assert upstreams.fake.last_request.body["stream_options"] == {"include_usage": True}
    sent = bytes(upstreams.openai.last.body).split(b"\n\n")
    got = bytes(recording.bodies[-1]).split(b"\n\n")
    dropped = [event for event in sent if event not in got]
    assert len(dropped) == 1 and b'"usage":{"prompt_tokens":640' in dropped[0] and b'"choices":[]' in dropped[0]
    assert [event for event in sent if event in got] == got
    [row] = stored_rows(standin, org.org_id)
    assert (row["model"], row["input_tokens"], row["output_tokens"], row["status"]) == ("gpt-4o", 640, 33, "ok")
    assert row["cost_usd"] == pytest.approx(price("gpt-4o", "openai", 640, 33), abs=1e-12)


def test_openai_stream_that_asked_for_usage_gets_exactly_the_upstream_bytes(server, standin, upstreams, org):
    upstreams.fake.queue(Reply.calling(ToolCall("get_invoice", {"id": "inv_7"}),
                                       usage=Usage(input_tokens=900, output_tokens=12, cached_tokens=256)))
    recording = recording_transport(httpx)
    client = openai_client(server, org, recording)
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", stream=True, tools=TOOLS,
                                                 stream_options={"include_usage": True},
                                                 messages=[{"role": "user", "content": "Invoice 7?"}]))
    assert bytes(recording.bodies[-1]) == bytes(upstreams.openai.last.body)
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 900
    arguments = "".join(tc.function.arguments or "" for c in chunks if c.choices
                        for tc in (c.choices[0].delta.tool_calls or []))
    assert arguments == '{"id":"inv_7"}'
    [row] = stored_rows(standin, org.org_id)
    assert (row["input_tokens"], row["cached_input_tokens"], row["output_tokens"]) == (900, 256, 12)


def test_openai_responses_and_embeddings_are_metered(server, standin, upstreams, org):
    upstreams.fake.configure(usage=Usage(input_tokens=300, output_tokens=20, cached_tokens=100))
    client = openai_client(server, org)
    response = client.responses.create(model="gpt-4o-mini", instructions=SYSTEM, input="Hello",
                                       max_output_tokens=64)
    assert response.output_text == upstreams.fake.default.text
    with client.responses.stream(model="gpt-4o-mini", input="Hello again") as stream:
        streamed = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
    assert streamed == upstreams.fake.default.text
    vectors = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(vectors.data) == 2
    rows = stored_rows(standin, org.org_id)
    assert [(r["model"], r["input_tokens"], r["output_tokens"]) for r in rows] == [
        ("gpt-4o-mini", 300, 20), ("gpt-4o-mini", 300, 20), ("text-embedding-3-small", 300, 0)]
    assert rows[0]["max_tokens"] == 64 and rows[0]["prompt_prefix_tokens"] > 0


def test_anthropic_messages_whole_and_streamed(server, standin, upstreams, org):
    upstreams.fake.configure(usage=Usage(input_tokens=120, output_tokens=85, cached_tokens=2048,
                                         cache_write_tokens=512))
    recording = recording_transport(httpx2)
    client = anthropic_client(server, org, recording)
    message = client.messages.create(model="claude-sonnet-4-6", max_tokens=400, system=SYSTEM,
                                     messages=[{"role": "user", "content": "Invoice 7?"}])
    assert message.content[0].text == upstreams.fake.default.text  # type: ignore[union-attr]
    assert bytes(recording.bodies[-1]) == bytes(upstreams.anthropic.last.body)
    arrived = upstreams.fake.last_request.headers  # the provider key, in whichever header this SDK version uses
    assert ANTHROPIC_KEY in (arrived.get("x-api-key"), arrived.get("authorization", "").removeprefix("Bearer "))
    with client.messages.stream(model="claude-haiku-4-5-20251001", max_tokens=400,
                                messages=[{"role": "user", "content": "Stream it"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == upstreams.fake.default.text and final.usage.output_tokens == 85
    assert bytes(recording.bodies[-1]) == bytes(upstreams.anthropic.last.body)

    whole, streamed = stored_rows(standin, org.org_id)
    for row, model in ((whole, "claude-sonnet-4-6"), (streamed, "claude-haiku-4-5-20251001")):
        assert (row["provider"], row["model"], row["status"]) == ("anthropic", model, "ok")
        # Anthropic counts cache reads and writes beside input_tokens; the row counts every input token.
        assert (row["input_tokens"], row["cached_input_tokens"], row["cache_write_tokens"]) == (2680, 2048, 512)
        assert row["output_tokens"] == 85 and row["user"] == "customer-7"
        assert row["cost_usd"] == pytest.approx(price(model, "anthropic", 2680, 85, cached=2048, written=512),
                                                abs=1e-12)
    assert whole["max_tokens"] == 400 and whole["prompt_prefix_tokens"] > 0 and streamed["prompt_prefix_tokens"] == 0


def test_upstream_errors_reach_the_sdk_in_the_providers_shape_and_rate_limits_are_recorded(
        server, standin, upstreams, org):
    upstreams.fake.queue_variant(mode="status", status=429, retry_after="1")
    with pytest.raises(openai.RateLimitError) as raised:
        openai_client(server, org).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert raised.value.response.headers["retry-after"] == "1"
    assert raised.value.code == "rate_limit_exceeded"
    upstreams.fake.queue_variant(mode="status", status=400)
    with pytest.raises(anthropic.BadRequestError):
        anthropic_client(server, org).messages.create(model="claude-haiku-4-5-20251001", max_tokens=10,
                                                      messages=[{"role": "user", "content": "x"}])
    # The 429 is a failed call worth counting; the 400 was the client's own mistake and billed nothing.
    [row] = stored_rows(standin, org.org_id)
    assert (row["model"], row["status"], row["input_tokens"], row["cost_usd"]) == ("gpt-4o", "rate_limited", 0, 0)


def test_without_a_spendpilot_key_the_gateway_refuses_and_forwards_nothing(server, standin, upstreams):
    before = len(upstreams.fake.requests)
    client = openai.OpenAI(base_url=f"{server.url}/gateway/openai/v1", api_key=PROVIDER_KEY, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert raised.value.code == "missing_api_key"
    # The provider's key in Authorization is never taken for a Spendpilot key.
    claude = anthropic.Anthropic(base_url=f"{server.url}/gateway/anthropic", api_key="sp_" + "y" * 43,
                                 max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as refused:
        claude.messages.create(model="claude-haiku-4-5-20251001", max_tokens=5,
                               messages=[{"role": "user", "content": "x"}])
    assert refused.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    assert len(upstreams.fake.requests) == before


def test_other_paths_pass_through_without_a_row(server, standin, upstreams, org):
    models = openai_client(server, org).models.list()
    assert [m.id for m in models.data] == upstreams.fake.openai_models
    assert stored_rows(standin, org.org_id) == []


def test_a_dead_upstream_is_a_502_in_each_providers_shape(tmp_path, unreachable_upstream_url):
    env = {"SPENDPILOT_SEED_DEMO": "0", "SPENDPILOT_GATEWAY_OPENAI_URL": unreachable_upstream_url + "/v1",
           "SPENDPILOT_GATEWAY_ANTHROPIC_URL": unreachable_upstream_url}
    server = RunningServer(tmp_path / "dead-upstream", free_port(), env=env).start()
    try:
        org = sign_up(server.url)
        with pytest.raises(openai.InternalServerError) as raised:
            openai_client(server, org).chat.completions.create(model="gpt-4o",
                                                               messages=[{"role": "user", "content": "x"}])
        assert raised.value.status_code == 502 and raised.value.code == "upstream_unreachable"
        with pytest.raises(anthropic.InternalServerError) as refused:
            anthropic_client(server, org).messages.create(model="claude-haiku-4-5-20251001", max_tokens=5,
                                                          messages=[{"role": "user", "content": "x"}])
        assert refused.value.status_code == 502
        assert refused.value.body["type"] == "error"  # type: ignore[index]
        assert refused.value.body["error"]["type"] == "api_error"  # type: ignore[index]
        log = server.log_text()
        assert PROVIDER_KEY not in log and ANTHROPIC_KEY not in log and org.key not in log
    finally:
        server.stop()
