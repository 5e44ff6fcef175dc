"""HTTP policy as two pure ASGI middlewares: security headers on every response, and a request body cap.

Pure ASGI (no BaseHTTPMiddleware) so WebSocket upgrades and streamed responses pass untouched.
"""

from __future__ import annotations

from typing import Any

import orjson

from spendpilot.config import Settings
from spendpilot.errors import error_body

Scope = dict[str, Any]
Message = dict[str, Any]

# A refused body is still read (and dropped) up to this much, so that the client, still sending,
# reads the 413 instead of a connection reset; beyond it the connection is simply closed.
DRAIN_BYTES = 1024 * 1024

# The web app is plain ES modules and a stylesheet from this origin; it talks to this origin
# only (REST and its WebSocket), and is never framed.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    headers = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
               (b"referrer-policy", b"no-referrer"), (b"content-security-policy", CSP.encode()),
               (b"cross-origin-opener-policy", b"same-origin"),
               (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()")]
    if settings.behind_tls:
        headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return headers


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response, replacing any the app set itself."""

    def __init__(self, app: Any, settings: Settings):
        self.app = app
        self.headers = security_headers(settings)
        self._names = {name for name, _ in self.headers}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                own = [(k, v) for k, v in message.get("headers", []) if k.lower() not in self._names]
                message["headers"] = own + self.headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimitMiddleware:
    """Answers 413 for a body over `max_request_bytes`, declared (Content-Length) or streamed (chunked)."""

    def __init__(self, app: Any, settings: Settings):
        self.app = app
        self.max_body = settings.max_request_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            if not declared.isdigit():
                return await _reply(send, 400, "bad_request", "invalid Content-Length")
            drained = int(declared) <= self.max_body + DRAIN_BYTES and await _drain(receive, DRAIN_BYTES * 2)
            return await _reply(send, 413, "too_large", f"request body exceeds {self.max_body} bytes",
                                close=not drained)

        started = rejected = False
        received = 0

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return  # the 413 already went out; whatever the app says now is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        async def counting_receive() -> Message:
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    rejected = True
                    if not started:
                        drained = not message.get("more_body", False) or await _drain(receive, DRAIN_BYTES)
                        await _reply(send, 413, "too_large", f"request body exceeds {self.max_body} bytes",
                                     close=not drained)
                    return {"type": "http.disconnect"}
            return message

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not rejected:
                raise
            # The app failed because its body was cut off; the client already has its 413.


async def _drain(receive: Any, limit: int) -> bool:
    """Read and drop the rest of a request body; False if it is longer than `limit` or the client left."""
    seen = 0
    while seen <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return False
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return True
    return False


async def _reply(send: Any, status: int, code: str, message: str, close: bool = False) -> None:
    body = orjson.dumps(error_body(code, message))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
