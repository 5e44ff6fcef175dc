"""Server-sent events cut out of a byte stream as they complete, with the raw bytes of each kept for relaying."""

from __future__ import annotations

_ENDINGS = (b"\n\n", b"\r\n\r\n", b"\r\r")


class SseSplitter:
    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        """The events completed by this chunk, each with its terminating blank line."""
        self._buffer += chunk
        events: list[bytes] = []
        while True:
            cut = -1
            size = 0
            for ending in _ENDINGS:
                at = self._buffer.find(ending)
                if at != -1 and (cut == -1 or at < cut):
                    cut, size = at, len(ending)
            if cut == -1:
                return events
            events.append(bytes(self._buffer[:cut + size]))
            del self._buffer[:cut + size]

    def rest(self) -> bytes:
        """Bytes after the last complete event (a stream that ended mid-event)."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest


def parse_event(raw: bytes) -> tuple[str | None, str]:
    """(event name or None, data) of one event; data lines are joined with newlines as the SSE spec says."""
    name: str | None = None
    data: list[str] = []
    for line in raw.decode("utf-8", errors="replace").splitlines():
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif line.startswith("event:"):
            name = line[6:].strip()
    return name, "\n".join(data)
