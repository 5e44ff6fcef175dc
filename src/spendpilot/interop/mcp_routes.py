"""MCP over HTTP: the /mcp endpoint, its protected-resource metadata, and the discovery routes for clients.

/mcp is an ordinary route (so it declares its action like every other) that authenticates the caller
and then hands the request, untouched, to the SDK's Streamable HTTP transport.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from mcp.shared.auth import ProtectedResourceMetadata
from starlette.types import ASGIApp, Receive, Scope, Send

from spendpilot.api.deps import PUBLIC_ROUTE
from spendpilot.interop.callers import MCP_PATH, RESOURCE_METADATA_PATH, McpCaller, mcp_caller, public_base
from spendpilot.interop.tools import interop_tools

router = APIRouter(tags=["mcp"])

KEY_PLACEHOLDER = "sp_... (an API key with the read scope: spendpilot keys create --name mcp --scope read)"


class _Handover(Response):
    """Lets an ASGI app answer the request the route was called with (its body not yet read)."""

    def __init__(self, app: ASGIApp):
        super().__init__()
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


# POST only: the transport is stateless, so there is no session to DELETE and no server-initiated stream
# to open with GET; both answer 405, which the MCP transport spec provides for.
@router.post(MCP_PATH, include_in_schema=False)
async def mcp_endpoint(request: Request, caller: Annotated[McpCaller, Depends(mcp_caller)]) -> Response:
    request.scope.setdefault("state", {})["mcp_caller"] = caller
    return _Handover(request.app.state.mcp)


def _metadata(request: Request, resource: str) -> dict:
    base = public_base(request)
    document = ProtectedResourceMetadata.model_validate({
        "resource": resource, "authorization_servers": [base], "scopes_supported": ["read"],
        "bearer_methods_supported": ["header"], "resource_name": "Spendpilot",
    })
    return document.model_dump(mode="json", exclude_none=True)


@router.get(RESOURCE_METADATA_PATH, dependencies=[PUBLIC_ROUTE])
async def protected_resource(request: Request):
    """RFC 9728 for the whole API: bearer access tokens (from /auth/login) or org API keys."""
    return _metadata(request, public_base(request))


@router.get(RESOURCE_METADATA_PATH + MCP_PATH, dependencies=[PUBLIC_ROUTE])
async def protected_mcp_resource(request: Request):
    """RFC 9728 for /mcp itself, where an MCP client looks first."""
    return _metadata(request, public_base(request) + MCP_PATH)


@router.get("/api/mcp/servers", dependencies=[PUBLIC_ROUTE])
async def mcp_servers(request: Request):
    """The MCP servers this deployment offers, with their tools."""
    base = public_base(request)
    tools = [{"name": tool.name, "title": tool.title, "description": tool.description}
             for tool in interop_tools().values()]
    return [{"name": "spendpilot", "url": base + MCP_PATH, "transport": "streamable-http", "tools": tools,
             "auth": {"type": "bearer", "resource_metadata": base + RESOURCE_METADATA_PATH}}]


@router.get("/api/mcp/config", dependencies=[PUBLIC_ROUTE])
async def mcp_config(request: Request,
                     transport: Literal["stdio", "http"] = Query(default="stdio",
                                                                 description="stdio: Claude Desktop, Cursor and any "
                                                                 "client that starts a command; http: clients "
                                                                 "that speak Streamable HTTP")):
    """A client configuration to paste as it is (`mcpServers` in claude_desktop_config.json or .cursor/mcp.json)."""
    base = public_base(request)
    if transport == "http":
        server = {"url": base + MCP_PATH, "headers": {"Authorization": f"Bearer {KEY_PLACEHOLDER}"}}
    else:
        server = {"command": "spendpilot", "args": ["mcp"],
                  "env": {"SPENDPILOT_URL": base, "SPENDPILOT_API_KEY": KEY_PLACEHOLDER}}
    return {"mcpServers": {"spendpilot": server}}

