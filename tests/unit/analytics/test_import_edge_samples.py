"""Files as people actually save them (gzip, JSON arrays, pretty-printed JSON, TSV, `;` and Latin-1,
spreadsheet headers), gateway exports, provider-prefixed model names, and identical calls.

Every sample's source is in tests/samples/README.md; each test names its own.
"""

from __future__ import annotations

import pytest

from spendpilot.analytics.importers import FORMATS, sniff_file
from spendpilot.analytics.queries import usage_summary
from tests.unit.analytics.samples import SAMPLES, import_bytes, import_sample, stored

GENERIC_THREE = [0.569788, 3.431496, 0.17045]


@pytest.mark.parametrize("name", ["edge/generic_usage.jsonl.gz", "edge/generic_array.json",
                                  "edge/generic_pretty_object.json"])
async def test_gzip_json_arrays_and_pretty_printed_json(store, org_id, name):
    """Defect 11: gzip, JSON arrays and pretty-printed JSON were rejected. Samples (built): the same 3
    generic rows as gzipped JSON Lines, a JSON array, and pretty-printed under {"rows": [...]}. The
    sonnet row is one call of 2.7M tokens (the >200k tier applies); the batch row is half price."""
    report = await import_sample(store, org_id, name)
    assert (report["format"], report["imported"], report["rejected"]) == ("generic", 3, [])
    rows = await stored(store, org_id)
    assert [r["cost_usd"] for r in rows] == pytest.approx(GENERIC_THREE, abs=1e-9)
    assert [r["input_tokens"] for r in rows] == [80_992, 2_718_983, 124_784]
    assert rows[1]["cached_input_tokens"] == 2_466_105 and rows[2]["is_batch"] == 1
    assert any("gzip" in n for n in report["notes"]) == name.endswith(".gz")


async def test_semicolons_decimal_commas_latin1_and_german_headers(store, org_id):
    """Defect 11: a `;`-delimited ISO-8859-1 file with decimal-comma costs and German headers
    (Zeitpunkt;Modell;Benutzer;Funktion;...;Kosten (USD)) imports with a warning about the encoding,
    names intact, stated costs kept beside ours. Sample: built (README)."""
    report = await import_sample(store, org_id, "edge/semicolon_latin1.csv")
    assert (report["format"], report["imported"], report["rejected"]) == ("generic", 2, [])
    assert any("not UTF-8" in n for n in report["notes"])
    gpt, haiku = await stored(store, org_id)
    assert (gpt["ts"], gpt["user"], gpt["feature"]) == ("2025-10-07 09:15:00.000", "Jürgen Beispiel", "Übersetzung")
    assert haiku["user"] == "Zoë Exemple" and haiku["feature"] == "Rückfragen"
    assert (gpt["stated_cost_usd"], haiku["stated_cost_usd"]) == (0.569788, 2.397622)
    assert gpt["cost_usd"] == pytest.approx(0.569788, abs=1e-9)
    assert report["stated_vs_computed"]["difference_usd"] == pytest.approx(0, abs=1e-6)


async def test_spreadsheet_headers_are_mapped_and_unknown_columns_reported(store, org_id):
    """Defect 7: `Input Tokens` and the like were ignored without a word, giving 0 tokens. They are
    mapped now, a stated `Cost ($)` is compared with ours, and columns that match nothing are
    listed. Sample: built (README), with an extra column added here."""
    data = (SAMPLES / "edge/input_tokens_header.csv").read_bytes()
    lines = data.decode().splitlines()
    data = "\n".join([lines[0] + ",Region"] + [line + ",eu" for line in lines[1:]]).encode()
    report = await import_bytes(store, org_id, data, filename="usage.csv")
    assert (report["imported"], report["unknown_columns"]) == (2, ["Region"])
    first, second = await stored(store, org_id)
    assert (first["input_tokens"], first["output_tokens"]) == (80_992, 274_770)
    assert first["cost_usd"] == pytest.approx(0.569788, abs=1e-9)
    assert (first["stated_cost_usd"], second["stated_cost_usd"]) == (0.57, 0.34)
    assert report["stated_vs_computed"]["stated_usd"] == pytest.approx(0.91)
    assert report["stated_vs_computed"]["difference_usd"] == pytest.approx(0.569788 + 0.3409 - 0.91, abs=1e-6)


