"""A recording reverse proxy in front of the fake providers: what the upstream sent, byte for byte, per request.

The gateway is pointed here instead of at the fake directly, so a test can compare what the upstream sent with
what an SDK received through the gateway.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from tests.support.server import free_port


@dataclass
class Exchange:
    path: str
    request_body: bytes
    status: int
    body: bytearray


class RecordingUpstream:
    def __init__(self, target: str):
        self.target = target.rstrip("/")
        self.port = free_port()
        self.exchanges: list[Exchange] = []
        self._client = httpx.AsyncClient(timeout=60)
        app = Starlette(routes=[Route("/{path:path}", self._forward, methods=["GET", "POST", "DELETE"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                     lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RecordingUpstream:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("recording upstream did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    @property
    def last(self) -> Exchange:
        return self.exchanges[-1]

    async def _forward(self, request: Request) -> StreamingResponse:
        body = await request.body()
        headers = [(k, v) for k, v in request.headers.items() if k not in ("host", "content-length")]
        upstream = await self._client.send(
            self._client.build_request(request.method, f"{self.target}{request.url.path}", headers=headers,
                                       content=body, params=request.query_params), stream=True)
        exchange = Exchange(request.url.path, body, upstream.status_code, bytearray())
        self.exchanges.append(exchange)

        async def relay():
            try:
                async for chunk in upstream.aiter_raw():
                    exchange.body.extend(chunk)
                    yield chunk
            finally:
                await upstream.aclose()

        kept = {k: v for k, v in upstream.headers.items()
                if k not in ("content-length", "transfer-encoding", "connection", "date", "server")}
        return StreamingResponse(relay(), status_code=upstream.status_code, headers=kept)
