"""Generic CSV/JSONL import against real chDB: rows, rejects with line numbers, idempotency."""

from __future__ import annotations

import io
import json

import pytest
from genai_prices import Usage, calc_price

from spendpilot.analytics.importers import ImportFormatError, import_usage
from spendpilot.analytics.queries import usage_summary

STORED = (
    "SELECT toString(ts) AS ts, user, provider, model, feature, input_tokens, output_tokens, "
    "cached_input_tokens, latency_ms, status, is_batch, prompt_hash, max_tokens, cost_usd, "
    "requests, priced, row_key FROM llm_usage WHERE org_id = {org_id:String} ORDER BY ts, model"
)


def exact(model: str, provider: str, inp: int, out: int, cached: int = 0) -> float:
    usage = Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=cached)
    return float(calc_price(usage, model, provider_id=provider).total_price)


async def run(store, org_id, text: str | bytes, **kw) -> dict:
    data = text.encode() if isinstance(text, str) else text
    return await import_usage(store, org_id, io.BytesIO(data), **kw)


CLEAN_CSV = (
    "ts,user,provider,model,feature,input_tokens,output_tokens,cached_input_tokens,latency_ms,status,is_batch,"
    "prompt_hash,max_tokens\n"
    "2025-03-01T10:00:00Z,alice,openai,gpt-4o,support,1000,200,400,850,ok,false,h1,512\n"
    "2025-03-01T11:30:00.250Z,bob,gemini,gemini-2.5-flash,search,3000,100,0,,success,true,h2,\n"
    "2025-03-02T09:00:00+02:00,carol,,claude-haiku-4-5,review,500,50,0,300,429,0,h3,1024\n"
)


async def test_clean_csv_rows_are_stored_normalised_and_priced(store, org_id):
    report = await run(store, org_id, CLEAN_CSV, filename="usage.csv")
    assert report["format"] == "generic"
    assert (report["imported"], report["duplicates"], report["rejected"]) == (3, 0, [])
    rows = await store.query(STORED, {"org_id": org_id})
    assert [r["ts"] for r in rows] == [
        "2025-03-01 10:00:00.000",
        "2025-03-01 11:30:00.250",
        "2025-03-02 07:00:00.000",  # +02:00 converted to UTC
    ]
    first, second, third = rows
    assert first["provider"] == "openai" and first["status"] == "ok" and first["is_batch"] == 0
    assert first["latency_ms"] == 850 and first["max_tokens"] == 512
    assert first["cost_usd"] == pytest.approx(exact("gpt-4o", "openai", 1000, 200, 400), rel=1e-9)
    # Provider alias, status alias, batch discount, missing latency and max_tokens stay NULL.
    assert second["provider"] == "google" and second["status"] == "ok" and second["is_batch"] == 1
    assert second["latency_ms"] is None and second["max_tokens"] is None
    assert second["cost_usd"] == pytest.approx(exact("gemini-2.5-flash", "google", 3000, 100) * 0.5, rel=1e-9)
    # Empty provider inferred from the model; HTTP 429 means rate limited.
    assert third["provider"] == "anthropic" and third["status"] == "rate_limited"
    assert all(r["priced"] == 1 and r["row_key"] != 0 for r in rows)


async def test_reimport_counts_duplicates_and_keeps_totals(store, org_id):
    first = await run(store, org_id, CLEAN_CSV)
    before = await usage_summary(store, org_id)
    second = await run(store, org_id, CLEAN_CSV)
    after = await usage_summary(store, org_id)
    assert first["imported"] == 3
    assert (second["imported"], second["duplicates"]) == (0, 3)
    assert after == before
    assert after["total_requests"] == 3


async def test_csv_and_jsonl_of_the_same_rows_share_row_keys(store, org_id):
    """The vectorised CSV path and the row-by-row JSONL path key a row identically."""
    await run(store, org_id, CLEAN_CSV)
    lines = [
        {"ts": "2025-03-01T10:00:00Z", "user": "alice", "provider": "openai", "model": "gpt-4o",
         "feature": "support", "input_tokens": 1000, "output_tokens": 200, "cached_input_tokens": 400,
         "latency_ms": 850, "status": "ok", "is_batch": False, "prompt_hash": "h1", "max_tokens": 512},
        {"ts": "2025-03-01T11:30:00.250Z", "user": "bob", "provider": "gemini", "model": "gemini-2.5-flash",
         "feature": "search", "input_tokens": 3000, "output_tokens": 100, "status": "success",
         "is_batch": True, "prompt_hash": "h2"},
    ]
    report = await run(store, org_id, "\n".join(json.dumps(x) for x in lines) + "\n")
    assert report["format"] == "generic"
    assert (report["imported"], report["duplicates"]) == (0, 2)


