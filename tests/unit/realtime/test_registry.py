"""ConnectionRegistry: counts each user's open sockets (the per-user limit reads it) and closes them all on shutdown."""

from __future__ import annotations

import asyncio

import pytest
from starlette.websockets import WebSocket

from spendpilot.auth.permissions import Role
from spendpilot.auth.service import Principal
from spendpilot.realtime.connection import Connection
from spendpilot.realtime.registry import ConnectionRegistry


class Socket:
    """A Starlette WebSocket on an in-memory ASGI channel, accepted, recording what the server sent."""

    def __init__(self):
        self.sent: list[dict] = []
        incoming: asyncio.Queue = asyncio.Queue()
        incoming.put_nowait({"type": "websocket.connect"})

        async def send(message: dict) -> None:
            self.sent.append(message)

        scope = {"type": "websocket", "path": "/ws", "headers": [], "query_string": b"", "subprotocols": []}
        self.websocket = WebSocket(scope, incoming.get, send)


async def open_connection(user_id: str) -> tuple[Connection, Socket, asyncio.Task]:
    socket = Socket()
    await socket.websocket.accept()
    principal = Principal(user_id, "org_1", f"{user_id}@example.com", 0, role=Role.ADMIN, session_id="fam_test")
    conn = Connection(socket.websocket, principal, event_log=None)
    return conn, socket, asyncio.create_task(conn.send_loop())


@pytest.fixture
async def connections():
    opened: list[asyncio.Task] = []

    async def make(user_id: str) -> tuple[Connection, Socket, asyncio.Task]:
        conn, socket, loop = await open_connection(user_id)
        opened.append(loop)
        return conn, socket, loop

    yield make
    for loop in opened:
        loop.cancel()
    await asyncio.gather(*opened, return_exceptions=True)


async def test_connections_are_counted_per_user(connections):
    registry = ConnectionRegistry()
    a1, _, _ = await connections("usr_a")
    a2, _, _ = await connections("usr_a")
    b1, _, _ = await connections("usr_b")
    for conn in (a1, a2, b1, a1):  # adding the same socket twice counts it once
        registry.add(conn)
    assert (registry.count("usr_a"), registry.count("usr_b"), registry.count("usr_c"), registry.total()) == (2, 1, 0, 3)
    registry.remove(a1)
    assert (registry.count("usr_a"), registry.total()) == (1, 2)
    registry.remove(a1)  # removing twice, or a socket never added, changes nothing
    assert registry.total() == 2
    registry.remove(a2)
    registry.remove(b1)
    assert (registry.count("usr_a"), registry.count("usr_b"), registry.total()) == (0, 0, 0)


async def test_close_all_closes_every_socket_after_what_was_already_queued(connections):
    registry = ConnectionRegistry()
    opened = [await connections(user) for user in ("usr_a", "usr_a", "usr_b")]
    for conn, _, _ in opened:
        registry.add(conn)
        conn.send('{"type": "heartbeat"}')
    registry.close_all()
    for _, socket, loop in opened:
        await asyncio.wait_for(loop, 5)  # the send loop ends once the socket is closed
        assert [m["type"] for m in socket.sent] == ["websocket.accept", "websocket.send", "websocket.close"]
        assert socket.sent[1]["text"] == '{"type": "heartbeat"}'
        assert (socket.sent[2]["code"], socket.sent[2]["reason"]) == (1001, "server shutting down")


async def test_close_all_passes_on_the_code_and_reason(connections):
    registry = ConnectionRegistry()
    conn, socket, loop = await connections("usr_a")
    registry.add(conn)
    registry.close_all(1012, "restarting")
    await asyncio.wait_for(loop, 5)
    assert socket.sent[-1] == {"type": "websocket.close", "code": 1012, "reason": "restarting"}


async def test_a_removed_connection_is_not_closed_by_close_all(connections):
    registry = ConnectionRegistry()
    kept, kept_socket, kept_loop = await connections("usr_a")
    gone, gone_socket, _ = await connections("usr_a")
    registry.add(kept)
    registry.add(gone)
    registry.remove(gone)
    registry.close_all()
    await asyncio.wait_for(kept_loop, 5)
    await asyncio.sleep(0.01)  # time enough for the other socket's loop to act on a close, were one queued
    assert kept_socket.sent[-1]["type"] == "websocket.close"
    assert [m["type"] for m in gone_socket.sent] == ["websocket.accept"]