async def test_a_file_with_no_token_or_cost_column_is_refused(store, org_id):
    """Defect 7: a header whose token columns match nothing must not import rows of 0 tokens."""
    from spendpilot.analytics.importers import ImportFormatError

    with pytest.raises(ImportFormatError, match="no token or cost column recognised"):
        await import_bytes(store, org_id, b"Date,Model,Eingang,Ausgang\n2025-10-07,gpt-5-mini,10,20\n")


async def test_provider_prefixed_model_names_are_priced(store, org_id):
    """Defect 13: gateway-style names (`anthropic/...`, `openrouter/...`, `bedrock/us.anthropic...`,
    `openai/...`, `vertex_ai/...`) got no price. Sample: built (README), 10,000/500 tokens each."""
    report = await import_sample(store, org_id, "edge/provider_prefixed_models.jsonl")
    assert (report["imported"], report["unpriced_models"]) == (5, [])
    rows = await stored(store, org_id)
    assert [(r["provider"], r["model"]) for r in rows] == [
        ("anthropic", "claude-sonnet-4-5"), ("openrouter", "anthropic/claude-3.5-sonnet"),
        ("aws", "us.anthropic.claude-3-7-sonnet-20250219-v1:0"), ("openai", "gpt-4o-mini"),
        ("google", "gemini-2.5-flash")]
    assert [r["cost_usd"] for r in rows] == pytest.approx([0.0375, 0.0375, 0.0375, 0.0018, 0.00425], abs=1e-9)


async def test_five_identical_calls_in_one_second_are_five_rows(store, org_id):
    """Defect 12 (data loss): five identical calls in the same second were stored as one and reported as
    four duplicates. A generic export without request ids (the gpt-5-mini row of the generic samples,
    five times) keeps all five; the same file again adds nothing; a request id column is the identity."""
    line = '{"ts": "2025-10-07T09:15:02Z", "model": "gpt-5-mini-2025-08-07", "input_tokens": 80992, ' \
           '"output_tokens": 274770}\n'
    report = await import_bytes(store, org_id, (line * 5).encode())
    assert (report["imported"], report["duplicates"]) == (5, 0)
    again = await import_bytes(store, org_id, (line * 5).encode())
    assert (again["imported"], again["duplicates"]) == (0, 5)
    summary = await usage_summary(store, org_id)
    assert summary["total_requests"] == 5
    assert summary["total_usd"] == pytest.approx(5 * 0.569788, abs=1e-9)
    with_ids = "".join(line.replace("{", f'{{"request_id": "req-{i % 2}", ') for i in range(4)).encode()
    by_id = await import_bytes(store, org_id, with_ids)
    assert (by_id["imported"], by_id["duplicates"]) == (2, 2)


async def test_snake_case_otlp_json_is_recognised_as_otlp():
    """Defect 11: OTLP JSON written with proto field names (resource_spans, scope_spans, as
    MessageToJson(preserving_proto_field_name=True) writes) was unrecognised. Detection only; the spans
    themselves are read by the OTLP format. Sample: genai_semconv_current_snake_case.json (README)."""
    data = (SAMPLES / "otlp/genai_semconv_current_snake_case.json").read_bytes()
    assert sniff_file(data, "traces.json").name == "otlp"


async def test_openrouter_activity_export_keeps_its_stated_cost(store, org_id):
    """Defect 13: OpenRouter's activity export imports: slug priced with OpenRouter's own tables
    ($430.07765) beside the stated $430.07. Sample: header and rows quoted in a public billing parser
    test (README)."""
    report = await import_sample(store, org_id, "openrouter/activity_export.csv")
    assert (report["format"], report["imported"], report["rejected"]) == ("openrouter", 2, [])
    first, second = await stored(store, org_id)
    assert (first["provider"], first["model"], first["requests"]) == ("openrouter", "anthropic/claude-opus-4.7", 4115)
    assert (first["input_tokens"], first["output_tokens"]) == (70_965_665, 3_009_973)
    assert (first["stated_cost_usd"], second["stated_cost_usd"]) == (430.07, 505.87)
    assert first["cost_usd"] == pytest.approx(430.07765, abs=1e-6)
    assert report["stated_vs_computed"]["stated_usd"] == pytest.approx(935.94)