async def test_bad_csv_rows_are_rejected_with_line_and_reason(store, org_id):
    text = (
        "ts,model,provider,input_tokens,output_tokens,cached_input_tokens,cost_usd\n"
        "2025-03-01T10:00:00Z,gpt-4o,openai,100,10,0,\n"  # line 2 ok
        "2025-03-01T10:01:00Z,gpt-4o,openai,100\n"  # line 3 too few fields
        "yesterday,gpt-4o,openai,100,10,0,\n"  # line 4 bad ts
        "2025-03-01T10:02:00Z,gpt-4o,openai,-5,10,0,\n"  # line 5 negative
        "2025-03-01T10:03:00Z,,openai,100,10,0,\n"  # line 6 no model
        "2025-03-01T10:04:00Z,gpt-4o,openai,100,10,500,\n"  # line 7 cached > input
        "2025-03-01T10:05:00Z,gpt-4o,openai,1e3,10,0,\n"  # line 8: 1000 written as a float: fine
        "2025-03-01T10:06:00Z,gpt-4o,openai,100,ten,0,\n"  # line 9 not a number
        "2025-03-01T10:07:00Z,gpt-4o,openai,100,10,0,-1\n"  # line 10 negative cost
        "\n"  # line 11 blank: ignored
        "2025-03-01T10:08:00Z,gpt-4o,openai,100,10,0,0.5\n"  # line 12 ok, stated cost kept beside ours
    )
    report = await run(store, org_id, text)
    assert report["imported"] == 3
    reasons = {r["line"]: r["reason"] for r in report["rejected"]}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 9, 10]
    assert "expected 7 fields, found 4" in reasons[3]
    assert "invalid ts 'yesterday'" in reasons[4]
    assert "must not be negative" in reasons[5]
    assert reasons[6] == "missing model"
    assert "cached_input_tokens 500 exceeds input_tokens 100" in reasons[7]
    assert "invalid output_tokens 'ten'" in reasons[9]
    assert "invalid cost_usd" in reasons[10]
    assert report["rejected_count"] == 7
    # A stated cost is kept beside our price and the difference reported, not used instead of it
    # (this test used to expect the stated $0.50 in the total).
    summary = await usage_summary(store, org_id)
    expected = 2 * exact("gpt-4o", "openai", 100, 10) + exact("gpt-4o", "openai", 1000, 10)
    assert summary["total_usd"] == pytest.approx(expected, abs=1e-9)
    assert report["stated_vs_computed"]["rows"] == 1
    assert report["stated_vs_computed"]["stated_usd"] == 0.5
    assert report["stated_vs_computed"]["computed_usd"] == pytest.approx(exact("gpt-4o", "openai", 100, 10), abs=1e-6)


async def test_unknown_models_are_imported_unpriced_and_listed(store, org_id):
    text = (
        "ts,model,provider,input_tokens,output_tokens\n"
        "2025-03-01T10:00:00Z,acme-llm-7,acme,100,10\n"
        "2025-03-01T10:01:00Z,gpt-4o-mini,openai,100,10\n"
    )
    report = await run(store, org_id, text)
    assert report["imported"] == 2
    assert report["unpriced_models"] == ["acme-llm-7"]
    rows = await store.query(STORED, {"org_id": org_id})
    unknown = next(r for r in rows if r["model"] == "acme-llm-7")
    assert (unknown["priced"], unknown["cost_usd"], unknown["provider"]) == (0, 0.0, "acme")


async def test_identical_lines_inside_one_file_are_all_kept(store, org_id, monkeypatch):
    """Five identical calls in one second are five calls (this test used to expect one row and
    four "duplicates": data loss). Repeats are numbered across chunk seams too, and importing
    the same file again adds nothing."""
    from spendpilot.analytics.importers import fastcsv

    monkeypatch.setattr(fastcsv, "CHUNK_BYTES", 64)  # every other line in its own chunk
    line = "2025-03-01T10:00:00Z,gpt-4o,100,10\n"
    text = "ts,model,input_tokens,output_tokens\n" + line * 5
    report = await run(store, org_id, text)
    assert (report["imported"], report["duplicates"]) == (5, 0)
    again = await run(store, org_id, text)
    assert (again["imported"], again["duplicates"]) == (0, 5)
    summary = await usage_summary(store, org_id)
    assert summary["total_requests"] == 5
    assert summary["total_usd"] == pytest.approx(5 * exact("gpt-4o", "openai", 100, 10), rel=1e-9)


