"""The WebSocket route (/ws and /api/v1/websocket): authenticate, accept, read frames, clean up."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect

from spendpilot.auth.permissions import allowed
from spendpilot.auth.tokens import TokenError
from spendpilot.bus.base import usage_topic, user_topic
from spendpilot.errors import AppError, error_body
from spendpilot.logs import get_logger
from spendpilot.realtime.connection import RESUME_GRACE_S, Connection
from spendpilot.realtime.handshake import PROTOCOL, read_handshake
from spendpilot.realtime.protocol import (
    FRAME_ACTIONS,
    ClientFrame,
    FrameError,
    after_seq_of,
    edit_of,
    message_content,
    parse_frame,
    regenerate_of,
    run_id_of,
)
from spendpilot.realtime.registry import ConnectionRegistry
from spendpilot.runs.events import encode
from spendpilot.runs.service import Accepted
from spendpilot.services import Services

log = get_logger(__name__)
router = APIRouter()
# Frames that read nothing of the org: a keep-alive, and `auth`, which authenticates on its own.
UNCHECKED_FRAMES = frozenset({"ping", "auth"})


async def _deny(websocket: WebSocket, status: int, code: str, message: str) -> None:
    """Refuse the upgrade with a plain HTTP response: no socket is ever opened."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse(error_body(code, message), status))
    else:
        await websocket.close(code=1008)  # servers without the extension answer 403


