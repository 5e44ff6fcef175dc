"""Relaying an upstream SSE stream to the client as it arrives, metering it on the way.

Each event goes out as soon as it is complete. The stream's final event (and anything after it) is held
until the call is stored; a client that goes away closes the upstream connection at once, so the provider
stops generating (and billing) for nobody.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from spendpilot.intake.provider_usage import Meter
from spendpilot.intake.sse import SseSplitter, parse_event

Finish = Callable[..., Awaitable[None]]


class RelayResponse(Response):
    def __init__(self, upstream: httpx.Response, meter: Meter | None, finish: Finish, *, status_code: int,
                 headers: dict[str, str]):
        # Not Response.__init__: there is no body to render; the headers are the upstream's.
        self.status_code = status_code
        self.background = None
        self.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.upstream = upstream
        self.meter = meter
        self.finish = finish
        # Usage is read only from plain SSE; a compressed stream is relayed untouched.
        self.metered = meter is not None and "content-encoding" not in upstream.headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()
            await self.upstream.aclose()  # the pending read ends at once

        watcher = asyncio.create_task(watch())
        held: list[bytes] = []
        complete = False
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            splitter = SseSplitter()
            async for chunk in self.upstream.aiter_raw():
                out = self._sort(splitter.feed(chunk), held) if self.metered else chunk
                if out and not gone.is_set():
                    await send({"type": "http.response.body", "body": out, "more_body": True})
            tail = splitter.rest()
            if tail and not gone.is_set():
                await send({"type": "http.response.body", "body": tail, "more_body": True})
            complete = not gone.is_set()
        except (httpx.HTTPError, OSError, RuntimeError):
            pass  # the upstream dropped, or the client did; either way the call ends here
        finally:
            watcher.cancel()
            await self.upstream.aclose()
        metered_complete = complete and (self.meter is None or self.meter.usage.complete)
        await self.finish(complete=metered_complete, cancelled=gone.is_set())
        if gone.is_set():
            return
        try:
            if held:
                await send({"type": "http.response.body", "body": b"".join(held), "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except (OSError, RuntimeError):
            pass

    def _sort(self, events: list[bytes], held: list[bytes]) -> bytes:
        """The events to send now; the final one (and whatever follows it) goes to `held`."""
        out = bytearray()
        meter: Any = self.meter
        for raw in events:
            name, data = parse_event(raw)
            disposition = meter.event(name, data)
            if held or disposition == "hold":
                if disposition != "drop":
                    held.append(raw)
            elif disposition == "forward":
                out += raw
        return bytes(out)
