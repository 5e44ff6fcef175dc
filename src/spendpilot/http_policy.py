"""HTTP policy on every response: security headers, and a cap on request body size."""

from __future__ import annotations

import orjson

from spendpilot.config import Settings
from spendpilot.errors import error_body

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
    """Pure ASGI (no BaseHTTPMiddleware) so WebSocket upgrades and streams pass untouched."""

    def __init__(self, app, settings: Settings):
        self.app = app
        self.max_body = settings.max_request_bytes
        self.headers = security_headers(settings)
        self._names = {name for name, _ in self.headers}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            if not declared.isdigit():
                return await _reply(send, 400, "bad_request", "invalid Content-Length", self.headers)
            drained = int(declared) <= self.max_body + DRAIN_BYTES and await _drain(receive, DRAIN_BYTES * 2)
            return await _reply(send, 413, "too_large", f"request body exceeds {self.max_body} bytes", self.headers,
                                close=not drained)

        started = rejected = False
        received = 0

        async def send_with_headers(message):
            nonlocal started
            if rejected:
                return  # the 413 already went out; whatever the app says now is dropped
            if message["type"] == "http.response.start":
                started = True
                own = [(k, v) for k, v in message.get("headers", []) if k.lower() not in self._names]
                message["headers"] = own + self.headers
            await send(message)

        async def counting_receive():
            # A body without Content-Length (chunked) is counted as it arrives.
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
                                     self.headers, close=not drained)
                    return {"type": "http.disconnect"}
            return message

        try:
            await self.app(scope, counting_receive, send_with_headers)
        except Exception:
            if not rejected:
                raise
            # The app failed because its body was cut off; the client already has its 413.


async def _drain(receive, limit: int) -> bool:
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


async def _reply(send, status: int, code: str, message: str, extra: list | None = None, close: bool = False) -> None:
    body = orjson.dumps(error_body(code, message))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(extra or [])]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
