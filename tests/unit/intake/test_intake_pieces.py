"""The intake's small parts on their own: SSE cutting, usage meters, key format, log scrubbing, start-up rules."""

from __future__ import annotations

import pytest

from spendpilot.auth.api_keys import generate_key, hash_key, looks_like_key
from spendpilot.auth.permissions import key_allowed
from spendpilot.config import Settings
from spendpilot.intake.provider_usage import AnthropicMeter, OpenAIMeter, anthropic_facts, openai_facts
from spendpilot.intake.sse import SseSplitter, parse_event
from spendpilot.logs import _scrub
from spendpilot.server.preflight import problems


def test_events_are_cut_where_they_end_whatever_the_chunking():
    stream = b'event: a\ndata: {"x":1}\n\ndata: [DONE]\r\n\r\ndata: tail'
    for size in (1, 3, 7, len(stream)):
        splitter = SseSplitter()
        events = [e for i in range(0, len(stream), size) for e in splitter.feed(stream[i:i + size])]
        assert events == [b'event: a\ndata: {"x":1}\n\n', b"data: [DONE]\r\n\r\n"]
        assert splitter.rest() == b"data: tail"
    assert parse_event(b'event: message_delta\ndata: {"a":\ndata: 1}\n\n') == ("message_delta", '{"a":\n1}')


def test_anthropic_stream_counts_cache_beside_input_and_takes_the_last_totals():
    meter = AnthropicMeter()
    start = ('{"type":"message_start","message":{"model":"claude-haiku-4-5","usage":{"input_tokens":10,'
             '"cache_read_input_tokens":300,"cache_creation_input_tokens":50,"output_tokens":1}}}')
    assert meter.event("message_start", start) == "forward"
    assert meter.event("message_delta", '{"type":"message_delta","usage":{"output_tokens":42}}') == "forward"
    assert meter.event("message_stop", '{"type":"message_stop"}') == "hold"
    usage = meter.usage
    assert (usage.model, usage.input_tokens, usage.cached_tokens, usage.cache_write_tokens, usage.output_tokens,
            usage.complete) == ("claude-haiku-4-5", 360, 300, 50, 42, True)


def test_openai_meter_drops_only_the_usage_chunk_it_asked_for():
    asked = OpenAIMeter(drop_usage_chunk=True)
    usage_chunk = '{"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}'
    assert asked.event(None, '{"model":"gpt-4o","choices":[{"delta":{"content":"hi"}}],"usage":null}') == "forward"
    assert asked.event(None, usage_chunk) == "drop"
    assert asked.event(None, "[DONE]") == "hold"
    assert (asked.usage.input_tokens, asked.usage.output_tokens) == (5, 2)
    assert OpenAIMeter().event(None, usage_chunk) == "forward"


def test_request_facts_hash_the_fixed_prefix_not_the_question():
    first = openai_facts({"model": "gpt-4o", "max_completion_tokens": 50, "user": "u1", "messages": [
        {"role": "developer", "content": "Be brief."}, {"role": "user", "content": "one"}]})
    second = openai_facts({"model": "gpt-4o", "messages": [
        {"role": "developer", "content": "Be brief."}, {"role": "user", "content": "two"}]})
    assert first.prefix_hash == second.prefix_hash and first.prompt_hash != second.prompt_hash
    assert (first.max_tokens, first.user, first.prefix_tokens > 0) == (50, "u1", True)
    bare = openai_facts({"model": "gpt-4o", "messages": [{"role": "user", "content": "one"}]})
    assert (bare.prefix_hash, bare.prefix_tokens) == ("", 0)
    claude = anthropic_facts({"model": "claude", "system": [{"type": "text", "text": "Be brief."}],
                              "metadata": {"user_id": "u9"}, "max_tokens": 10, "messages": []})
    assert (claude.user, claude.max_tokens, len(claude.prefix_hash)) == ("u9", 10, 32)


def test_keys_are_long_random_url_safe_and_hashed():
    keys = {generate_key() for _ in range(100)}
    assert len(keys) == 100 and all(looks_like_key(k) and len(k) >= 35 for k in keys)
    assert not looks_like_key("sp_short") and not looks_like_key("eyJhbGciOi.jwt.token")
    key = next(iter(keys))
    assert len(hash_key(key)) == 64 and key not in hash_key(key)
    assert key_allowed({"ingest"}, "usage.ingest") and not key_allowed({"read"}, "usage.ingest")
    assert key_allowed({"read"}, "usage.read") and not key_allowed({"ingest"}, "usage.read")


def test_keys_never_reach_a_log_line():
    line = _scrub("upstream said: invalid key sk-ant-api03-AbCdEfGhIjKlMnOpQr, ours sp_" + "Z" * 43)
    assert "sk-ant" not in line and "sp_Z" not in line and line.count("[redacted-key]") == 2


@pytest.mark.parametrize(("url", "refused"), [("http://llm-proxy.internal:8080/v1", True),
                                              ("https://llm-proxy.internal/v1", False),
                                              ("http://127.0.0.1:4000/v1", False)])
def test_production_refuses_a_plain_http_gateway_upstream(url, refused):
    found = problems(Settings(env="production", gateway_openai_url=url))
    assert any("SPENDPILOT_GATEWAY_OPENAI_URL" in p for p in found) is refused
