"""Which usage format a file is, from its first bytes (and, as a hint, its name)."""

from __future__ import annotations

import csv
import io

import orjson

from .generic import canonical_column
from .report import ImportFormatError

FORMATS = ("generic", "openai", "anthropic", "otlp")
FORMAT_ALIASES = {
    "csv": "generic",
    "jsonl": "generic",
    "ndjson": "generic",
    "otel": "otlp",
    "opentelemetry": "otlp",
    "openai-usage": "openai",
    "anthropic-usage": "anthropic",
}


def normalize_format(name: str) -> str:
    key = name.strip().lower()
    key = FORMAT_ALIASES.get(key, key)
    if key not in FORMATS:
        raise ImportFormatError(f"unknown format {name!r}; expected one of: {', '.join(FORMATS)}")
    return key


def is_json(head: bytes) -> bool:
    return head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[")


def detect_format(head: bytes, filename: str | None = None) -> str:
    """The format name of a file from its first bytes; raises ImportFormatError if unknown."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        raise ImportFormatError("the file is empty")
    if b"\x00" in text[:4096]:
        raise ImportFormatError("the file is binary, not CSV or JSON usage data")
    if is_json(text):
        if b'"resourceSpans"' in text:
            return "otlp"
        if b"organization.usage.completions" in text or b'"num_model_requests"' in text or b'"input_cached_tokens"' in text:
            return "openai"
        if b'"uncached_input_tokens"' in text or b'"cache_read_input_tokens"' in text or b'"starting_at"' in text:
            return "anthropic"
        first_line = text.split(b"\n", 1)[0]
        try:
            first = orjson.loads(first_line)
        except orjson.JSONDecodeError:
            first = None
        if isinstance(first, dict) and {"ts", "model"} <= {canonical_column(k) for k in first}:
            return "generic"
        raise ImportFormatError(
            "JSON file is not a recognised usage format: expected JSON Lines with ts and model, "
            "an OpenAI or Anthropic usage export, or OTLP/JSON spans"
        )
    first_line = text.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    try:
        header = next(csv.reader(io.StringIO(first_line)), [])
    except csv.Error as exc:
        raise ImportFormatError(f"the first line is not a readable CSV header: {exc}") from None
    columns = {canonical_column(h) for h in header}
    if {"num_model_requests", "input_cached_tokens"} & columns:
        return "openai"
    if {"ts", "model"} <= columns:
        return "generic"
    hint = (filename or "").lower()
    kind = "CSV" if hint.endswith(".csv") or len(header) > 1 else "file"
    raise ImportFormatError(
        f"{kind} is not a recognised usage format: a generic CSV needs a header with at least "
        f"ts and model (found: {first_line[:200]!r})"
    )
