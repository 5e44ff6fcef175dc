"""Fuzzing every import format through POST /api/usage/import on a real server: never a 5xx, always the
JSON result or a JSON 4xx error; rows that are refused are reported, never silently dropped."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendpilot.analytics.importers import FORMATS
from tests.security.conftest import bearer, new_user

GENERIC = ["ts", "org_id", "user", "provider", "model", "feature", "input_tokens", "output_tokens",
           "cached_input_tokens", "latency_ms", "status", "is_batch", "prompt_hash", "prompt_prefix_hash",
           "prompt_prefix_tokens", "max_tokens", "cost_usd", "timestamp", "Model", " ts "]
OPENAI = ["start_time", "model", "input_tokens", "output_tokens", "input_cached_tokens", "num_model_requests",
          "project_id", "user_id", "api_key_id", "batch"]
ANTHROPIC = ["model", "uncached_input_tokens", "cache_read_input_tokens", "output_tokens", "service_tier",
             "workspace_id", "api_key_id", "cache_creation"]
OTLP_KEYS = ["gen_ai.request.model", "gen_ai.response.model", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
             "gen_ai.provider.name", "gen_ai.system", "gen_ai.request.max_tokens", "spendpilot.is_batch",
             "gen_ai.usage.cache_read.input_tokens", "enduser.id", "error.type", "spendpilot.prompt_prefix_tokens"]

BIG_NUMBERS = ["1E20", "18446744073709551616", "1e400", "inf", "-inf", "Infinity"]
cells = (st.sampled_from(["", "0", "-1", "NaN", "true", "no", "2026-11-01T10:00:00Z", "2026-02-30", "1.5e3",
                          "1970-01-01", "9999-12-31T23:59:59Z", "gpt-4o", "claude-3-5-sonnet", "4611686018427387903",
                          "1.5", "  12 ", "\"quoted\"", "a,b", "line\nbreak", "null", "-0", "0x10", "1_000",
                          *BIG_NUMBERS])
         | st.text(max_size=30) | st.integers(-(2**70), 2**70).map(str)
         | st.floats(allow_nan=True, allow_infinity=True).map(str))
json_scalar = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
               | st.text(max_size=30) | cells)
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=10), inner, max_size=3), max_leaves=8)


@st.composite
def csv_files(draw) -> bytes:
    header = draw(st.lists(st.sampled_from(GENERIC + OPENAI) | st.text(max_size=10), min_size=1, max_size=10))
    if draw(st.booleans()):
        header = ["ts", "model", *header]
    rows = draw(st.lists(st.lists(cells, min_size=0, max_size=len(header) + 2), max_size=12))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    text = out.getvalue()
    if draw(st.booleans()):
        text = "\ufeff" + text
    return text.encode("utf-8", errors="surrogatepass")


@st.composite
def jsonl_files(draw) -> bytes:
    keys = st.sampled_from(GENERIC) | st.text(max_size=8)
    records = draw(st.lists(st.dictionaries(keys, json_value, max_size=8), min_size=1, max_size=10))
    if draw(st.booleans()):
        records[0] = {"ts": "2026-11-01T10:00:00Z", "model": "gpt-4o-mini", **records[0]}
    lines = [json.dumps(r) for r in records]
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(["{", "[]", "nonsense", "", "null", "1"])))
    return "\n".join(lines).encode()


def _usage_pages(record_keys: list[str], draw) -> dict:
    record = st.dictionaries(st.sampled_from(record_keys) | st.text(max_size=8), json_value, max_size=8)
    bucket = st.fixed_dictionaries({"start_time": json_value, "starting_at": json_value,
                                    "results": st.lists(record, max_size=4) | json_value})
    return {"object": "page", "data": draw(st.lists(bucket, max_size=4) | json_value), "has_more": False}


@st.composite
def openai_files(draw) -> bytes:
    page = _usage_pages(OPENAI, draw)
    page["object"] = draw(st.sampled_from(["page", "organization.usage.completions.result"]))
    page["num_model_requests"] = 1
    return json.dumps(page).encode()


@st.composite
def anthropic_files(draw) -> bytes:
    page = _usage_pages(ANTHROPIC, draw)
    page["uncached_input_tokens"] = 0  # a detection hint at the top level
    return json.dumps(page).encode()


@st.composite
def otlp_files(draw) -> bytes:
    value = st.one_of(st.builds(lambda v: {"stringValue": v}, json_value),
                      st.builds(lambda v: {"intValue": v}, json_value),
                      st.builds(lambda v: {"doubleValue": v}, json_value),
                      st.builds(lambda v: {"boolValue": v}, json_value),
                      st.builds(lambda v: {"arrayValue": v}, json_value), json_value)
    attribute = st.fixed_dictionaries({"key": st.sampled_from(OTLP_KEYS) | st.text(max_size=10), "value": value})
    span = st.fixed_dictionaries({"name": st.text(max_size=10), "startTimeUnixNano": json_value,
                                  "endTimeUnixNano": json_value,
                                  "attributes": st.lists(attribute, max_size=8) | json_value,
                                  "status": st.dictionaries(st.sampled_from(["code", "message"]), json_value)})
    doc = {"resourceSpans": draw(st.lists(st.fixed_dictionaries({
        "resource": st.fixed_dictionaries({"attributes": st.lists(attribute, max_size=3)}) | json_value,
        "scopeSpans": st.lists(st.fixed_dictionaries({"spans": st.lists(span, max_size=4) | json_value}), max_size=3)
        | json_value}) | json_value, max_size=3) | json_value)}
    return json.dumps(doc).encode()


anything = st.binary(max_size=400) | st.text(max_size=400).map(lambda t: t.encode("utf-8", "surrogatepass"))
FAMILIES = {"generic-csv": csv_files(), "generic-jsonl": jsonl_files(), "openai": openai_files(),
            "anthropic": anthropic_files(), "otlp": otlp_files(), "any-bytes": anything}
forced = st.sampled_from([None, None, None, *(f.name for f in FORMATS)])
names = st.sampled_from(["usage.csv", "usage.jsonl", "usage.json", "export", "../../etc/passwd", "ü.csv", ""])


@pytest.fixture(scope="module")
def importer(security_server):
    session = asyncio.run(new_user(security_server.url))
    with httpx.Client(base_url=security_server.url, headers=bearer(session["access_token"]), timeout=60) as http:
        yield http


def _post(importer, content: bytes, format: str | None = None, filename: str = "f") -> httpx.Response:
    params = {"format": format} if format else {}
    return importer.post("/api/usage/import", params=params, files={"file": (filename, content)})


@pytest.mark.parametrize("family", list(FAMILIES))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_no_import_ever_answers_5xx(importer, family, data):
    content = data.draw(FAMILIES[family], label="content")
    response = _post(importer, content, data.draw(forced, label="format"), data.draw(names, label="filename"))
    assert response.status_code < 500, (response.status_code, response.text, content[:300])
    body = response.json()
    if response.status_code == 200:
        assert body["format"] in {f.name for f in FORMATS}
        assert body["imported"] >= 0 and body["duplicates"] >= 0
        for rejected in body["rejected"]:
            assert isinstance(rejected["line"], int) and rejected["reason"]
    else:
        assert body["error"]["code"] and body["error"]["message"]


def test_otlp_with_containers_of_the_wrong_type(importer):
    docs = ({"resourceSpans": [1]}, {"resourceSpans": [{"scopeSpans": {"a": 1}}]},
            {"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [
                {"key": "gen_ai.request.model", "value": {"arrayValue": "x"}}]}]}]}]})
    statuses = [_post(importer, json.dumps(doc).encode()).status_code for doc in docs]
    assert all(status < 500 for status in statuses), statuses


@pytest.mark.parametrize("value", BIG_NUMBERS)
def test_counts_past_64_bits_or_infinite_are_rejected_rows(importer, value):
    csv_body = f"ts,model,input_tokens\n2026-11-01T10:00:00Z,gpt-4o,{value}\n".encode()
    jsonl_body = json.dumps({"ts": "2026-11-01T10:00:00Z", "model": "gpt-4o", "input_tokens": 2**70}).encode()
    for body in (csv_body, jsonl_body):
        response = _post(importer, body)
        assert response.status_code == 200, response.text
        assert response.json()["rejected"] and response.json()["imported"] == 0


def test_a_bare_carriage_return_in_the_header(importer):
    assert _post(importer, b"A,\x18<\r\xcc\n1,2\n").status_code == 400
    body = _post(importer, b"ts,model\n2026-11-01T10:00:00Z,gpt\r-4o,x\n").json()
    assert "format" in body or body["error"]["code"]


def test_each_generator_reaches_its_importer(importer):
    """The strategies are not just noise: a minimal file of each shape is detected as its format."""
    samples = {
        "generic": b"ts,model,input_tokens\n2026-11-01T10:00:00Z,gpt-4o-mini,10\n",
        "openai": json.dumps({"object": "page", "data": [{"start_time": 1762000000, "results": [
            {"object": "organization.usage.completions.result", "model": "gpt-4o", "input_tokens": 5,
             "output_tokens": 1, "num_model_requests": 1}]}]}).encode(),
        "anthropic": json.dumps({"data": [{"starting_at": "2026-11-01T00:00:00Z", "results": [
            {"model": "claude-3-5-haiku-20241022", "uncached_input_tokens": 5, "output_tokens": 1}]}]}).encode(),
        "otlp": json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{
            "startTimeUnixNano": "1762000000000000000", "endTimeUnixNano": "1762000001000000000",
            "attributes": [{"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                           {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "5"}}]}]}]}]}).encode(),
    }
    for expected, content in samples.items():
        body = importer.post("/api/usage/import", files={"file": ("f", content)}).json()
        assert body["format"] == expected and body["imported"] == 1, (expected, body)
