"""Reading an upload once, as a stream: a peeked head for detection and a byte count for progress."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import BinaryIO

HEAD_BYTES = 64 * 1024


class CountingReader(io.RawIOBase):
    """A raw stream over ``head`` then the rest of ``source``, counting bytes handed out."""

    def __init__(self, source: BinaryIO, head: bytes = b"") -> None:
        self._source = source
        self._head = memoryview(head)
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._head.nbytes:
            n = min(len(buffer), self._head.nbytes)
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
        else:
            data = self._source.read(len(buffer))
            if isinstance(data, str):  # a text-mode file handed in by mistake
                data = data.encode()
            n = len(data)
            buffer[:n] = data
        self.bytes_read += n
        return n


def open_source(source: BinaryIO) -> tuple[bytes, CountingReader]:
    """Peek the first bytes (for format detection) without losing them for parsing."""
    head = source.read(HEAD_BYTES)
    if isinstance(head, str):
        head = head.encode()
    return head, CountingReader(source, head)


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