@router.websocket("/ws")
@router.websocket("/api/v1/websocket")
async def websocket_endpoint(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    handshake = read_handshake(dict(websocket.headers), list(websocket.scope.get("subprotocols", [])))
    if handshake.problem:
        return await _deny(websocket, 403, "unauthorized", handshake.problem)
    try:
        principal = await services.auth.authenticate(handshake.token)
    except TokenError as exc:
        return await _deny(websocket, 403, "unauthorized", str(exc))
    registry: ConnectionRegistry = websocket.app.state.connections
    if registry.count(principal.user_id) >= services.settings.max_sockets_per_user:
        return await _deny(websocket, 429, "too_many_connections", "too many open sockets for this account")

    await websocket.accept(subprotocol=handshake.subprotocol)
    conn = Connection(websocket, principal, services.event_log)
    registry.add(conn)
    unsubscribe = services.bus.subscribe_user(principal.user_id, conn.on_event)
    # Connection frames about the user's runs, such as a run's place in the queue for a run slot.
    unsubscribe_queued = services.bus.subscribe_notice(user_topic(principal.user_id), conn.send)
    # The org's live usage notices (usage_updated), for callers who may read usage.
    unsubscribe_usage = (services.bus.subscribe_notice(usage_topic(principal.org_id), conn.send)
                         if allowed(principal.role, "usage.read") else None)
    conn.send(encode("connection_ready", {
        "connection_id": conn.id, "user_id": principal.user_id, "protocol": PROTOCOL,
        "heartbeat_s": services.settings.heartbeat_s, "resume": True}))
    helpers: list[asyncio.Task | asyncio.TimerHandle] = [
        asyncio.create_task(_heartbeat(conn, services.settings.heartbeat_s)),
        asyncio.create_task(_expire(conn)),
        asyncio.get_running_loop().call_later(RESUME_GRACE_S, conn.end_grace),
    ]
    sender = asyncio.create_task(conn.send_loop())
    receiver = asyncio.create_task(_receive_loop(conn, services))
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        unsubscribe()
        unsubscribe_queued()
        if unsubscribe_usage is not None:
            unsubscribe_usage()
        registry.remove(conn)
        for task in (sender, receiver, *helpers):
            task.cancel()
        for task in (sender, receiver):
            if task.done() and not task.cancelled() and task.exception() is not None:
                failure = task.exception()
                if not isinstance(failure, (WebSocketDisconnect, RuntimeError, OSError)):
                    log.error("socket_task_failed", connection_id=conn.id, error=failure)


async def _heartbeat(conn: Connection, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        conn.send(encode("heartbeat", {}))


async def _expire(conn: Connection) -> None:
    # Re-read the expiry each time: an `auth` frame may have extended it.
    while (remaining := conn.principal.exp - time.time()) > 0:
        await asyncio.sleep(min(remaining, 60))
    conn.close_soon(1008, "token expired")


async def _receive_loop(conn: Connection, services: Services) -> None:
    while True:
        message = await conn.websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            conn.error("invalid_json", "frames must be JSON text")
            continue
        try:
            await _handle(conn, services, text)
        except FrameError as exc:
            conn.error(exc.code, exc.message, exc.client_id)
        except Exception as exc:
            # A server bug must not cost the user the socket.
            log.error("frame_handler_failed", connection_id=conn.id, error=exc)
            conn.error("internal_error", "the server could not handle this frame")


async def _handle(conn: Connection, services: Services, text: str) -> None:
    frame = parse_frame(text, services.settings.max_frame_bytes)
    try:
        await _dispatch(conn, services, frame)
    except AppError as exc:
        raise FrameError(exc.code, exc.message, frame.client_id) from exc


async def _dispatch(conn: Connection, services: Services, frame: ClientFrame) -> None:
    if not (await services.ws_rate.hit(conn.principal.user_id)).allowed:
        raise FrameError("rate_limited", "too many messages; slow down", frame.client_id)
    action = FRAME_ACTIONS[frame.type]
    if frame.type not in UNCHECKED_FRAMES:
        # The role and the sign-in as they are now: a removal or a role change applies to the
        # next frame even when the bus could not deliver it.
        try:
            conn.principal = await services.auth.recheck(conn.principal)
        except TokenError as exc:
            conn.revoke(str(exc))
            return
    if not allowed(conn.principal.role, action):
        raise FrameError("forbidden", f"your role ({conn.principal.role}) may not do this ({action})", frame.client_id)
    if frame.type == "user_message":
        await _user_message(conn, services, frame)
    elif frame.type == "regenerate":
        accepted = await services.runs.regenerate(conn.principal, regenerate_of(frame), frame.client_id)
        await _started(conn, services, frame, accepted, regenerates=accepted.regenerates)
    elif frame.type == "edit_message":
        thread_id, message_id, content = edit_of(frame)
        accepted = await services.runs.edit(conn.principal, thread_id, message_id, content, frame.client_id)
        await _started(conn, services, frame, accepted, message_id=accepted.message_id)
    elif frame.type == "ping":
        nonce = frame.data.get("nonce")
        conn.send(encode("pong", {"nonce": nonce}))
    elif frame.type == "resume":
        run_id, after = run_id_of(frame), after_seq_of(frame)
        await services.runs.owned_run(conn.principal, run_id)
        conn.resume(run_id, after)
    elif frame.type == "cancel":
        await services.runs.cancel(conn.principal, run_id_of(frame))
    elif frame.type == "auth":
        await _reauthenticate(conn, services, frame)


async def _user_message(conn: Connection, services: Services, frame: ClientFrame) -> None:
    content, thread_id = message_content(frame)
    accepted = await services.runs.accept(conn.principal, content, thread_id, frame.client_id)
    await _started(conn, services, frame, accepted)


async def _started(conn: Connection, services: Services, frame: ClientFrame, accepted: Accepted,
                   **extra: str | None) -> None:
    # The ack is queued before the run starts, so it precedes every event of the run.
    conn.send_ack(encode("ack", {"client_id": frame.client_id, "thread_id": accepted.thread_id,
                                 "run_id": accepted.run_id, **extra}), accepted.run_id)
    await services.runs.start(accepted)


async def _reauthenticate(conn: Connection, services: Services, frame: ClientFrame) -> None:
    """`auth {access_token}` extends a socket's life with a refreshed token of the same user."""
    token = frame.data.get("access_token")
    try:
        principal = await services.auth.authenticate(token if isinstance(token, str) else None)
    except TokenError as exc:
        raise FrameError("invalid_token", str(exc), frame.client_id) from exc
    if principal.user_id != conn.principal.user_id:
        raise FrameError("invalid_token", "token belongs to another account", frame.client_id)
    conn.principal = principal
    conn.send(encode("auth_ok", {"expires_at": principal.exp}))
