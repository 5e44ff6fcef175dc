"""What an import format is, and how a file's first bytes are read to recognise one.

Each format module declares one `ImportFormat`; `importers.FORMATS` lists them in the order they
are tried. The API, the CLI, discovery and the report's import guidance all read that list.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import orjson

from .report import ImportReport
from .source import CountingReader

# Rows per batch written by row-at-a-time parsers.
BATCH_ROWS = 50_000

# Batches of rows to write: lists of row dicts, or pyarrow Tables from the vectorised CSV path.
Batches = Iterator[Any]
RowParser = Callable[[CountingReader, str, ImportReport], Iterator[dict]]


@dataclass(frozen=True)
class Head:
    """The first bytes of a file, readable as JSON or as a CSV header, for sniffing."""

    text: bytes

    @property
    def is_json(self) -> bool:
        return self.text[:1] in (b"{", b"[")

    def has_key(self, *keys: str) -> bool:
        """Whether any of these JSON keys appears in the head (as `"key"`)."""
        return any(f'"{key}"'.encode() in self.text for key in keys)

    @cached_property
    def first_line(self) -> str:
        return self.text.split(b"\n", 1)[0].decode("utf-8", errors="replace")

    @cached_property
    def first_object(self) -> dict | None:
        """The first JSON line as an object, if it is one."""
        try:
            value = orjson.loads(self.text.split(b"\n", 1)[0])
        except orjson.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None

    @cached_property
    def header(self) -> list[str]:
        """The first line as a CSV header (empty for JSON or unreadable text)."""
        if self.is_json:
            return []
        try:
            return next(csv.reader(io.StringIO(self.first_line)), [])
        except csv.Error:
            return []

    def columns(self, canonical: Callable[[str], str] = lambda name: name.strip().lower()) -> set[str]:
        return {canonical(h) for h in self.header}


@dataclass(frozen=True)
class ImportFormat:
    name: str
    # What it is, as lists and error messages show it.
    label: str
    sniff: Callable[[Head], bool]
    # (raw stream, org id, report, head) -> batches to write.
    parse: Callable[[CountingReader, str, ImportReport, Head], Batches]
    aliases: tuple[str, ...] = ()


def row_batches(parser: RowParser, batch_rows: int) -> Callable[[CountingReader, str, ImportReport, Head], Batches]:
    """A row-at-a-time parser as batches of `batch_rows` rows."""
    from itertools import islice

    def parse(raw: CountingReader, org_id: str, report: ImportReport, _head: Head) -> Batches:
        rows = parser(raw, org_id, report)
        while batch := list(islice(rows, batch_rows)):
            yield batch
    return parse
