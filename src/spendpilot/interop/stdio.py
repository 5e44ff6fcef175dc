"""`spendpilot mcp`: an MCP server over stdio for desktop clients, speaking for a running Spendpilot.

Claude Desktop, Cursor and most IDE assistants start MCP servers as commands. This one holds no
data and no tool of its own: it lists and calls the tools of SPENDPILOT_URL's /mcp (the official
SDK's client over Streamable HTTP) with SPENDPILOT_API_KEY as the bearer credential, so the desktop
sees exactly the tools, schemas and figures the server has, and the key never leaves the machine
except to that server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import mcp_types as types
import orjson
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

from spendpilot import __version__
from spendpilot.config import McpClientSettings
from spendpilot.interop.callers import MCP_PATH
from spendpilot.interop.mcp_server import INSTRUCTIONS, SERVER_NAME


class Refused(Exception):
    """The Spendpilot server could not be reached, or refused the request; the message says which and why."""


class RemoteSpendpilot:
    """The /mcp endpoint of one Spendpilot, opened for each request (it keeps no session between them)."""

    def __init__(self, url: str, api_key: str, timeout_s: float):
        self.base = url.rstrip("/")
        self.endpoint = self.base + MCP_PATH
        self.api_key = api_key
        self.timeout_s = timeout_s

    @asynccontextmanager
    async def client(self) -> AsyncIterator[Client]:
        refusal: list[str] = []

        async def note_refusal(response: httpx2.Response) -> None:
            # The SDK reports any HTTP error as "Server returned an error response"; keep what the server said.
            if response.status_code >= 400:
                await response.aread()
                refusal.append(_explain(self.base, response))

        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {self.api_key}"},
                                  timeout=httpx2.Timeout(self.timeout_s, connect=10.0),
                                  event_hooks={"response": [note_refusal]})
        try:
            async with http, Client(streamable_http_client(self.endpoint, http_client=http)) as client:
                yield client
        except Exception as exc:
            if refusal:
                raise Refused(refusal[0]) from exc
            cause = _leaf(exc)
            if isinstance(cause, MCPError):
                raise cause from None  # the server's own answer (an unknown tool, say): passed on as it is
            raise Refused(_unreachable(self.base, cause)) from exc

    async def list_tools(self) -> list[types.Tool]:
        async with self.client() as client:
            return list((await client.list_tools()).tools)

    async def call_tool(self, name: str, arguments: dict[str, Any] | None) -> types.CallToolResult:
        async with self.client() as client:
            return await client.call_tool(name, arguments or {})


def _explain(base: str, response: httpx2.Response) -> str:
    try:
        message = orjson.loads(response.content)["error"]["message"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        message = response.text[:200]
    hint = {401: " Set SPENDPILOT_API_KEY to an org API key with the read scope.",
            403: " The key needs the read scope."}.get(response.status_code, "")
    return f"Spendpilot at {base} answered {response.status_code}: {message}.{hint}"


def _leaf(exc: BaseException) -> BaseException:
    """The first exception inside the task groups the SDK wraps errors in."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _unreachable(base: str, exc: BaseException) -> str:
    return f"Spendpilot at {base} could not be reached ({type(exc).__name__}: {exc}); is SPENDPILOT_URL right?"


def build_bridge(remote: RemoteSpendpilot) -> Server:
    async def list_tools(_ctx: Any, _params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        try:
            return types.ListToolsResult(tools=await remote.list_tools())
        except Refused as exc:
            raise MCPError(types.INTERNAL_ERROR, str(exc)) from exc

    async def call_tool(_ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        try:
            return await remote.call_tool(params.name, params.arguments)
        except Refused as exc:
            return types.CallToolResult(content=[types.TextContent(text=str(exc))], is_error=True)

    return Server(SERVER_NAME, version=__version__, title="Spendpilot", instructions=INSTRUCTIONS,
                  on_list_tools=list_tools, on_call_tool=call_tool)


def serve_stdio(settings: McpClientSettings) -> None:
    """Serve until the client closes stdin."""
    if settings.api_key is None or not settings.api_key.get_secret_value().strip():
        raise ValueError("SPENDPILOT_API_KEY is not set: create an org API key with the read scope "
                         "(spendpilot keys create --name mcp --scope read, or POST /api/keys) and set it")
    remote = RemoteSpendpilot(settings.url, settings.api_key.get_secret_value().strip(), settings.mcp_timeout_s)
    server = build_bridge(remote)

    async def run() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(run)
