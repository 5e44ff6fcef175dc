"""An API instance that stops says goodbye: its sockets close with 1001 (going away)."""

from __future__ import annotations

import asyncio
import signal

import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.client import open_socket, register

pytestmark = pytest.mark.services


async def test_a_stopping_api_closes_every_socket_with_1001(make_cluster):
    cluster = make_cluster()
    [api] = await cluster.astart(["api"])
    user = await register(api.url)
    sockets = [await open_socket(api.ws_url, user["access_token"]),
               await open_socket(api.ws_url, user["access_token"], carrier="subprotocol")]
    api.signal(signal.SIGTERM)
    for ws in sockets:
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 30)
        assert ws.close_code == 1001, ws.close_code
    # uvicorn re-raises the signal once it has shut down cleanly.
    assert await asyncio.to_thread(api.wait_exit) in (0, -signal.SIGTERM)
    assert "Traceback" not in api.log_text()
