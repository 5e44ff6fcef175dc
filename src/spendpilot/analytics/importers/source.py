"""Reading an upload once, as a stream: gzip undone, text made UTF-8, a peeked head for detection.

Files arrive compressed (gzip, recognised by its magic bytes, not its name), in Windows-1252 /
Latin-1 from spreadsheets, or UTF-16 from Excel's "Unicode text"; parsers only ever see a UTF-8
stream. Progress counts bytes of the upload as sent (compressed), so a progress bar over the
file size ends at 100%.
"""

from __future__ import annotations

import codecs
import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from .report import ImportFormatError

HEAD_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
# Bytes Windows-1252 leaves undefined: a file with them is read as ISO-8859-1 instead.
_CP1252_HOLES = {0x81, 0x8D, 0x8F, 0x90, 0x9D}


class _Counted(io.RawIOBase):
    """The upload itself, counting the bytes taken from it."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._source.read(len(buffer))
        if isinstance(data, str):  # a text-mode file handed in by mistake
            data = data.encode()
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


class _Prefixed(io.RawIOBase):
    """``prefix`` then the rest of ``stream``: bytes already peeked are not lost."""

    def __init__(self, prefix: bytes, stream: io.RawIOBase | io.BufferedIOBase | BinaryIO) -> None:
        self._prefix = memoryview(prefix)
        self._stream = stream
        # Why the stream ended early, if it did (a truncated or corrupt gzip file).
        self.problem = ""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._prefix.nbytes:
            n = min(len(buffer), self._prefix.nbytes)
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        try:
            data = self._stream.read(len(buffer))
        except (EOFError, OSError, zlib.error) as exc:
            # The rows before the damage are imported; the report says where reading stopped.
            self.problem = f"the compressed data is damaged or cut short ({exc}); the rows before it were read"
            return 0
        n = len(data or b"")
        buffer[:n] = data or b""
        return n


class _Transcoded(io.RawIOBase):
    """A byte stream in ``encoding`` handed out as UTF-8."""

    def __init__(self, stream: io.RawIOBase, encoding: str) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self._pending = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending and not self._done:
            data = self._stream.read(1 << 16)
            self._done = not data
            self._pending = self._decoder.decode(data or b"", final=self._done).encode("utf-8")
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


class CountingReader(io.RawIOBase):
    """The stream parsers read: the head, then the rest; ``bytes_read`` is progress in upload bytes."""

    def __init__(self, stream: io.RawIOBase, head: bytes, counted: _Counted | None = None) -> None:
        self._stream = _Prefixed(head, stream)
        self._counted = counted
        self._handed = 0

    def readable(self) -> bool:
        return True

    @property
    def bytes_read(self) -> int:
        return self._counted.count if self._counted is not None else self._handed

    def readinto(self, buffer) -> int:
        n = self._stream.readinto(buffer)
        self._handed += n
        return n


@dataclass
class Opened:
    """An upload ready to parse: its head (UTF-8) for detection, the stream, and what was done to read it."""

    head: bytes
    raw: CountingReader
    encoding: str = "utf-8"
    compressed: bool = False
    notes: list[str] = field(default_factory=list)
    _inner: list[_Prefixed] = field(default_factory=list)

    @property
    def problem(self) -> str:
        return next((p.problem for p in self._inner if p.problem), "")


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of the head is not an error.
        return exc.reason == "unexpected end of data" and exc.start >= len(data) - 3
    return True


def _encoding(peek: bytes) -> str:
    if peek.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _utf8(peek):
        return "utf-8"
    return "latin-1" if _CP1252_HOLES & set(peek) else "cp1252"


def open_source(source: BinaryIO) -> Opened:
    """Peek the first bytes (for format detection) without losing them for parsing."""
    counted = _Counted(source)
    first = counted.read(HEAD_BYTES) or b""
    if first.startswith(ZIP_MAGIC):
        raise ImportFormatError("the file is a zip archive (or an Excel workbook): extract or export the usage "
                                "as CSV or JSON first")
    inner: list[_Prefixed] = []
    stream: io.RawIOBase = _Prefixed(first, counted)
    compressed = first.startswith(GZIP_MAGIC)
    if compressed:
        stream = _Prefixed(b"", gzip.GzipFile(fileobj=io.BufferedReader(stream, 1 << 20), mode="rb"))
        inner.append(stream)
    peek = _read_up_to(stream, HEAD_BYTES)
    if compressed and not peek and inner[0].problem:
        raise ImportFormatError("the file starts like gzip but is not readable gzip data")
    encoding = _encoding(peek)
    notes = []
    if compressed:
        notes.append("the file was gzip-compressed and was decompressed while reading")
    if encoding == "utf-8":
        head = peek
    else:
        stream = _Transcoded(_Prefixed(peek, stream), encoding)
        head = _read_up_to(stream, HEAD_BYTES)
        if encoding != "utf-16":
            name = "Windows-1252" if encoding == "cp1252" else "ISO-8859-1"
            notes.append(f"the file is not UTF-8: it was read as {name} (Latin-1); check accented names in the "
                         "imported rows")
    return Opened(head=head, raw=CountingReader(stream, head, counted), encoding=encoding, compressed=compressed,
                  notes=notes, _inner=inner)


def _read_up_to(stream: io.RawIOBase, size: int) -> bytes:
    parts, got = [], 0
    while got < size:
        data = stream.read(size - got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def text_stream(raw: CountingReader) -> io.TextIOWrapper:
    # newline="" lets the csv module see quoted newlines; undecodable bytes become U+FFFD
    # in their own row instead of aborting the whole import.
    return io.TextIOWrapper(
        io.BufferedReader(raw, buffer_size=1 << 20), encoding="utf-8-sig", errors="replace", newline=""
    )


def numbered_lines(raw: CountingReader) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line bytes) of a line-oriented file, read in large chunks."""
    buffered = io.BufferedReader(raw, buffer_size=1 << 20)
    for number, line in enumerate(buffered, start=1):
        if number == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        yield number, line