async def test_jsonl_reports_bad_lines(store, org_id):
    text = (
        '{"ts": "2025-03-01T10:00:00Z", "model": "gpt-4o", "input_tokens": 10, "output_tokens": 1}\n'
        "{not json}\n"
        '["a", "list"]\n'
        '{"ts": 1740826800, "model": "gpt-4o", "prompt_tokens": 20, "completion_tokens": 2}\n'
        '{"ts": "2025-03-01T10:00:00Z", "model": "gpt-4o", "input_tokens": "many"}\n'
    )
    report = await run(store, org_id, text, filename="usage.jsonl")
    assert report["imported"] == 2
    assert [r["line"] for r in report["rejected"]] == [2, 3, 5]
    assert report["rejected"][0]["reason"].startswith("invalid JSON")
    assert report["rejected"][1]["reason"] == "expected a JSON object"
    assert "invalid input_tokens 'many'" in report["rejected"][2]["reason"]
    rows = await store.query(STORED, {"org_id": org_id})
    # Epoch seconds and the prompt/completion aliases are understood.
    assert rows[1]["ts"] == "2025-03-01 11:00:00.000" and rows[1]["input_tokens"] == 20


async def test_large_clean_csv_streams_in_chunks_with_progress(store, org_id, monkeypatch):
    from spendpilot.analytics.importers import fastcsv

    monkeypatch.setattr(fastcsv, "CHUNK_BYTES", 4096)  # force many chunks and chunk seams
    header = "ts,model,provider,input_tokens,output_tokens,user\n"
    body = "".join(
        f'2025-03-{1 + i % 28:02d}T{i % 24:02d}:00:{i % 60:02d}Z,gpt-4o-mini,openai,{100 + i},{i % 50},"u, {i}"\n'
        for i in range(3000)
    )
    data = (header + body).encode()
    seen: list[int] = []
    report = await run(store, org_id, data, progress=seen.append)
    assert report["imported"] == 3000 and report["rejected"] == []
    assert seen[-1] == len(data) and seen == sorted(seen)
    summary = await usage_summary(store, org_id)
    assert summary["total_requests"] == 3000
    assert sum(g["input_tokens"] for g in summary["groups"]) == sum(100 + i for i in range(3000))


async def test_a_bad_row_in_a_late_chunk_has_its_file_line_number(store, org_id, monkeypatch):
    from spendpilot.analytics.importers import fastcsv

    monkeypatch.setattr(fastcsv, "CHUNK_BYTES", 1024)
    lines = [f"2025-03-01T10:{i // 60:02d}:{i % 60:02d}Z,gpt-4o,10,1\n" for i in range(500)]
    lines[399] = "2025-03-01T99:00:00Z,gpt-4o,10,1\n"  # file line 401 (header is line 1)
    report = await run(store, org_id, "ts,model,input_tokens,output_tokens\n" + "".join(lines))
    assert report["imported"] == 499
    assert report["rejected"] == [{"line": 401, "reason": report["rejected"][0]["reason"]}]
    assert "invalid ts" in report["rejected"][0]["reason"]


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"name,age\nbob,3\n", "ts and model"),
        (b'{"hello": "world"}\n', "not a recognised usage format"),
        (b"\x00\x01\x02binary", "binary"),
    ],
)
async def test_undetectable_files_raise_format_error(store, org_id, data, message):
    with pytest.raises(ImportFormatError, match=message):
        await run(store, org_id, data)


async def test_unknown_format_name_raises(store, org_id):
    with pytest.raises(ImportFormatError, match="unknown format 'excel'"):
        await run(store, org_id, CLEAN_CSV, format="excel")


async def test_csv_without_required_columns_raises_even_when_named(store, org_id):
    with pytest.raises(ImportFormatError, match="lacks required column"):
        await run(store, org_id, "model,input_tokens\ngpt-4o,1\n", format="generic")
