"""What an import format is, and how a file's first bytes are read to recognise one.

Each format module declares one `ImportFormat`; `importers.FORMATS` lists them in the order they
are tried. The API, the CLI, discovery and the report's import guidance all read that list.
Sniffing decides on parsed keys (a CSV header, the first JSON record), never on substrings of
values.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from itertools import islice
from typing import Any

import ijson
import orjson

from .report import ImportReport
from .source import CountingReader

# Rows per batch written by row-at-a-time parsers.
BATCH_ROWS = 50_000

# Batches of rows to write: lists of row dicts, or pyarrow Tables from the vectorised CSV path.
Batches = Iterator[Any]
RowParser = Callable[[CountingReader, str, ImportReport], Iterator[dict]]
DELIMITERS = (",", "\t", ";", "|")
# Keys under which JSON exports wrap their list of records.
CONTAINER_KEYS = ("data", "rows", "records", "items", "usage", "results", "logs")
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake_case(key: str) -> str:
    """resourceSpans -> resource_spans: protobuf's JSON mapping accepts both spellings."""
    return _CAMEL.sub("_", key).lower()


@dataclass(frozen=True)
class Head:
    """The first bytes of a file (as UTF-8), readable as JSON or as a delimited header, for sniffing."""

    text: bytes

    @property
    def is_json(self) -> bool:
        return self.text[:1] in (b"{", b"[")

    def has_key(self, *keys: str) -> bool:
        """Whether any of these JSON keys appears in the head (as `"key"`, or its snake_case form)."""
        spellings = {k for key in keys for k in (key, snake_case(key))}
        return any(f'"{key}"'.encode() in self.text for key in spellings)

    @cached_property
    def first_line(self) -> str:
        return self.text.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", errors="replace")

    @cached_property
    def first_object(self) -> dict | None:
        """The first JSON line as an object, if it is one."""
        try:
            value = orjson.loads(self.text.split(b"\n", 1)[0])
        except orjson.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None

    @cached_property
    def first_record(self) -> dict | None:
        """The first record of a JSON file: a JSON line, an array's first object, or the first object of
        the list an object wraps (`{"data": [...]}`, `{"rows": [...]}`), pretty-printed or not."""
        if not self.is_json:
            return None
        if self.first_object is not None:
            return _unwrap(self.first_object)
        try:
            whole = orjson.loads(self.text)  # a small pretty-printed document fits in the head
        except orjson.JSONDecodeError:
            whole = None
        if isinstance(whole, dict) and not any(isinstance(whole.get(k), list) for k in CONTAINER_KEYS):
            return _unwrap(whole)
        try:
            first = next(ijson.items(io.BytesIO(self.text), "item", use_float=True), None) \
                if self.text[:1] == b"[" else None
        except ijson.JSONError:
            first = None
        except ijson.IncompleteJSONError:
            first = None
        if isinstance(first, dict):
            return _unwrap(first)
        if self.text[:1] == b"{":
            for key in CONTAINER_KEYS:
                try:
                    found = next(ijson.items(io.BytesIO(self.text), f"{key}.item", use_float=True), None)
                except (ijson.JSONError, ijson.IncompleteJSONError):
                    found = None
                if isinstance(found, dict):
                    return found
        return None

    @cached_property
    def delimiter(self) -> str:
        """The field separator of a delimited file: the candidate found most often in its header."""
        line = self.first_line
        counts = {d: len(re.sub(r'"[^"]*"', "", line).split(d)) - 1 for d in DELIMITERS}
        best = max(DELIMITERS, key=lambda d: counts[d])
        return best if counts[best] else ","

    @cached_property
    def header(self) -> list[str]:
        """The first line as a delimited header (empty for JSON or unreadable text)."""
        if self.is_json:
            return []
        try:
            return next(csv.reader(io.StringIO(self.first_line.lstrip("\ufeff")), delimiter=self.delimiter), [])
        except csv.Error:
            return []

    def columns(self, canonical: Callable[[str], str] = lambda name: name.strip().lower()) -> set[str]:
        return {canonical(h) for h in self.header}


def _unwrap(value: dict) -> dict:
    """A record wrapped as `{"data": {...}}` (OpenRouter's generation API) or a page's first bucket."""
    inner = value.get("data")
    if isinstance(inner, dict):
        return inner
    return value


@dataclass(frozen=True)
class ImportFormat:
    name: str
    # What it is, as lists and error messages show it.
    label: str
    sniff: Callable[[Head], bool]
    # (raw stream, org id, report, head) -> batches to write.
    parse: Callable[[CountingReader, str, ImportReport, Head], Batches]
    aliases: tuple[str, ...] = ()
    # How a row is identified in its source, so re-importing it is a no-op (shown by `formats`).
    identity: str = "the row's content and its occurrence in the file (the source names no id)"
    # What to do when rows arrive without a model (shown in the report's note about them).
    model_hint: str = "export the usage grouped by model"


def row_batches(parser: RowParser, batch_rows: int) -> Callable[[CountingReader, str, ImportReport, Head], Batches]:
    """A row-at-a-time parser as batches of `batch_rows` rows."""

    def parse(raw: CountingReader, org_id: str, report: ImportReport, _head: Head) -> Batches:
        rows = parser(raw, org_id, report)
        while batch := list(islice(rows, batch_rows)):
            yield batch
    return parse


def source_key(kind: str, *parts: object) -> str:
    """A row's identity in a bucketed source: its kind, bucket start and group keys (None as empty).

    The same bucket and group keys give the same id whether they came from a file or a connector's
    pull, so one can follow the other without counting anything twice.
    """
    return kind + ":" + "|".join("" if p is None else str(p).lower() if isinstance(p, bool) else str(p)
                                 for p in parts)


class Repeats:
    """Numbers repeats of one identity within a file: a source that gives two lines the same bucket and
    group keys (the OpenAI dashboard export does, for two API calls' worth of a day) still has two
    lines. The n-th repeat gets `~n`, so re-importing the file gives the same ids again."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def __call__(self, key: str) -> str:
        n = self._seen.get(key, 0)
        self._seen[key] = n + 1
        return key if n == 0 else f"{key}~{n}"
