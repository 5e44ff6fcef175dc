"""HTTP and WebSocket plumbing of the verifier: accounts, sockets and frame reading."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from spendpilot.realtime.handshake import PROTOCOL, jwt_subprotocol
from spendpilot.verify.protocol import envelope_problems, ws_url
from spendpilot.verify.results import CheckFailed, Silent

MAX_FRAME = 16 * 1024 * 1024


@dataclass
class Account:
    """A signed-in user of the deployment under test."""

    email: str | None
    access_token: str
    refresh_token: str | None = None
    user_id: str | None = None
    password: str | None = None


def fresh_email(prefix: str = "verify") -> str:
    """An address no one has registered yet."""
    return f"{prefix}-{secrets.token_hex(6)}@example.com"


def fresh_password() -> str:
    """A password strong enough for any sane policy."""
    return "Sp-" + secrets.token_urlsafe(18)


def _detail(response: httpx.Response) -> str:
    text = response.text[:200].replace("\n", " ")
    return f"HTTP {response.status_code} {text}"


class Api:
    """The REST side of one deployment."""

    def __init__(self, base: str, client: httpx.AsyncClient):
        self.base = base.rstrip("/")
        self.client = client

    async def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return await self.client.request(method, self.base + path, headers=headers, **kwargs)

    async def json(self, method: str, path: str, token: str | None = None, expect: int = 200, **kwargs: Any) -> Any:
        """Call and decode JSON, failing the check on any other status."""
        response = await self.call(method, path, token, **kwargs)
        if response.status_code != expect:
            raise CheckFailed(f"{method} {path}: expected {expect}, got {_detail(response)}")
        try:
            return response.json()
        except ValueError as exc:
            raise CheckFailed(f"{method} {path}: body is not JSON") from exc

    async def _account(self, path: str, body: dict, expect: int) -> Account:
        data = await self.json("POST", path, json=body, expect=expect)
        problems = [k for k in ("user", "access_token", "refresh_token", "token_type", "expires_in") if k not in data]
        if problems:
            raise CheckFailed(f"POST {path}: response lacks {', '.join(problems)}")
        if str(data["token_type"]).lower() != "bearer":
            raise CheckFailed(f"POST {path}: token_type is {data['token_type']!r}")
        user = data["user"] if isinstance(data["user"], dict) else {}
        return Account(
            email=body["email"],
            password=body["password"],
            access_token=data["access_token"],
            refresh_token=data["refresh_token"],
            user_id=user.get("id"),
        )

    async def login(self, email: str, password: str) -> Account:
        return await self._account("/auth/login", {"email": email, "password": password}, 200)

    async def register(self, email: str | None = None, password: str | None = None) -> Account:
        body = {"email": email or fresh_email(), "password": password or fresh_password(), "name": "Spendpilot verify"}
        return await self._account("/auth/register", body, 201)


class Conn:
    """One open socket and what it received."""

    def __init__(self, ws: ClientConnection, offered: list[str]):
        self.ws = ws
        self.offered = offered
        self.frames: list[dict] = []
        self.problems: list[str] = []
        self.close_code: int | None = None

    @property
    def subprotocol(self) -> str | None:
        return self.ws.subprotocol

    async def send(self, message: dict | str) -> None:
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    async def recv(self, timeout: float) -> dict | None:
        """The next frame other than a heartbeat, or None once `timeout` seconds pass."""
        deadline = time.perf_counter() + max(timeout, 0.0)
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return None
            try:
                async with asyncio.timeout(remaining):
                    raw = await self.ws.recv()
            except TimeoutError:
                return None
            except ConnectionClosed as exc:
                self.close_code = exc.rcvd.code if exc.rcvd else 1006
                raise
            if isinstance(raw, bytes):
                self.problems.append("binary frame received (frames are JSON text)")
                continue
            try:
                frame = json.loads(raw)
            except ValueError:
                self.problems.append(f"frame is not JSON: {raw[:80]!r}")
                continue
            self.problems += envelope_problems(frame)
            if not isinstance(frame, dict):
                continue
            self.frames.append(frame)
            if frame.get("type") != "heartbeat":
                return frame

    async def expect(self, kind: str, timeout: float) -> dict:
        """Wait for the next frame and require it to be of `kind`."""
        try:
            frame = await self.recv(timeout)
        except ConnectionClosed as exc:
            raise CheckFailed(f"socket closed ({self.close_code}) while waiting for {kind}") from exc
        if frame is None:
            if kind == "connection_ready":  # every socket starts with it: no socket will work
                raise Silent("socket", f"no {kind} within {timeout:g}s of the upgrade")
            raise CheckFailed(f"no {kind} within {timeout:g}s")
        if frame.get("type") != kind:
            raise CheckFailed(f"expected {kind}, got {str(frame)[:160]}")
        return frame

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake."""
        self.ws.transport.abort()

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.ws.close(), 3)
        except Exception:  # noqa: BLE001 - closing is best effort
            self.abort()


async def open_socket(
    base: str,
    token: str | None,
    *,
    carrier: str = "subprotocol",
    protocols: tuple[str, ...] = (PROTOCOL,),
    path: str = "/ws",
    timeout: float = 10.0,
    extra_headers: dict[str, str] | None = None,
) -> Conn:
    """Open a socket carrying `token` in the Authorization header or as a `jwt.` subprotocol."""
    headers = dict(extra_headers or {})
    offered = list(protocols)
    if token is not None and carrier == "bearer":
        headers["Authorization"] = f"Bearer {token}"
    elif token is not None and carrier == "subprotocol":
        offered.append(jwt_subprotocol(token))
    try:
        ws = await connect(
            ws_url(base, path),
            additional_headers=headers or None,
            subprotocols=[Subprotocol(p) for p in offered] or None,
            open_timeout=timeout,
            max_size=MAX_FRAME,
            ping_interval=None,
            close_timeout=2,
            user_agent_header="spendpilot-verify",
        )
    except TimeoutError as exc:
        raise Silent("socket", f"no answer to the WebSocket upgrade of {path} within {timeout:g}s") from exc
    return Conn(ws, offered)


async def ready_socket(base: str, token: str, timeout: float) -> tuple[Conn, dict]:
    """Open the browser-style socket (spendpilot.v1 + jwt entry) and wait for connection_ready."""
    conn = await open_socket(base, token, timeout=timeout)
    try:
        ready = await conn.expect("connection_ready", timeout)
    except BaseException:
        await conn.close()
        raise
    return conn, ready