async def test_openrouter_generation_record(store, org_id):
    """OpenRouter's generation API record: native token counts, latency, stated total_cost, identity
    `id`. Sample: the response example of openrouter.ai/docs, GET /api/v1/generation (README)."""
    report = await import_sample(store, org_id, "openrouter/generation.json")
    assert (report["format"], report["imported"], report["rejected"]) == ("openrouter", 1, [])
    (row,) = await stored(store, org_id)
    assert (row["model"], row["input_tokens"], row["cached_input_tokens"], row["output_tokens"]) == (
        "sao10k/l3-stheno-8b", 10, 3, 25)
    assert (row["latency_ms"], row["stated_cost_usd"], row["service_tier"]) == (1250, 0.0015, "priority")
    assert row["source_id"] == "openrouter:gen-3bhGkxlo4XFrqiabUM7NDtwDzWwG"
    assert row["tags"] == {"upstream": "Infermatic"}


@pytest.mark.parametrize("name", ["litellm/spend_logs.json", "litellm/spend_logs.csv"])
async def test_litellm_spend_keeps_stated_cost_beside_ours(store, org_id, name):
    """LiteLLM's `spend` is kept in stated_cost_usd beside our price, identity is request_id, tags and
    key kept. Sample: built from BerriAI/litellm schema.prisma @029f645f (README)."""
    report = await import_sample(store, org_id, name)
    rows = await stored(store, org_id)
    first = rows[0]
    assert first["source_id"] == "litellm:chatcmpl-EXAMPLEexample0201"
    assert (first["stated_cost_usd"], first["cost_usd"]) == (0.0001287, pytest.approx(0.0001287, abs=1e-12))
    assert first["tags"] == {"request_tags": "receipts,prod", "team": "payments"}
    assert report["stated_vs_computed"]["rows"] == 3
    assert abs(report["stated_vs_computed"]["difference_usd"]) < 1e-6


def test_every_format_declares_its_identity_rule():
    assert all(f.identity for f in FORMATS)
    assert {"anthropic-console", "anthropic-console-cost", "anthropic-cost", "openai-costs", "openrouter"} <= {
        f.name for f in FORMATS}


async def test_a_cut_gzip_file_keeps_what_was_read_and_says_where_it_stopped(store, org_id):
    """A gzip upload cut short (a failed download) imports the rows before the cut and notes the damage,
    instead of failing the whole import. Sample: edge/generic_usage.jsonl.gz with its tail cut off."""
    import gzip

    rows = gzip.decompress((SAMPLES / "edge/generic_usage.jsonl.gz").read_bytes()).splitlines(keepends=True)
    data = gzip.compress(b"".join(rows * 400))
    report = await import_bytes(store, org_id, data[: len(data) * 2 // 3])
    assert report["format"] == "generic" and 0 < report["imported"] < 1200
    assert any("damaged or cut short" in n for n in report["notes"])


async def test_utf16_spreadsheet_text_is_read(store, org_id):
    """Excel's "Unicode text" is UTF-16 with a BOM and tabs. Sample: the Guardian dashboard export
    (edge/openai_dashboard_usage.tsv, README) saved that way."""
    data = (SAMPLES / "edge/openai_dashboard_usage.tsv").read_text().encode("utf-16")
    report = await import_bytes(store, org_id, data)
    assert (report["format"], report["imported"], report["rejected"]) == ("openai", 6, [])


def test_a_json_array_is_read_record_by_record():
    """Defect 14 for JSON: a big pretty-printed array is streamed, not loaded whole. The first record is
    handed out after reading a small part of a 3,000-record file (the generic samples' rows, repeated)."""
    import io
    import json

    from spendpilot.analytics.importers.jsondoc import iter_items
    from spendpilot.analytics.importers.registry import Head
    from spendpilot.analytics.importers.report import ImportReport
    from spendpilot.analytics.importers.source import open_source

    records = json.loads((SAMPLES / "edge/generic_array.json").read_text()) * 1000
    data = json.dumps(records, indent=2).encode()

    class Watched(io.BytesIO):
        def read(self, size=-1):
            chunk = super().read(size)
            self.high_water = self.tell()
            return chunk

    source = Watched(data)
    opened = open_source(source)
    items = iter_items(opened.raw, Head(opened.head), "generic JSON", ImportReport("generic"))
    first = next(items)
    assert first == (1, records[0])
    assert source.high_water < len(data) / 4
    assert sum(1 for _ in items) == len(records) - 1
